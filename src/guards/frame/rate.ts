/**
 * Per-frame-type rate limits (`rateLimits.<type>`, else `default`), counted per user and per
 * IP so neither many sockets of one user nor many users behind one address escape the limit.
 */
import type { RateLimits } from '../rate-limits.js';
import type { FrameGuard } from './types.js';

export function rateGuard(limits: RateLimits): FrameGuard {
  return {
    name: 'rate',
    check: async function frameRate(ctx) {
      const type = ctx.frame.type;
      const [byUser, byIp] = await Promise.all([limits.get(type).consume(ctx.conn.userId!), limits.get(type, 'ip').consume(ctx.conn.ip)]);
      const hit = !byUser.ok ? byUser : !byIp.ok ? byIp : undefined;
      if (!hit || hit.ok) return undefined;
      return { ok: false, code: 'RATE_LIMITED', retryAfterMs: hit.retryAfterMs, event: 'rate_limited' };
    },
  };
}
