/** Handshake rate per client IP (contract section 2, step 2): 429 with Retry-After. */
import type { RateLimiter } from '../rate-limits.js';
import type { HandshakeGuard } from './types.js';

export function handshakeRateGuard(limiter: RateLimiter): HandshakeGuard {
  return {
    name: 'rate',
    check: async function handshakeRate(req) {
      const verdict = await limiter.consume(req.ip);
      return verdict.ok ? undefined : { reason: 'rate', event: 'handshake_rate_limited', retryAfterMs: verdict.retryAfterMs };
    },
  };
}
