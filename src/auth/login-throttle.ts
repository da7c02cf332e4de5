/**
 * Brute-force protection for `POST /api/auth/login` that an attacker cannot turn against the
 * account's owner (OWASP Authentication Cheat Sheet, "Account Lockout": a hard lock per account
 * lets anyone lock anyone out; use throttling that grows, and tell the owner's attempts apart).
 * On top of the per-IP attempt limit (`rateLimits.login`):
 *
 * - **username + IP lock**: 5 consecutive failures for one username from one IP lock that pair
 *   for 15 minutes. The attacker's address is locked out of the account; the owner's is not.
 * - **per-username progressive delay**: failures for a username from every address are counted
 *   over an hour; past 10, each further failure makes the username wait before the next attempt
 *   (1 s, 2 s, 4 s … at most 60 s). A distributed guesser is slowed to about a guess a minute; an
 *   owner on a new address waits at most a minute, never fifteen.
 * - **known addresses**: an address from which the username signed in successfully within 14
 *   days skips the delay (still subject to its own pair lock and the per-IP limit), so the owner's
 *   usual address keeps working while the account is under attack.
 *
 * A success clears the pair's failures but not the username's count: the owner signing in must
 * not hand an attacker fresh free guesses. With `redisUrl` the counters are shared by every node.
 */
import type { LimiterBackend, RateLimiterFactory } from '../guards/rate-limits.js';

export const PAIR_MAX_FAILS = 5;
export const PAIR_LOCK_MS = 15 * 60_000;
export const USERNAME_FREE_FAILS = 10;
export const USERNAME_WINDOW_MS = 3600_000;
export const MAX_DELAY_MS = 60_000;
/** Below 2^31-1 ms: rate-limiter-flexible's memory store expires keys with a Node timer. */
export const KNOWN_ADDRESS_MS = 14 * 24 * 3600_000;

export type Throttle = { ok: true } | { ok: false; scope: 'username_ip' | 'username'; retryAfterMs: number };

const OK: Throttle = Object.freeze({ ok: true });

/** The wait a username must observe after its n-th failure in the window. */
export function delayAfter(failures: number): number {
  if (failures <= USERNAME_FREE_FAILS) return 0;
  return Math.min(1000 * 2 ** Math.min(failures - USERNAME_FREE_FAILS - 1, 16), MAX_DELAY_MS);
}

export class LoginThrottle {
  private readonly pairs: LimiterBackend;
  private readonly failures: LimiterBackend;
  private readonly delays: LimiterBackend;
  private readonly known: LimiterBackend;

  constructor(factory: RateLimiterFactory) {
    this.pairs = factory('login_fail_pair', { points: PAIR_MAX_FAILS, durationMs: PAIR_LOCK_MS });
    this.failures = factory('login_fail_user', { points: 1_000_000, durationMs: USERNAME_WINDOW_MS });
    this.delays = factory('login_delay_user', { points: 1, durationMs: MAX_DELAY_MS });
    this.known = factory('login_known', { points: 1_000_000, durationMs: KNOWN_ADDRESS_MS });
  }

  /** Whether an attempt for `username` from `ip` may be checked now. */
  async check(username: string, ip: string): Promise<Throttle> {
    const pair = `${username}|${ip}`;
    const locked = await this.pairs.get(pair);
    if (locked && locked.consumedPoints > PAIR_MAX_FAILS) return { ok: false, scope: 'username_ip', retryAfterMs: Math.max(1, locked.msBeforeNext) };
    const delayed = await this.delays.get(username);
    if (delayed && delayed.consumedPoints > 1 && delayed.msBeforeNext > 0 && !(await this.known.get(pair))) {
      return { ok: false, scope: 'username', retryAfterMs: delayed.msBeforeNext };
    }
    return OK;
  }

  async failed(username: string, ip: string): Promise<void> {
    const pair = `${username}|${ip}`;
    const counted = await this.pairs.penalty(pair, 1);
    if (counted.consumedPoints >= PAIR_MAX_FAILS) await this.pairs.block(pair, Math.ceil(PAIR_LOCK_MS / 1000));
    const total = await this.failures.penalty(username, 1);
    const delay = delayAfter(total.consumedPoints);
    if (delay > 0) await this.delays.block(username, Math.ceil(delay / 1000));
  }

  async succeeded(username: string, ip: string): Promise<void> {
    const pair = `${username}|${ip}`;
    await this.pairs.delete(pair);
    await this.known.penalty(pair, 1);
  }
}
