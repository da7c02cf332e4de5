/**
 * Messages: send (durable before ack and delivery), history paging, edit, delete, announcements;
 * and the room's live signals that are never stored: typing and presence.
 */
import { newMessageId } from './message-id.js';
import type { Bus } from '../bus/bus.js';
import type { ClientFrameOf } from '../protocol/frames.js';
import { RoomGoneError } from '../store/errors.js';
import type { RoomRecord, Store, StoredMessage } from '../store/store.js';
import { mayBroadcast, mayDeleteMessage, mayEditMessage, mayRoom, maySeeRoom } from './policy.js';
import type { RoomPresence } from '../presence/room-presence.js';
import { ExpiringCache } from '../security/expiring-cache.js';
import { ack, ok, refuse, type Reply } from './reply.js';
import type { Session } from './session.js';
import { wireMessage } from './wire.js';
import { NO_SUCH_ROOM, PAGE_LIMIT } from './rooms.js';

export interface MessagesOptions {
  onForbidden?: (session: Session, action: string, room: string) => void;
  /** Who is online in a room (the `presence` frame). @default nobody */
  presence?: RoomPresence;
  /** One `chat.typing` per user and room is forwarded within this window (`presence.typingIntervalMs`). @default 2000 */
  typingIntervalMs?: number;
  /** Users and rooms whose typing window is remembered (oldest forgotten first). @default 100000 */
  maxTypingKeys?: number;
}

/** The answer to a frame without `id` that went through (or was dropped on purpose): nothing is sent. */
const SILENT: Reply = Object.freeze({ ok: true, body: {} }) as Reply;
const NO_SUCH_MESSAGE: Reply = Object.freeze(refuse('NOT_FOUND', 'No such message.'));

/** Who a message is by: a session's user, or the server API's author. */
export interface Author {
  readonly id: string;
  readonly name: string;
}

type Lookup = { ok: true; room: RoomRecord } | { ok: false; reply: Reply };

export class Messages {
  /** When each user and room last had a `chat.typing` forwarded. */
  private readonly typingWindow: ExpiringCache<string, number>;
  /**
   * Least time between two forwarded signals: the window less 10 %, so a client that sends exactly
   * once per window (the SDK does) is not dropped for its timer's jitter.
   */
  private readonly typingGapMs: number;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly options: MessagesOptions = {},
  ) {
    const interval = options.typingIntervalMs ?? 2000;
    this.typingWindow = new ExpiringCache({ ttlMs: interval, maxEntries: options.maxTypingKeys ?? 100_000 });
    this.typingGapMs = Math.floor(interval * 0.9);
  }

  /** Typing windows remembered (bounded by `maxTypingKeys`). */
  get typingKeys(): number {
    return this.typingWindow.size;
  }

  /** The room id for a member, from the store (the caller first looks in the session's rooms). */
  private async memberRoomId(session: Session, name: string): Promise<number | Reply> {
    const room = await this.store.getRoom(name);
    if (!room) return NO_SUCH_ROOM;
    const state = await this.store.getMembership(room.id, session.user.id);
    if (!mayRoom(session.user, 'send', { room, state })) return maySeeRoom(session.user, { room, state }) ? refuse('NOT_A_MEMBER', 'Join the room first.') : NO_SUCH_ROOM;
    session.rememberMembership(name, room.id);
    return room.id;
  }

  async send(session: Session, frame: ClientFrameOf<'chat.send'>): Promise<Reply> {
    // The common case, a room this connection joined, costs no store read and no extra await.
    const roomId = session.rooms.get(frame.room) ?? session.memberships.get(frame.room) ?? (await this.memberRoomId(session, frame.room));
    if (typeof roomId !== 'number') return roomId;
    const stored = await this.commit(roomId, frame, session.user, session);
    if ('ok' in stored) return stored;
    return ack('chat.send', { message: { id: stored.id, seq: stored.seq, ts: stored.ts } });
  }

  /**
   * The server API's publish (docs/protocol.md "Server API"): a message in any existing room, by
   * `author` (a backend's user or the system identity), stored and delivered exactly as a
   * `chat.send`. Answers with the whole message.
   */
  async post(author: Author, frame: ClientFrameOf<'chat.send'>): Promise<Reply> {
    const room = await this.store.getRoom(frame.room);
    if (!room) return NO_SUCH_ROOM;
    const stored = await this.commit(room.id, frame, author);
    if ('ok' in stored) return stored;
    return ok({ message: wireMessage(stored) });
  }

  /** Stores a message, then (and only then) delivers it: the one write path of `chat.send` and the server API. */
  private async commit(roomId: number, frame: ClientFrameOf<'chat.send'>, author: Author, session?: Session): Promise<StoredMessage | Reply> {
    if (frame.replyTo !== undefined) {
      const target = await this.store.getMessage(roomId, frame.replyTo);
      if (!target) return refuse('NOT_FOUND', 'The message replied to does not exist.');
    }
    let stored;
    try {
      const committed = this.store.appendMessage({
        id: newMessageId(),
        roomId,
        roomName: frame.room,
        userId: author.id,
        userName: author.name,
        text: frame.text,
        ts: Date.now(),
        replyTo: frame.replyTo,
      });
      // Queued in order: the connection's next frame may start while this one commits.
      session?.ordered();
      stored = await committed;
    } catch (error) {
      if (error instanceof RoomGoneError) return NO_SUCH_ROOM;
      throw error;
    }
    // Committed: now (and only now) deliver and acknowledge. Serialized once for every recipient.
    this.bus.publish({
      target: { kind: 'room', room: frame.room },
      type: 'chat.message',
      seq: stored.seq,
      frame: JSON.stringify({ type: 'chat.message', room: frame.room, message: wireMessage(stored) }),
    });
    return stored;
  }

  private async readableRoom(session: Session, name: string): Promise<Lookup> {
    const room = await this.store.getRoom(name);
    if (!room) return { ok: false, reply: NO_SUCH_ROOM };
    if (!session.rooms.has(name)) {
      const state = await this.store.getMembership(room.id, session.user.id);
      if (!mayRoom(session.user, 'read', { room, state }))
        return { ok: false, reply: maySeeRoom(session.user, { room, state }) ? refuse('NOT_A_MEMBER', 'Join the room first.') : NO_SUCH_ROOM };
    }
    return { ok: true, room };
  }

  async history(session: Session, frame: ClientFrameOf<'chat.history'>): Promise<Reply> {
    const found = await this.readableRoom(session, frame.room);
    if (!found.ok) return found.reply;
    return this.page(found.room, frame);
  }

  /** The server API's history: any existing room, paged as `chat.history`. */
  async roomHistory(query: Omit<ClientFrameOf<'chat.history'>, 'type' | 'id'>): Promise<Reply> {
    const room = await this.store.getRoom(query.room);
    return room ? this.page(room, query) : NO_SUCH_ROOM;
  }

  private async page(room: RoomRecord, query: Omit<ClientFrameOf<'chat.history'>, 'type' | 'id'>): Promise<Reply> {
    const page = await this.store.history(room.id, { before: query.before, after: query.after, limit: query.limit ?? PAGE_LIMIT });
    return ack('chat.history', { room: room.name, messages: page.messages.map(wireMessage), hasMore: page.hasMore });
  }

  async delete(session: Session, frame: ClientFrameOf<'chat.delete'>): Promise<Reply> {
    const room = await this.store.getRoom(frame.room);
    if (!room) return NO_SUCH_ROOM;
    if (room.visibility === 'private' && !session.rooms.has(room.name)) {
      const state = await this.store.getMembership(room.id, session.user.id);
      if (!maySeeRoom(session.user, { room, state })) return NO_SUCH_ROOM;
    }
    const message = await this.store.getMessage(room.id, frame.message);
    if (!message) return refuse('NOT_FOUND', 'No such message.');
    if (!mayDeleteMessage(session.user, room, message)) {
      this.options.onForbidden?.(session, 'chat.delete', room.name);
      return refuse('FORBIDDEN', 'Only the author, the room owner or an admin may delete a message.');
    }
    if (!message.deleted) {
      await this.store.deleteMessage(room.id, message.id);
      this.bus.publish({
        target: { kind: 'room', room: room.name },
        type: 'chat.deleted',
        frame: JSON.stringify({ type: 'chat.deleted', room: room.name, message: message.id }),
      });
    }
    return ack('chat.delete', { room: room.name, message: message.id });
  }

  /**
   * Replaces the text of one's own message (docs/protocol.md "`chat.edit`"). The text arrives
   * sanitized and spam-checked by the same guards as a send; a deleted message is NOT_FOUND.
   */
  async edit(session: Session, frame: ClientFrameOf<'chat.edit'>): Promise<Reply> {
    const found = await this.readableRoom(session, frame.room);
    if (!found.ok) return found.reply;
    const room = found.room;
    const message = await this.store.getMessage(room.id, frame.message);
    if (!message || message.deleted) return NO_SUCH_MESSAGE;
    if (!mayEditMessage(session.user, message)) {
      this.options.onForbidden?.(session, 'chat.edit', room.name);
      return refuse('FORBIDDEN', 'Only the author may edit a message.');
    }
    // Deleted meanwhile: the store edits only a live message.
    const edited = await this.store.editMessage(room.id, message.id, frame.text, Date.now());
    if (!edited) return NO_SUCH_MESSAGE;
    this.bus.publish({
      target: { kind: 'room', room: room.name },
      type: 'chat.edited',
      frame: JSON.stringify({ type: 'chat.edited', room: room.name, message: wireMessage(edited) }),
    });
    return ack('chat.edit', { room: room.name, message: { id: edited.id, seq: edited.seq, editedAt: edited.editedAt! } });
  }

  /**
   * "I am typing" (docs/protocol.md "`chat.typing`"): members only; one per user and room within
   * the window is forwarded, the rest dropped before any lookup; never stored; every connection
   * joined to the room gets it except the sender's own. No reply when it goes through or is dropped.
   */
  typing(session: Session, frame: ClientFrameOf<'chat.typing'>): Reply | Promise<Reply> {
    const key = `${session.user.id}\u0000${frame.room}`;
    const now = Date.now();
    const last = this.typingWindow.get(key);
    if (last !== undefined && now - last < this.typingGapMs) return SILENT;
    if (last === undefined) this.typingWindow.add(key, now);
    else this.typingWindow.set(key, now);
    const roomId = session.rooms.get(frame.room) ?? session.memberships.get(frame.room);
    if (roomId !== undefined) return this.typed(session, frame.room);
    return this.memberRoomId(session, frame.room).then((found) => (typeof found === 'number' ? this.typed(session, frame.room) : found));
  }

  private typed(session: Session, room: string): Reply {
    this.bus.publish({
      target: { kind: 'room', room },
      type: 'chat.typing',
      exceptUser: session.user.id,
      frame: JSON.stringify({ type: 'chat.typing', room, user: { id: session.user.id, name: session.user.name } }),
    });
    return SILENT;
  }

  /** Who is online in the room, across all nodes (docs/protocol.md "`presence`"); members only. */
  async presence(session: Session, frame: ClientFrameOf<'presence'>): Promise<Reply> {
    const found = await this.readableRoom(session, frame.room);
    if (!found.ok) return found.reply;
    const members = this.options.presence ? await this.options.presence.members(frame.room) : [];
    return ack('presence', { room: frame.room, members });
  }

  broadcast(session: Session, frame: ClientFrameOf<'admin.broadcast'>): Reply {
    if (!mayBroadcast(session.user)) {
      this.options.onForbidden?.(session, 'admin.broadcast', '');
      return refuse('FORBIDDEN', 'Only admins may broadcast.');
    }
    return ack('admin.broadcast', { ts: this.announce(frame.text, session.user.name) });
  }

  /** An `announcement` to every connection on every node (`admin.broadcast`, the server API); returns its `ts`. */
  announce(text: string, from: string): number {
    const ts = Date.now();
    this.bus.publish({ target: { kind: 'all' }, type: 'announcement', frame: JSON.stringify({ type: 'announcement', text, from, ts }) });
    return ts;
  }
}
