/**
 * The per-user connection cap across nodes (contract section 3: more than
 * `limits.maxConnectionsPerUser` live connections for one `sub`, across all nodes, closes 4429).
 *
 * Each user has a Redis sorted set of its live connections, one member per connection
 * (`<node>:<n>`) scored by an expiry time. Admission reserves a member atomically (a Lua script
 * drops expired members, counts, and adds only under the cap), the reservation becomes the
 * connection's entry when it authenticates, and the entry is removed when it closes. Every node
 * refreshes its entries' expiry on a heartbeat, so the entries of a node that crashed lapse
 * after `ttlMs` instead of holding the count forever.
 */
import type { Redis } from 'ioredis';
import type { AdmissionCheck } from '../auth/session-auth.js';
import { CLOSE } from '../protocol/close-codes.js';
import { Hub, type Peer } from '../fanout/hub.js';

const RESERVE = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
`;

export interface PresenceOptions {
  client: Redis;
  prefix: string;
  nodeId: string;
  maxConnectionsPerUser: number;
  /** How long an entry lives without a heartbeat. @default 30000 */
  ttlMs?: number;
  /** How long an admission's reservation waits for its connection to authenticate. @default 5000 */
  reservationMs?: number;
  onError?: (err: Error) => void;
}

interface Reservation {
  member: string;
  timer: NodeJS.Timeout;
}

export class ClusterPresence {
  private readonly ttlMs: number;
  private readonly reservationMs: number;
  private readonly pending = new Map<string, Reservation[]>();
  private readonly live = new Map<Peer, { user: string; member: string }>();
  private readonly heartbeat: NodeJS.Timeout;
  private seq = 0;
  private closed = false;

  constructor(private readonly options: PresenceOptions) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.reservationMs = options.reservationMs ?? 5_000;
    this.heartbeat = setInterval(() => this.refresh(), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.heartbeat.unref();
  }

  private key(user: string): string {
    return `${this.options.prefix}conns:${user}`;
  }

  private error(err: unknown): void {
    this.options.onError?.(err as Error);
  }

  /**
   * Admission: reserves a place for this user in the cluster, or refuses 4429. Redis being
   * unreachable admits (the node-local cap still holds) rather than locking every user out.
   */
  readonly check: AdmissionCheck = async (identity) => {
    if (this.closed) return undefined;
    const member = `${this.options.nodeId}:${(++this.seq).toString(36)}`;
    const now = Date.now();
    let admitted: unknown;
    try {
      admitted = await this.options.client.eval(RESERVE, 1, this.key(identity.id), now, now + this.ttlMs, this.options.maxConnectionsPerUser, member, this.ttlMs);
    } catch (err) {
      this.error(err);
      return undefined;
    }
    if (Number(admitted) !== 1) {
      return { close: CLOSE.TOO_MANY, reason: 'too many connections', event: 'user_connection_cap', detail: { cluster: true } };
    }
    const reservation: Reservation = {
      member,
      timer: setTimeout(() => this.abandon(identity.id, reservation), this.reservationMs),
    };
    reservation.timer.unref();
    const list = this.pending.get(identity.id);
    if (list) list.push(reservation);
    else this.pending.set(identity.id, [reservation]);
    return undefined;
  };

  /** The admission that reserved was not followed by an authenticated connection. */
  private abandon(user: string, reservation: Reservation): void {
    const list = this.pending.get(user);
    const i = list?.indexOf(reservation) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.pending.delete(user);
    this.options.client.zrem(this.key(user), reservation.member).catch((err: unknown) => this.error(err));
  }

  /** A connection authenticated: it takes one of its user's reservations (or adds an entry). */
  attached(peer: Peer): void {
    const user = peer.userId;
    if (user === undefined || this.live.has(peer) || this.closed) return;
    const list = this.pending.get(user);
    const reservation = list?.shift();
    if (list && list.length === 0) this.pending.delete(user);
    if (reservation) {
      clearTimeout(reservation.timer);
      this.live.set(peer, { user, member: reservation.member });
      return;
    }
    const member = `${this.options.nodeId}:${(++this.seq).toString(36)}`;
    this.live.set(peer, { user, member });
    this.options.client
      .multi()
      .zadd(this.key(user), Date.now() + this.ttlMs, member)
      .pexpire(this.key(user), this.ttlMs)
      .exec()
      .catch((err: unknown) => this.error(err));
  }

  /** A connection closed: its entry leaves the count at once. */
  released(peer: Peer): void {
    const entry = this.live.get(peer);
    if (!entry) return;
    this.live.delete(peer);
    this.options.client.zrem(this.key(entry.user), entry.member).catch((err: unknown) => this.error(err));
  }

  /** Live connections of a user across the cluster (expired entries excluded). */
  async count(user: string): Promise<number> {
    return this.options.client.zcount(this.key(user), Date.now(), '+inf');
  }

  /** Connections this node holds in the count. */
  get size(): number {
    return this.live.size;
  }

  private refresh(): void {
    if (this.closed || this.live.size === 0) return;
    const expiry = Date.now() + this.ttlMs;
    const batch = this.options.client.pipeline();
    const users = new Set<string>();
    for (const { user, member } of this.live.values()) {
      batch.zadd(this.key(user), expiry, member);
      users.add(user);
    }
    for (const user of users) batch.pexpire(this.key(user), this.ttlMs);
    batch.exec().catch((err: unknown) => this.error(err));
  }

  /** Removes this node's entries (shutdown); call before the Redis client closes. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    const batch = this.options.client.pipeline();
    for (const { user, member } of this.live.values()) batch.zrem(this.key(user), member);
    for (const [user, list] of this.pending) {
      for (const r of list) {
        clearTimeout(r.timer);
        batch.zrem(this.key(user), r.member);
      }
    }
    this.live.clear();
    this.pending.clear();
    try {
      await batch.exec();
    } catch (err) {
      this.error(err);
    }
  }
}

/** The hub of a cluster node: reports connections authenticating and closing to the presence. */
export class PresenceHub extends Hub {
  constructor(
    private readonly presence: ClusterPresence,
    onDelivered?: (type: string, count: number) => void,
  ) {
    super(onDelivered);
  }

  override authenticatedPeer(peer: Peer): void {
    super.authenticatedPeer(peer);
    this.presence.attached(peer);
  }

  override closed(peer: Peer, ip: string, rooms: Iterable<string>): void {
    super.closed(peer, ip, rooms);
    this.presence.released(peer);
  }
}
