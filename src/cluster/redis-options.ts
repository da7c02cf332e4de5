/**
 * How every cluster Redis connection is opened (docs/cluster.md "Redis outage"): no offline
 * queue, so a command issued while Redis is unreachable fails at once instead of waiting for the
 * reconnect; a timeout on every command; no per-command retry (the caller has a fallback); a
 * bounded connect; reconnects with capped, jittered backoff, forever.
 */
import type { RedisOptions } from 'ioredis';

export interface RedisTimeouts {
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

/** Reconnect delays: 100 ms doubling to 2 s, with jitter so nodes do not reconnect in lockstep. */
export function reconnectDelay(attempt: number): number {
  const cap = Math.min(2000, 100 * 2 ** Math.min(attempt, 5));
  return Math.floor(cap / 2 + Math.random() * (cap / 2));
}

/**
 * `disconnectTimeout` (ioredis's default 2 s, read at runtime but missing from its option type):
 * how long a closing socket may linger; its timer would otherwise keep a failed start-up alive.
 */
export function redisOptions(name: string, timeouts: RedisTimeouts): RedisOptions & { disconnectTimeout: number } {
  return {
    disconnectTimeout: 200,
    lazyConnect: true,
    connectionName: name,
    enableOfflineQueue: false,
    commandTimeout: timeouts.commandTimeoutMs,
    connectTimeout: timeouts.connectTimeoutMs,
    maxRetriesPerRequest: 0,
    enableReadyCheck: true,
    // The bus resubscribes itself, so it knows when the subscription is back (see redis-bus.ts).
    autoResubscribe: false,
    retryStrategy: reconnectDelay,
  };
}
