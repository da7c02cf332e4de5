/**
 * Node leases (docs/cluster.md "A node crashes"): every node holds an entry in one Redis sorted
 * set, scored by when its lease ends, and renews it every `cluster.heartbeatMs`. A node that
 * stops renewing (crashed, frozen, cut off) is dead `cluster.leaseMs` later: the per-user
 * connection count and presence skip the entries of dead nodes (presence.ts), so a crashed
 * node's connections stop counting within the lease, not after their own 30 s expiry. The
 * renewal is also the node's health probe of Redis, and it counts the live nodes, which sets this
 * node's share of every limit while Redis is unreachable (`limit ÷ live nodes`, contract
 * section 5). Times come from Redis (`TIME`), so node clocks need not agree.
 */
import type { Redis } from 'ioredis';
import type { ClusterHealth } from './health.js';

/** Lua: the current Redis time in ms, as `now`. */
export const REDIS_NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const RENEW = `${REDIS_NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZCARD', KEYS[1])
`;

export interface NodeLeasesOptions {
  client: Redis;
  prefix: string;
  nodeId: string;
  leaseMs: number;
  heartbeatMs: number;
  health: ClusterHealth;
  onError?: (err: Error) => void;
}

export class NodeLeases {
  /** Live nodes at the last successful renewal (this one included). */
  private live = 1;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly key: string;

  constructor(private readonly options: NodeLeasesOptions) {
    this.key = `${options.prefix}nodes`;
  }

  get liveNodes(): number {
    return this.live;
  }

  /** This node's share of a cluster-wide limit while Redis is unreachable: `limit ÷ live nodes`, at least 1. */
  share(limit: number): number {
    return Math.max(1, Math.floor(limit / this.live));
  }

  /**
   * Takes the lease and renews it from then on. Start-up tries for `withinMs` (a busy process can
   * miss one short command timeout), then throws.
   */
  async start(withinMs = 2000): Promise<void> {
    const deadline = Date.now() + withinMs;
    for (;;) {
      try {
        await this.renewOnce();
        break;
      } catch (err) {
        if (Date.now() >= deadline || this.options.client.status !== 'ready') throw err;
      }
    }
    this.timer = setInterval(() => void this.renew(), this.options.heartbeatMs);
    this.timer.unref();
  }

  private async renewOnce(): Promise<void> {
    const count = await this.options.client.eval(RENEW, 1, this.key, this.options.nodeId, this.options.leaseMs);
    this.live = Math.max(1, Number(count));
  }

  /** Renews at once (Redis just came back); never throws. */
  renewNow(): Promise<void> {
    return this.renew();
  }

  private async renew(): Promise<void> {
    if (this.closed) return;
    try {
      await this.renewOnce();
      this.options.health.probe(true);
    } catch (err) {
      this.options.health.probe(false);
      this.options.onError?.(err as Error);
    }
  }

  /** Gives the lease back (shutdown), so other nodes stop counting this one at once. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      await this.options.client.zrem(this.key, this.options.nodeId);
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }
}
