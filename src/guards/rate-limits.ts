/**
 * Named rate limits (`rateLimits.<name>`), behind one interface so the Redis-backed store can
 * replace the in-memory one for a cluster. A limit hit is a value with an honest retry time;
 * only a broken store throws. Memory use is bounded: windows expire (WindowLimiter sweeps them;
 * rate-limiter-flexible's stores expire their keys).
 */
import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimitRule } from '../config/schema.js';

export type RateVerdict = { ok: true } | { ok: false; retryAfterMs: number };

export interface RateLimiter {
  consume(key: string, points?: number): Promise<RateVerdict>;
  /** The same decision without a promise, when the limiter keeps its counts in this process. */
  consumeSync?(key: string, points?: number): RateVerdict;
  /** Forgets a key (successful login resets its failures). */
  reset(key: string): Promise<void>;
}

/**
 * What a limiter store does (rate-limiter-flexible's shape): `consume` resolves while points
 * remain, rejects with a `RateLimiterRes` when the limit is spent, and with an `Error` only when
 * the store is broken. `penalty` counts points without refusing and `block` refuses a key for a
 * chosen time (the login throttle's failure counts and progressive delays, src/auth/login-throttle.ts).
 */
export type LimiterBackend = Pick<RateLimiterAbstract, 'consume' | 'delete' | 'get' | 'penalty' | 'block'>;

export interface LimiterOptions {
  /** Once spent, the key stays refused this long (consecutive-failure lockouts). */
  blockDurationMs?: number;
}

export type RateLimiterFactory = (name: string, rule: RateLimitRule, options?: LimiterOptions) => LimiterBackend;

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

export const memoryLimiterFactory: RateLimiterFactory = (name, rule, options = {}) =>
  new RateLimiterMemory({
    keyPrefix: name,
    points: rule.points,
    duration: seconds(rule.durationMs),
    ...(options.blockDurationMs ? { blockDuration: seconds(options.blockDurationMs) } : {}),
  });

const ALLOWED: RateVerdict = Object.freeze({ ok: true });
const allowed = (): RateVerdict => ALLOWED;
function refused(rejection: unknown): RateVerdict {
  if (rejection instanceof RateLimiterRes) return { ok: false, retryAfterMs: Math.max(1, rejection.msBeforeNext) };
  throw rejection;
}

export function wrapLimiter(limiter: LimiterBackend): RateLimiter {
  return {
    consume(key, points = 1) {
      return limiter.consume(key, points).then(allowed, refused);
    },
    async reset(key) {
      await limiter.delete(key);
    },
  };
}

interface Window {
  used: number;
  resetAt: number;
}

/**
 * The in-process limiter: a fixed window per key that starts at the key's first action, counted
 * as rate-limiter-flexible's memory store counts, but answered synchronously: no promise per
 * decision and no timer per key (that store arms one to expire each key). Windows that ended are
 * swept once per window length, so memory holds at most the keys active in the last two windows.
 */
export class WindowLimiter implements RateLimiter {
  private readonly windows = new Map<string, Window>();
  private nextSweep: number;

  constructor(
    private readonly points: number,
    private readonly durationMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.nextSweep = now() + durationMs;
  }

  get size(): number {
    return this.windows.size;
  }

  consumeSync(key: string, points = 1): RateVerdict {
    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    let w = this.windows.get(key);
    if (w === undefined || w.resetAt <= now) {
      w = { used: 0, resetAt: now + this.durationMs };
      this.windows.set(key, w);
    }
    w.used += points;
    return w.used <= this.points ? ALLOWED : { ok: false, retryAfterMs: Math.max(1, w.resetAt - now) };
  }

  consume(key: string, points = 1): Promise<RateVerdict> {
    return Promise.resolve(this.consumeSync(key, points));
  }

  reset(key: string): Promise<void> {
    this.windows.delete(key);
    return Promise.resolve();
  }

  private sweep(now: number): void {
    for (const [key, w] of this.windows) if (w.resetAt <= now) this.windows.delete(key);
    this.nextSweep = now + this.durationMs;
  }
}

/**
 * An IP may carry many users (NAT, an office, a proxy pool), so per-IP frame limits are this
 * many times the per-user rule; the per-user rule still binds each user.
 */
export const IP_SHARE = 10;

export class RateLimits {
  private readonly limiters = new Map<string, RateLimiter>();

  /** Without a factory (one node), limits are WindowLimiters in this process; a cluster passes its Redis factory. */
  constructor(
    private readonly rules: Record<string, RateLimitRule>,
    private readonly factory?: RateLimiterFactory,
  ) {}

  private create(name: string, rule: RateLimitRule): RateLimiter {
    return this.factory ? wrapLimiter(this.factory(name, rule)) : new WindowLimiter(rule.points, rule.durationMs);
  }

  /** A limiter store of its own (not a `rateLimits` rule), local or cluster-wide like the rules. */
  backend(name: string, rule: RateLimitRule, options?: LimiterOptions): LimiterBackend {
    return (this.factory ?? memoryLimiterFactory)(name, rule, options);
  }

  /** The limiter for a rule name, falling back to `default`; `ip` scope scales by IP_SHARE. */
  get(name: string, scope: 'key' | 'ip' = 'key'): RateLimiter {
    const cacheKey = scope === 'ip' ? `ip|${name}` : name;
    let limiter = this.limiters.get(cacheKey);
    if (!limiter) {
      const ruleName = this.rules[name] ? name : 'default';
      const rule = this.rules[ruleName]!;
      const ruleKey = scope === 'ip' ? `ip|${ruleName}` : ruleName;
      limiter = this.limiters.get(ruleKey);
      if (!limiter) {
        limiter = scope === 'ip' ? this.create(`ip:${ruleName}`, { points: rule.points * IP_SHARE, durationMs: rule.durationMs }) : this.create(ruleName, rule);
        this.limiters.set(ruleKey, limiter);
      }
      this.limiters.set(cacheKey, limiter);
    }
    return limiter;
  }
}
