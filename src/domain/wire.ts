/** Conversions from stored records to the contract's wire shapes. */
import type { Message, Room } from '../protocol/frames.js';
import type { RoomRecord, StoredMessage } from '../store/store.js';

export function wireRoom(room: RoomRecord): Room {
  return { name: room.name, owner: room.owner, visibility: room.visibility, createdAt: room.createdAt };
}

export function wireMessage(m: StoredMessage): Message {
  if (m.deleted) return { id: m.id, seq: m.seq, room: m.roomName, deleted: true };
  if (m.unavailable) {
    const unavailable: Message = { id: m.id, seq: m.seq, room: m.roomName, user: { id: m.userId, name: m.userName }, ts: m.ts, unavailable: true };
    if (m.replyTo !== undefined) unavailable.replyTo = m.replyTo;
    if (m.editedAt !== undefined) unavailable.editedAt = m.editedAt;
    return unavailable;
  }
  const out: Message = { id: m.id, seq: m.seq, room: m.roomName, user: { id: m.userId, name: m.userName }, text: m.text, ts: m.ts };
  if (m.replyTo !== undefined) out.replyTo = m.replyTo;
  if (m.editedAt !== undefined) out.editedAt = m.editedAt;
  return out;
}
