/**
 * Room presence (docs/protocol.md "`presence`"): which users have a live connection joined to a
 * room, on this node and, in a cluster, on every node; and `presence.joined` / `presence.left`
 * for the room's connections as users come and go.
 *
 * Presence is per user, not per connection: a second tab is not a second arrival, and a user whose
 * last connection leaves the room is announced as gone only after `debounceMs`, so a quick
 * reconnect (or a page reload) does not flap. The hub reports every subscription change here
 * (`peerJoined` / `peerLeft`); the cluster backend (src/cluster/room-presence.ts) keeps the
 * cluster-wide view in Redis and tells which transitions are cluster-wide ones.
 *
 * This is not the per-user connection cap (src/cluster/presence.ts).
 */
import type { Bus } from '../bus/bus.js';
import type { UserRef } from '../protocol/frames.js';

export type PresenceMember = UserRef;

/** Users listed per room at most: a presence answer stays bounded (docs/protocol.md "`presence`"). */
export const MAX_LISTED = 1000;

/** The service other parts of the server use (the server API's `GET /api/v1/rooms/{room}/presence`). */
export interface RoomPresence {
  /** Users with a live connection joined to the room, across all nodes (no authorization here: the caller decides who may ask). */
  members(room: string): Promise<PresenceMember[]>;
}

/**
 * The cluster-wide side of presence. Every call may throw (Redis unreachable); the tracker then
 * decides from this node's own state.
 */
export interface PresenceBackend {
  /** The user is now present in the room on this node; true when no other node had them there. */
  add(room: string, user: PresenceMember): Promise<boolean>;
  /** The user is no longer present in the room on this node; true when no other node has them there. */
  remove(room: string, user: string): Promise<boolean>;
  /** Users present in the room on live nodes. */
  list(room: string): Promise<PresenceMember[]>;
  /** Renews this node's entries, so they outlive their expiry while the node lives. */
  renew(entries: ReadonlyArray<PresenceEntry>): Promise<void>;
  /** Drops the rooms' entries of dead nodes; returns the users gone from a room because of it. */
  sweep(rooms: readonly string[]): Promise<Array<{ room: string; user: PresenceMember }>>;
}

/** One user present in one room on this node. */
export interface PresenceEntry {
  room: string;
  user: PresenceMember;
}

/** A peer as presence sees it. */
export interface PresencePeer {
  readonly userId: string | undefined;
  readonly userName?: string | undefined;
}

interface LocalUser {
  name: string;
  /** This node's connections of the user joined to the room. */
  conns: number;
  /** Counts down to `presence.left` after the last connection left. */
  leaving: NodeJS.Timeout | undefined;
}

export interface RoomPresenceOptions {
  bus: Bus;
  /** How long a user whose last connection left stays present (a reconnect within it does not flap). @default 2000 */
  debounceMs?: number;
  backend?: PresenceBackend;
  /** How often the backend's entries are renewed and dead nodes' entries swept. @default 1000 */
  sweepMs?: number;
  onError?: (err: unknown) => void;
}

export class RoomPresenceTracker implements RoomPresence {
  private readonly rooms = new Map<string, Map<string, LocalUser>>();
  private readonly debounceMs: number;
  private readonly timer: NodeJS.Timeout | undefined;
  private renewEvery = 0;
  private closed = false;

  constructor(private readonly options: RoomPresenceOptions) {
    this.debounceMs = options.debounceMs ?? 2000;
    if (options.backend) {
      this.timer = setInterval(() => void this.tick(), options.sweepMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Rooms with a present user on this node (a bounded-size figure for tests and metrics). */
  get size(): number {
    return this.rooms.size;
  }

  /** A connection of the peer's user now follows the room. */
  peerJoined(room: string, peer: PresencePeer): void {
    const id = peer.userId;
    if (id === undefined || this.closed) return;
    let users = this.rooms.get(room);
    if (!users) this.rooms.set(room, (users = new Map()));
    const known = users.get(id);
    if (known) {
      known.conns++;
      if (known.leaving) {
        // Back within the debounce: nobody was told it left, so nobody is told it came.
        clearTimeout(known.leaving);
        known.leaving = undefined;
      }
      return;
    }
    const local: LocalUser = { name: peer.userName ?? id, conns: 1, leaving: undefined };
    users.set(id, local);
    const ref = { id, name: local.name };
    const backend = this.options.backend;
    if (!backend) return this.announce('presence.joined', room, ref);
    void this.announceIf(backend.add(room, ref), 'presence.joined', room, ref, true);
  }

  /** A connection of the peer's user stopped following the room (left, kicked, closed). */
  peerLeft(room: string, peer: PresencePeer): void {
    const id = peer.userId;
    if (id === undefined) return;
    const users = this.rooms.get(room);
    const local = users?.get(id);
    if (!users || !local) return;
    if (--local.conns > 0 || local.leaving) return;
    local.leaving = setTimeout(() => this.gone(room, id, local), this.debounceMs);
    local.leaving.unref();
  }

  private gone(room: string, id: string, local: LocalUser): void {
    const users = this.rooms.get(room);
    if (!users || users.get(id) !== local) return;
    local.leaving = undefined;
    users.delete(id);
    if (users.size === 0) this.rooms.delete(room);
    const ref = { id, name: local.name };
    const backend = this.options.backend;
    if (!backend) return this.announce('presence.left', room, ref);
    void this.announceIf(backend.remove(room, id), 'presence.left', room, ref, true);
  }

  /**
   * Announces a transition when the backend says it is a cluster-wide one. When the backend cannot
   * answer (Redis unreachable), this node's view decides if `localDecides` (docs/protocol.md "`presence`").
   */
  private announceIf(clusterWide: Promise<boolean>, type: 'presence.joined' | 'presence.left', room: string, user: PresenceMember, localDecides: boolean): Promise<void> {
    return clusterWide.then(
      (yes) => {
        if (yes) this.announce(type, room, user);
      },
      (err: unknown) => {
        this.options.onError?.(err);
        if (localDecides) this.announce(type, room, user);
      },
    );
  }

  private announce(type: 'presence.joined' | 'presence.left', room: string, user: PresenceMember): void {
    if (this.closed) return;
    this.options.bus.publish({ target: { kind: 'room', room }, type, frame: JSON.stringify({ type, room, user }) });
  }

  /** This node's present users of a room (those within their debounce included). */
  private local(room: string): PresenceMember[] {
    const users = this.rooms.get(room);
    if (!users) return [];
    const out: PresenceMember[] = [];
    for (const [id, u] of users) if (out.push({ id, name: u.name }) >= MAX_LISTED) break;
    return out;
  }

  async members(room: string): Promise<PresenceMember[]> {
    const backend = this.options.backend;
    const local = this.local(room);
    if (!backend) return local;
    let shared: PresenceMember[];
    try {
      shared = await backend.list(room);
    } catch (err) {
      this.options.onError?.(err);
      return local;
    }
    // This node's users count even if their add has not reached Redis yet.
    const seen = new Set(shared.map((m) => m.id));
    for (const m of local) if (!seen.has(m.id) && shared.length < MAX_LISTED) shared.push(m);
    return shared;
  }

  private entries(): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    for (const [room, users] of this.rooms) for (const [id, u] of users) out.push({ room, user: { id, name: u.name } });
    return out;
  }

  /** Cluster: sweeps dead nodes' users out of the rooms followed here, and renews this node's entries now and then. */
  private async tick(): Promise<void> {
    const backend = this.options.backend;
    if (!backend || this.closed || this.rooms.size === 0) return;
    try {
      const gone = await backend.sweep([...this.rooms.keys()]);
      for (const { room, user } of gone) {
        // A user also present here is not gone: the sweep only removed another node's entry.
        if (this.rooms.get(room)?.has(user.id)) continue;
        this.announce('presence.left', room, user);
      }
      if (++this.renewEvery >= 5) {
        this.renewEvery = 0;
        await backend.renew(this.entries());
      }
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  /**
   * Stops the timers (shutdown). In a cluster this node's entries are removed and the users gone
   * with them are announced to the other nodes' connections (call before the bus closes).
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    for (const users of this.rooms.values()) for (const u of users.values()) if (u.leaving) clearTimeout(u.leaving);
    const entries = this.entries();
    this.rooms.clear();
    const backend = this.options.backend;
    if (backend && entries.length > 0) {
      await Promise.all(entries.map(({ room, user }) => this.announceIf(backend.remove(room, user.id), 'presence.left', room, user, false)));
    }
    this.closed = true;
  }
}
