/**
 * Cluster-wide rate limits: every node counts in the same Redis keys, so a user limited on one
 * node is limited on all. While Redis is unreachable each node falls back to its own in-memory
 * counts (rate-limiter-flexible's insurance limiter) rather than refusing or admitting everything.
 */
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { RateLimiterFactory } from '../guards/rate-limits.js';

export function redisLimiterFactory(client: Redis, prefix: string): RateLimiterFactory {
  return (name, rule) => {
    const duration = Math.max(1, Math.ceil(rule.durationMs / 1000));
    return new RateLimiterRedis({
      storeClient: client,
      keyPrefix: `${prefix}rl:${name}`,
      points: rule.points,
      duration,
      rejectIfRedisNotReady: true,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix: name, points: rule.points, duration }),
    });
  };
}
