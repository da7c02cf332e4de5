/**
 * Reconnect delays: exponential backoff with "full jitter" (AWS architecture blog, "Exponential
 * Backoff And Jitter"): the delay is uniform in [0, min(cap, base * 2^attempt)). Spreading every
 * client over the whole window is what keeps a fleet that lost its server at the same instant
 * from coming back at the same instant (a reconnect storm).
 */

export interface BackoffOptions {
  /** Upper bound of the first window. @default 500 */
  baseMs: number;
  /** Largest window. @default 30000 */
  maxMs: number;
  /** Source of randomness in [0, 1); injectable for tests. @default Math.random */
  random: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000, random: Math.random };

/** The delay before reconnect attempt `attempt` (0-based). */
export function fullJitter(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const window = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(options.random() * window);
}

/**
 * The delay when the server asked us to wait (Retry-After, 4429, 503): at least what it asked,
 * plus a jittered share of the window so the waiting clients do not all return together.
 */
export function afterServerHint(floorMs: number, attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  return floorMs + fullJitter(attempt, options);
}

/** Parses an HTTP `Retry-After` value (delta-seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | undefined | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
