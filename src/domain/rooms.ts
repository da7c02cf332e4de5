/** Room lifecycle: create, join (with resume), leave, invite, kick, delete, list. */
import type { Bus } from '../bus/bus.js';
import type { ClientFrameOf } from '../protocol/frames.js';
import type { Store } from '../store/store.js';
import { mayKickTarget, mayRoom } from './policy.js';
import { ack, refuse, type Reply } from './reply.js';
import type { Session } from './session.js';
import { wireMessage, wireRoom } from './wire.js';

export const PAGE_LIMIT = 100;

export interface RoomsOptions {
  maxRoomsPerConnection: number;
  onForbidden?: (session: Session, action: string, room: string) => void;
}

export class Rooms {
  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly options: RoomsOptions,
  ) {}

  private forbidden(session: Session, action: string, room: string, message?: string): Reply {
    this.options.onForbidden?.(session, action, room);
    return refuse('FORBIDDEN', message);
  }

  async create(session: Session, frame: ClientFrameOf<'room.create'>): Promise<Reply> {
    const room = await this.store.createRoom({ name: frame.room, owner: session.user.id, visibility: frame.visibility, createdAt: Date.now() });
    if (!room) return refuse('CONFLICT', 'A room with that name exists.');
    return ack('room.create', { room: wireRoom(room) });
  }

  async join(session: Session, frame: ClientFrameOf<'room.join'>): Promise<Reply> {
    const room = await this.store.getRoom(frame.room);
    if (!room) return refuse('NOT_FOUND', 'No such room.');
    const state = await this.store.getMembership(room.id, session.user.id);
    if (!mayRoom(session.user, 'join', { room, state })) return this.forbidden(session, 'room.join', room.name, 'This room is private.');
    if (!session.rooms.has(room.name) && session.rooms.size >= this.options.maxRoomsPerConnection) {
      return refuse('FORBIDDEN', 'Too many rooms joined on this connection.');
    }
    if (state !== 'member') await this.store.setMembership(room.id, session.user.id, 'member');
    // Subscribe before reading history so nothing committed in between is missed; the client
    // drops duplicates by message id.
    const following = session.join(room.name, room.id);
    if (following) await following;
    const page = await this.store.history(room.id, frame.since === undefined ? { limit: PAGE_LIMIT } : { after: frame.since, limit: PAGE_LIMIT });
    return ack('room.join', { room: wireRoom(room), history: page.messages.map(wireMessage), hasMore: page.hasMore });
  }

  async leave(session: Session, frame: ClientFrameOf<'room.leave'>): Promise<Reply> {
    const room = await this.store.getRoom(frame.room);
    if (!room) return refuse('NOT_FOUND', 'No such room.');
    const state = await this.store.getMembership(room.id, session.user.id);
    if (state !== 'member' && !session.rooms.has(room.name)) return refuse('NOT_A_MEMBER', 'You are not in this room.');
    if (state === 'member') await this.store.removeMembership(room.id, session.user.id);
    // Every connection of this user stops following the room.
    this.bus.publish({ target: { kind: 'user', user: session.user.id }, frame: '', effect: { leave: room.name } });
    session.memberships.delete(room.name);
    session.leave(room.name);
    return ack('room.leave', { room: room.name });
  }

  async invite(session: Session, frame: ClientFrameOf<'room.invite'>): Promise<Reply> {
    const room = await this.store.getRoom(frame.room);
    if (!room) return refuse('NOT_FOUND', 'No such room.');
    if (!mayRoom(session.user, 'invite', { room, state: undefined })) return this.forbidden(session, 'room.invite', room.name, 'Only the owner or an admin may invite.');
    const state = await this.store.getMembership(room.id, frame.user);
    if (state !== 'member') await this.store.setMembership(room.id, frame.user, 'invited');
    return ack('room.invite', { room: room.name, user: frame.user });
  }

  async kick(session: Session, frame: ClientFrameOf<'room.kick'>): Promise<Reply> {
    const room = await this.store.getRoom(frame.room);
    if (!room) return refuse('NOT_FOUND', 'No such room.');
    if (!mayRoom(session.user, 'kick', { room, state: undefined })) return this.forbidden(session, 'room.kick', room.name, 'Only the owner or an admin may kick.');
    if (!mayKickTarget(room, frame.user)) return this.forbidden(session, 'room.kick', room.name, 'The owner cannot be kicked.');
    await this.store.setMembership(room.id, frame.user, 'kicked');
    this.bus.publish({
      target: { kind: 'user', user: frame.user },
      type: 'room.removed',
      frame: JSON.stringify({ type: 'room.removed', room: room.name }),
      effect: { leave: room.name },
    });
    return ack('room.kick', { room: room.name, user: frame.user });
  }

  async delete(session: Session, frame: ClientFrameOf<'room.delete'>): Promise<Reply> {
    const room = await this.store.getRoom(frame.room);
    if (!room) return refuse('NOT_FOUND', 'No such room.');
    if (!mayRoom(session.user, 'delete', { room, state: undefined })) return this.forbidden(session, 'room.delete', room.name, 'Only the owner or an admin may delete a room.');
    await this.store.deleteRoom(room.id);
    this.bus.publish({
      target: { kind: 'room', room: room.name },
      type: 'room.deleted',
      frame: JSON.stringify({ type: 'room.deleted', room: room.name }),
      effect: { leave: room.name },
    });
    session.leave(room.name);
    return ack('room.delete', { room: room.name });
  }

  async list(session: Session): Promise<Reply> {
    const rooms = await this.store.listRooms(session.user.id);
    return ack('room.list', { rooms: rooms.map(wireRoom) });
  }
}
