/**
 * Per-frame-type rate limits (`rateLimits.<type>`, else `default`), counted per user and per
 * IP so neither many sockets of one user nor many users behind one address escape the limit.
 * One decision per frame: both counts are taken together, synchronously when the limiters live
 * in this process (no promise per frame), through the shared store's promises in a cluster.
 */
import type { RateLimiter, RateLimits, RateVerdict } from '../rate-limits.js';
import type { FrameGuard, FrameVerdict } from './types.js';

function verdict(byUser: RateVerdict, byIp: RateVerdict): FrameVerdict {
  const hit = !byUser.ok ? byUser : !byIp.ok ? byIp : undefined;
  if (!hit || hit.ok) return undefined;
  return { ok: false, code: 'RATE_LIMITED', retryAfterMs: hit.retryAfterMs, event: 'rate_limited' };
}

export function rateGuard(limits: RateLimits): FrameGuard {
  /** The user and IP limiters of each frame type (validated types: a fixed set). */
  const pairs = new Map<string, readonly [RateLimiter, RateLimiter]>();
  return {
    name: 'rate',
    check: function frameRate(ctx) {
      const type = ctx.frame.type;
      let pair = pairs.get(type);
      if (pair === undefined) pairs.set(type, (pair = [limits.get(type), limits.get(type, 'ip')]));
      const [user, ip] = pair;
      if (user.consumeSync && ip.consumeSync) return verdict(user.consumeSync(ctx.conn.userId!), ip.consumeSync(ctx.conn.ip));
      return Promise.all([user.consume(ctx.conn.userId!), ip.consume(ctx.conn.ip)]).then(([byUser, byIp]) => verdict(byUser, byIp));
    },
  };
}
