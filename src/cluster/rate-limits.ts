/**
 * Cluster-wide rate limits: every node counts in the same Redis keys, so a user limited on one
 * node is limited on all.
 *
 * While Redis is unreachable (or a command fails) a node counts in its own memory at its share of
 * the limit, `points ÷ live nodes` (contract section 5): each action costs `live nodes` points of a
 * full-size local budget, so N nodes cut off together still hold the cluster to one budget. The
 * outage is not charged to anyone afterwards: no command waits in a queue to be replayed when
 * Redis returns (cluster/redis-options.ts), so the Redis counts hold only what was counted there.
 * This is rate-limiter-flexible's insurance limiter, with the share made dynamic.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { LimiterBackend, LimiterOptions, RateLimiterFactory } from '../guards/rate-limits.js';
import type { RateLimitRule } from '../config/schema.js';
import type { ClusterHealth } from './health.js';
import type { NodeLeases } from './nodes.js';

export interface ClusterLimiterDeps {
  client: Redis;
  prefix: string;
  health: ClusterHealth;
  nodes: Pick<NodeLeases, 'liveNodes'>;
}

export class ClusterLimiter implements LimiterBackend {
  private readonly shared: RateLimiterRedis;
  private readonly local: RateLimiterMemory;

  constructor(
    name: string,
    private readonly rule: RateLimitRule,
    private readonly deps: ClusterLimiterDeps,
    options: LimiterOptions = {},
  ) {
    const duration = Math.max(1, Math.ceil(rule.durationMs / 1000));
    const blockDuration = options.blockDurationMs ? Math.max(1, Math.ceil(options.blockDurationMs / 1000)) : 0;
    this.shared = new RateLimiterRedis({
      storeClient: deps.client,
      keyPrefix: `${deps.prefix}rl:${name}`,
      points: rule.points,
      duration,
      blockDuration,
      rejectIfRedisNotReady: true,
    });
    this.local = new RateLimiterMemory({ keyPrefix: `local:${name}`, points: rule.points, duration, blockDuration });
  }

  /** The key's state (remaining points, time to reset); the local count while Redis is unreachable. */
  get(key: string | number): Promise<RateLimiterRes | null> {
    if (!this.deps.health.ok) return this.local.get(key);
    return this.shared.get(key).catch(() => this.local.get(key));
  }

  consume(key: string | number, points = 1): Promise<RateLimiterRes> {
    if (!this.deps.health.ok) return this.fallback(key, points);
    return this.shared.consume(key, points).catch((rejection: unknown) => {
      if (rejection instanceof RateLimiterRes) throw rejection;
      return this.fallback(key, points);
    });
  }

  /** Counts points without refusing (failures); at the node's share while Redis is unreachable, like `consume`. */
  penalty(key: string | number, points = 1): Promise<RateLimiterRes> {
    if (!this.deps.health.ok) return this.localPenalty(key, points);
    return this.shared.penalty(key, points).catch(() => this.localPenalty(key, points));
  }

  /** Refuses the key for `seconds`; on this node only while Redis is unreachable. */
  block(key: string | number, seconds: number): Promise<RateLimiterRes> {
    if (!this.deps.health.ok) return this.local.block(key, seconds);
    return this.shared.block(key, seconds).catch(() => this.local.block(key, seconds));
  }

  private localPenalty(key: string | number, points: number): Promise<RateLimiterRes> {
    return this.local.penalty(key, points * this.deps.nodes.liveNodes);
  }

  /** The node's share of the budget: an action costs `live nodes` points (at most the whole budget). */
  private fallback(key: string | number, points: number): Promise<RateLimiterRes> {
    return this.local.consume(key, Math.min(this.rule.points, points * this.deps.nodes.liveNodes));
  }

  async delete(key: string | number): Promise<boolean> {
    const local = await this.local.delete(key);
    if (!this.deps.health.ok) return local;
    try {
      return (await this.shared.delete(key)) || local;
    } catch {
      return local;
    }
  }
}

export function clusterLimiterFactory(deps: ClusterLimiterDeps): RateLimiterFactory {
  return (name, rule, options) => new ClusterLimiter(name, rule, deps, options);
}
