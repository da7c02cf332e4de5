/** Room lifecycle: create, join (with resume), leave, invite, kick, delete, list. */
import type { Bus } from '../bus/bus.js';
import type { ClientFrameOf } from '../protocol/frames.js';
import type { Store } from '../store/store.js';
import { mayKickTarget, mayRoom, maySeeRoom } from './policy.js';
import type { MembershipState, RoomRecord } from '../store/store.js';
import { ack, refuse, type Reply } from './reply.js';
import type { Session } from './session.js';
import { wireMessage, wireRoom } from './wire.js';

export const PAGE_LIMIT = 100;

/** The one answer for a room that does not exist, or that the actor may not know exists. */
export const NO_SUCH_ROOM: Reply = Object.freeze(refuse('NOT_FOUND', 'No such room.'));

/** `room.list` page size when the frame names none. */
export const LIST_PAGE = 100;

export interface RoomsOptions {
  maxRoomsPerConnection: number;
  /** Rooms one user may own (`limits.maxRoomsPerUser`); admins are not held to it. */
  maxRoomsPerUser: number;
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

  /** A private room the actor may not see: recorded as a denial, answered exactly as a missing room. */
  private hidden(session: Session, action: string, room: string): Reply {
    this.options.onForbidden?.(session, action, room);
    return NO_SUCH_ROOM;
  }

  /** The room, if it exists and the actor may know it does, with the actor's membership state. */
  private async lookup(session: Session, name: string): Promise<{ room: RoomRecord; state: MembershipState | undefined } | undefined> {
    const room = await this.store.getRoom(name);
    if (!room) return undefined;
    const state = await this.store.getMembership(room.id, session.user.id);
    return { room, state };
  }

  /** Owner or admin actions: outsiders of a private room get NOT_FOUND, members FORBIDDEN. */
  private async managed(session: Session, action: 'invite' | 'kick' | 'delete', name: string): Promise<{ ok: true; room: RoomRecord } | { ok: false; reply: Reply }> {
    const found = await this.lookup(session, name);
    if (!found) return { ok: false, reply: NO_SUCH_ROOM };
    if (mayRoom(session.user, action, { room: found.room, state: undefined })) return { ok: true, room: found.room };
    const frame = `room.${action}`;
    if (!maySeeRoom(session.user, found)) return { ok: false, reply: this.hidden(session, frame, found.room.name) };
    const who = action === 'delete' ? 'Only the owner or an admin may delete a room.' : `Only the owner or an admin may ${action}.`;
    return { ok: false, reply: this.forbidden(session, frame, found.room.name, who) };
  }

  async create(session: Session, frame: ClientFrameOf<'room.create'>): Promise<Reply> {
    const record = { name: frame.room, owner: session.user.id, visibility: frame.visibility, createdAt: Date.now() };
    // One user cannot fill everyone's room list: the number of rooms one may own is bounded.
    const room = session.user.admin ? ((await this.store.createRoom(record)) ?? 'taken') : await this.store.createOwnedRoom(record, this.options.maxRoomsPerUser);
    if (room === 'taken') return refuse('CONFLICT', 'A room with that name exists.');
    if (room === 'limit') return this.forbidden(session, 'room.create', frame.room, `You own ${this.options.maxRoomsPerUser} rooms, the most allowed; delete one first.`);
    return ack('room.create', { room: wireRoom(room) });
  }

  async join(session: Session, frame: ClientFrameOf<'room.join'>): Promise<Reply> {
    const found = await this.lookup(session, frame.room);
    if (!found) return NO_SUCH_ROOM;
    const { room, state } = found;
    if (!maySeeRoom(session.user, found)) return this.hidden(session, 'room.join', room.name);
    if (!mayRoom(session.user, 'join', { room, state })) return this.forbidden(session, 'room.join', room.name, 'You were removed from this room.');
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
    const found = await this.lookup(session, frame.room);
    if (!found) return NO_SUCH_ROOM;
    const { room, state } = found;
    if (state !== 'member' && !session.rooms.has(room.name)) return maySeeRoom(session.user, found) ? refuse('NOT_A_MEMBER', 'You are not in this room.') : NO_SUCH_ROOM;
    if (state === 'member') await this.store.removeMembership(room.id, session.user.id);
    // Every connection of this user stops following the room.
    this.bus.publish({ target: { kind: 'user', user: session.user.id }, frame: '', effect: { leave: room.name } });
    session.forgetMembership(room.name);
    session.leave(room.name);
    return ack('room.leave', { room: room.name });
  }

  async invite(session: Session, frame: ClientFrameOf<'room.invite'>): Promise<Reply> {
    const managed = await this.managed(session, 'invite', frame.room);
    if (!managed.ok) return managed.reply;
    const room = managed.room;
    const state = await this.store.getMembership(room.id, frame.user);
    if (state !== 'member') await this.store.setMembership(room.id, frame.user, 'invited');
    return ack('room.invite', { room: room.name, user: frame.user });
  }

  async kick(session: Session, frame: ClientFrameOf<'room.kick'>): Promise<Reply> {
    const managed = await this.managed(session, 'kick', frame.room);
    if (!managed.ok) return managed.reply;
    const room = managed.room;
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
    const managed = await this.managed(session, 'delete', frame.room);
    if (!managed.ok) return managed.reply;
    const room = managed.room;
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

  /** Public rooms and the caller's private ones, by name, a page at a time (`next` continues). */
  async list(session: Session, frame: ClientFrameOf<'room.list'>): Promise<Reply> {
    const limit = frame.limit ?? LIST_PAGE;
    const rooms = await this.store.listRoomsPage(session.user.id, { after: frame.after, filter: frame.filter?.toLowerCase(), limit: limit + 1 });
    const more = rooms.length > limit;
    if (more) rooms.length = limit;
    return ack('room.list', more ? { rooms: rooms.map(wireRoom), next: rooms[rooms.length - 1]!.name } : { rooms: rooms.map(wireRoom) });
  }
}
