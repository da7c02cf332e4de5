/**
 * One client connection, whatever carries it (raw WebSocket or Socket.IO): the domain's
 * Session port and the hub's Peer. It owns per-connection state (identity, joined rooms,
 * malformed-frame count, expiry timers) and the slow-consumer rule for outbound frames.
 */
import type { Identity } from '../auth/jwt.js';
import type { Principal, Session } from '../domain/session.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { ServerFrame } from '../protocol/frames.js';
import type { Hub, Peer } from '../fanout/hub.js';
import type { ConnectionSummary } from '../bus/bus.js';

/** What a transport provides to write to the client. */
export interface Outbound {
  send(data: string): void;
  close(code: number, reason: string): void;
  /** Bytes queued for the client but not yet written to the kernel. */
  bufferedBytes(): number;
  /** Stop / restart reading from the client (inbound backpressure). */
  pause(): void;
  resume(): void;
}

/**
 * A client frame waiting its turn: raw text (raw WebSocket), or a value a transport already
 * decoded (Socket.IO), with the frame type the transport named out of band and the callback that
 * takes this frame's one reply (a Socket.IO acknowledgement).
 */
export type Inbound = string | DecodedFrame;

export interface DecodedFrame {
  readonly value: unknown;
  /** The type the transport carried the frame under (the Socket.IO event name); must equal `value.type`. */
  readonly type?: string;
  /** Takes the `ack` or `error` reply of this frame instead of the connection. */
  readonly respond?: (frame: ServerFrame) => void;
}

export interface ConnectionHooks {
  /** Which transport carries the connection, as the admin console shows it. @default "websocket" */
  readonly transport?: string;
  /** Outbound buffer over the limit: the connection is closed 4409 by the caller of this hook. */
  onSlowConsumer(conn: Connection): void;
  onFrameOut(type: string): void;
}

/** Rooms of one connection listed in the admin console. */
const MAX_DESCRIBED_ROOMS = 20;

/** The longest delay a Node timer holds (2^31-1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

/** The rooms of a connection that follows none: shared, so an idle connection holds no Map. */
const NONE: ReadonlyMap<string, number> = new Map();
/** Bound on Session.memberships per connection. */
const MAX_REMEMBERED = 64;

/** One step of a deadline farther than a Node timer holds. */
function stepTowards(conn: Connection, deadline: number, fn: (conn: Connection) => void): void {
  conn.timer(deadline - Date.now(), fn);
}

let counter = 0;
const NODE_TAG = Math.random().toString(36).slice(2, 8);

export class Connection implements Session, Peer {
  readonly connectionId = `${NODE_TAG}-${(++counter).toString(36)}`;
  /** When the connection opened (ms). */
  readonly openedAt = Date.now();
  /** Created on the first join or membership found (most connections of a big room list join a few rooms; an idle one none). */
  private joined: Map<string, number> | undefined;
  private remembered: Map<string, number> | undefined;
  user!: Principal;
  identity: Identity | undefined;
  malformed = 0;
  closing = false;
  /** A frame of this connection is being handled; later ones wait in `inbox`. */
  busy = false;
  /** Lets the next frame start before the current one's reply (see Session.ordered). */
  releaseOrder: (() => void) | undefined;
  readonly inbox: Inbound[] = [];
  /** Admission's hold on this connection: told when it authenticates (it leaves the pending-auth budget), released when it goes. */
  ticket: { authenticated(): void; release(): void } | undefined;
  private paused = false;
  /** The connection's one timer (see `timer`). */
  private pending: NodeJS.Timeout | undefined;

  constructor(
    readonly ip: string,
    private readonly out: Outbound,
    private readonly hub: Hub,
    private readonly maxBufferedBytes: number,
    private readonly hooks: ConnectionHooks,
  ) {}

  get rooms(): ReadonlyMap<string, number> {
    return this.joined ?? NONE;
  }

  get memberships(): ReadonlyMap<string, number> {
    return this.remembered ?? NONE;
  }

  rememberMembership(room: string, roomId: number): void {
    const remembered = (this.remembered ??= new Map());
    if (remembered.size >= MAX_REMEMBERED) remembered.clear();
    remembered.set(room, roomId);
  }

  forgetMembership(room: string): void {
    this.remembered?.delete(room);
  }

  get authenticated(): boolean {
    return this.identity !== undefined;
  }

  get userId(): string | undefined {
    return this.identity?.id;
  }

  get userName(): string | undefined {
    return this.identity?.name;
  }

  get isAdmin(): boolean {
    return this.identity !== undefined && this.user.admin;
  }

  get jti(): string | undefined {
    return this.identity?.jti;
  }

  get sid(): string | undefined {
    return this.identity?.sid;
  }

  describe(): Omit<ConnectionSummary, 'node'> {
    const rooms: string[] = [];
    for (const room of this.rooms.keys()) if (rooms.push(room) >= MAX_DESCRIBED_ROOMS) break;
    return {
      id: this.connectionId,
      user: this.identity?.id,
      name: this.identity?.name,
      ip: this.ip,
      transport: this.hooks.transport ?? 'websocket',
      since: this.openedAt,
      rooms,
      admin: this.isAdmin,
    };
  }

  /** Becomes an authenticated session. */
  authenticate(identity: Identity): void {
    this.identity = identity;
    this.user = { id: identity.id, name: identity.name, roles: identity.roles, admin: identity.roles.includes('admin') };
    this.hub.authenticatedPeer(this);
    this.ticket?.authenticated();
  }

  /** Replaces the identity after `auth.refresh` (same `sub`, checked by the caller). */
  refreshIdentity(identity: Identity): void {
    this.identity = identity;
    // Name and roles follow the newest token (a demoted admin loses admin actions at refresh).
    this.user = { id: identity.id, name: identity.name, roles: identity.roles, admin: identity.roles.includes('admin') };
    this.hub.rolesChanged(this);
  }

  join(room: string, roomId: number): Promise<void> | undefined {
    const joined = (this.joined ??= new Map());
    if (joined.get(room) === roomId) return undefined;
    joined.set(room, roomId);
    return this.hub.subscribe(this, room, roomId);
  }

  leave(room: string): void {
    if (!this.joined?.delete(room)) return;
    this.hub.unsubscribe(this, room);
  }

  ordered(): void {
    const release = this.releaseOrder;
    this.releaseOrder = undefined;
    release?.();
  }

  dropRoom(room: string): void {
    this.remembered?.delete(room);
    this.leave(room);
  }

  send(frame: ServerFrame): void {
    this.hooks.onFrameOut(frame.type);
    this.deliver(JSON.stringify(frame));
  }

  deliver(data: string): void {
    if (this.closing) return;
    // A reader that does not keep up must not make the server hold its backlog (contract 3).
    if (this.out.bufferedBytes() + data.length > this.maxBufferedBytes) {
      this.hooks.onSlowConsumer(this);
      this.close(CLOSE.SLOW_CONSUMER, 'slow consumer');
      return;
    }
    this.out.send(data);
  }

  pauseInput(): void {
    if (this.paused) return;
    this.paused = true;
    this.out.pause();
  }

  resumeInput(): void {
    if (!this.paused) return;
    this.paused = false;
    this.out.resume();
  }

  /**
   * Runs `fn(this)` in `ms`, replacing the connection's pending timer (a connection has one at a
   * time: the auth timeout, then the token's refresh reminder, then its expiry), unless the
   * timers are cleared first. The callback is shared by every connection, so a connection holds
   * a Node timer and nothing else for it. Node's timers hold at most 2^31-1 ms (~24.8 days) and
   * fire at once beyond it, so a farther deadline is reached in steps: a token's far expiry is
   * still enforced.
   */
  timer(ms: number, fn: (conn: Connection) => void): void {
    this.clearTimers();
    if (this.closing) return;
    if (ms > MAX_TIMER_MS) this.pending = setTimeout(stepTowards, MAX_TIMER_MS, this, Date.now() + ms, fn);
    else this.pending = setTimeout(fn, Math.max(0, ms), this);
    this.pending.unref();
  }

  clearTimers(): void {
    if (this.pending === undefined) return;
    clearTimeout(this.pending);
    this.pending = undefined;
  }

  close(code: number, reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.clearTimers();
    this.out.close(code, reason);
  }

  /** Transport reports the connection is gone. */
  released(): void {
    this.closing = true;
    this.clearTimers();
    this.hub.closed(this, this.ip, this.rooms.keys());
  }
}
