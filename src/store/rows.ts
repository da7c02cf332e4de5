/**
 * Row shapes shared by the SQL backends and their mapping to store records. Column names are the
 * same in both schemas; SQLite stores `deleted` as 0/1, PostgreSQL as a boolean.
 */
import type { TextCodec } from './text-codec.js';
import type { RoomRecord, StoredMessage } from './store.js';

export interface RoomRow {
  id: number;
  name: string;
  owner: string;
  visibility: 'public' | 'private';
  created_at: number;
}

export interface MessageRow {
  id: string;
  seq: number;
  user_id: string;
  user_name: string;
  body: Buffer;
  key_id: string | null;
  ts: number;
  reply_to: string | null;
  deleted: number | boolean;
}

export function toRoom(row: RoomRow): RoomRecord {
  return { id: row.id, name: row.name, owner: row.owner, visibility: row.visibility, createdAt: row.created_at };
}

/** A stored message; text is decrypted with the row's message id as associated data. */
export function toMessage(row: MessageRow, roomName: string, codec: TextCodec): StoredMessage {
  const deleted = row.deleted === 1 || row.deleted === true;
  return {
    id: row.id,
    seq: row.seq,
    roomName,
    userId: row.user_id,
    userName: row.user_name,
    text: deleted ? '' : codec.decode(row.body, row.key_id, row.id),
    ts: row.ts,
    replyTo: row.reply_to ?? undefined,
    deleted,
  };
}
