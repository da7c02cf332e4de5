/**
 * The per-user connection cap across nodes (contract section 3: more than
 * `limits.maxConnectionsPerUser` live connections for one `sub`, across all nodes, closes 4429).
 *
 * Each user has a Redis sorted set of its live connections, one member per connection
 * (`<node>:<n>`) scored by an expiry time. Admission reserves a member atomically (a Lua script
 * drops expired members and members of dead nodes, counts, and adds only under the cap), the
 * reservation becomes the connection's entry when it authenticates, and the entry is removed when
 * it closes. A member counts only while its node holds a lease (nodes.ts): the connections of a
 * node that crashed stop counting `cluster.leaseMs` after its last renewal. Every node also
 * refreshes its entries' own expiry, a backstop for an entry whose removal was lost.
 *
 * While Redis is unreachable (docs/cluster.md "Redis outage") the node admits by its own count at
 * its share of the cap (`limits.maxConnectionsPerUser ÷ live nodes`); removals that could not be
 * made are kept (bounded) and made, with a refresh of every live entry, when Redis is back.
 */
import type { Redis } from 'ioredis';
import type { AdmissionCheck } from '../auth/session-auth.js';
import { CLOSE } from '../protocol/close-codes.js';
import { Hub, type Peer } from '../fanout/hub.js';
import { REDIS_NOW } from './nodes.js';
import type { ClusterHealth } from './health.js';

/** Lua: removes from KEYS[1] the members that expired or whose node (KEYS[2]) holds no lease. */
const PRUNE = `${REDIS_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local node = string.match(m, '^([^:]+):')
  local lease = node and redis.call('ZSCORE', KEYS[2], node)
  if not lease or tonumber(lease) < now then redis.call('ZREM', KEYS[1], m) end
end`;

const RESERVE = `${PRUNE}
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
`;

const COUNT = `${PRUNE}
return redis.call('ZCARD', KEYS[1])
`;

/** Lua: renews entries, KEYS[i] holding member ARGV[i + 1], for ARGV[1] ms. */
const RENEW = `${REDIS_NOW}
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + ttl, ARGV[i + 1])
  redis.call('PEXPIRE', key, ttl)
end
return #KEYS
`;

/** Entries renewed per script call. */
const RENEW_BATCH = 500;
/** Removals kept for later while Redis is unreachable; beyond this the entries' own expiry clears them. */
const MAX_STALE = 100_000;

export interface PresenceOptions {
  client: Redis;
  prefix: string;
  nodeId: string;
  maxConnectionsPerUser: number;
  /** How long an entry lives without a refresh (the backstop; node leases act faster). @default 30000 */
  ttlMs?: number;
  /** How long an admission's reservation waits for its connection to authenticate. @default 5000 */
  reservationMs?: number;
  /** Whether Redis is usable; absent, always tried. */
  health?: Pick<ClusterHealth, 'ok'>;
  /** The node's share of a limit while Redis is unreachable. @default the whole limit */
  share?: (limit: number) => number;
  /** This node's authenticated connections of a user (the degraded check). @default 0 */
  localCount?: (user: string) => number;
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
  /** Entries whose removal failed (Redis unreachable): removed at the next refresh. */
  private stale: Array<{ user: string; member: string }> = [];
  private readonly heartbeat: NodeJS.Timeout;
  private readonly nodesKey: string;
  private seq = 0;
  private closed = false;

  constructor(private readonly options: PresenceOptions) {
    this.ttlMs = options.ttlMs ?? 30_000;
    this.reservationMs = options.reservationMs ?? 5_000;
    this.nodesKey = `${options.prefix}nodes`;
    this.heartbeat = setInterval(() => this.refresh(), Math.max(100, Math.floor(this.ttlMs / 3)));
    this.heartbeat.unref();
  }

  private key(user: string): string {
    return `${this.options.prefix}conns:${user}`;
  }

  private get usable(): boolean {
    return this.options.health?.ok ?? true;
  }

  private error(err: unknown): void {
    this.options.onError?.(err as Error);
  }

  /**
   * Admission: reserves a place for this user in the cluster, or refuses 4429. While Redis is
   * unreachable the node's own count decides, at its share of the cap.
   */
  readonly check: AdmissionCheck = async (identity) => {
    if (this.closed) return undefined;
    if (!this.usable) return this.localCheck(identity.id);
    const member = `${this.options.nodeId}:${(++this.seq).toString(36)}`;
    let admitted: unknown;
    try {
      admitted = await this.options.client.eval(RESERVE, 2, this.key(identity.id), this.nodesKey, this.ttlMs, this.options.maxConnectionsPerUser, member);
    } catch (err) {
      this.error(err);
      return this.localCheck(identity.id);
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

  private localCheck(user: string): ReturnType<AdmissionCheck> {
    const share = this.options.share?.(this.options.maxConnectionsPerUser) ?? this.options.maxConnectionsPerUser;
    if ((this.options.localCount?.(user) ?? 0) < share) return undefined;
    return { close: CLOSE.TOO_MANY, reason: 'too many connections', event: 'user_connection_cap', detail: { cluster: true, degraded: true, share } };
  }

  /** The admission that reserved was not followed by an authenticated connection. */
  private abandon(user: string, reservation: Reservation): void {
    const list = this.pending.get(user);
    const i = list?.indexOf(reservation) ?? -1;
    if (!list || i < 0) return;
    list.splice(i, 1);
    if (list.length === 0) this.pending.delete(user);
    this.remove(user, reservation.member);
  }

  private remove(user: string, member: string): void {
    const keep = (): void => {
      if (this.stale.length < MAX_STALE) this.stale.push({ user, member });
    };
    if (!this.usable) return keep();
    this.options.client.zrem(this.key(user), member).catch((err: unknown) => {
      keep();
      this.error(err);
    });
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
    // Degraded: the refresh after the outage adds it.
    if (this.usable) this.renew([{ user, member }]).catch((err: unknown) => this.error(err));
  }

  /** A connection closed: its entry leaves the count at once. */
  released(peer: Peer): void {
    const entry = this.live.get(peer);
    if (!entry) return;
    this.live.delete(peer);
    this.remove(entry.user, entry.member);
  }

  /** Live connections of a user across the cluster (expired entries and dead nodes' entries excluded). */
  async count(user: string): Promise<number> {
    return Number(await this.options.client.eval(COUNT, 2, this.key(user), this.nodesKey));
  }

  /** Connections this node holds in the count. */
  get size(): number {
    return this.live.size;
  }

  private async renew(entries: ReadonlyArray<{ user: string; member: string }>): Promise<void> {
    for (let i = 0; i < entries.length; i += RENEW_BATCH) {
      const batch = entries.slice(i, i + RENEW_BATCH);
      await this.options.client.eval(RENEW, batch.length, ...batch.map((e) => this.key(e.user)), this.ttlMs, ...batch.map((e) => e.member));
    }
  }

  /** Renews this node's entries and makes the removals an outage held back. Runs on a timer and when Redis comes back. */
  refresh(): void {
    if (this.closed || !this.usable) return;
    const stale = this.stale;
    this.stale = [];
    if (stale.length > 0) {
      const batch = this.options.client.pipeline();
      for (const { user, member } of stale) batch.zrem(this.key(user), member);
      batch.exec().catch((err: unknown) => {
        this.stale.push(...stale.slice(0, MAX_STALE - this.stale.length));
        this.error(err);
      });
    }
    if (this.live.size > 0) this.renew([...this.live.values()]).catch((err: unknown) => this.error(err));
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
    for (const { user, member } of this.stale) batch.zrem(this.key(user), member);
    this.live.clear();
    this.pending.clear();
    this.stale = [];
    if (!this.usable) return;
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
