/**
 * A node's cluster pieces when `redisUrl` is set (contract section 5): the Redis bus, and the
 * Redis-backed rate limits, per-user connection count and idempotency keys, all on the bus's
 * publishing connection and under one key prefix.
 */
import type { Logger } from 'pino';
import { RedisBus } from '../bus/redis-bus.js';
import type { RateLimiterFactory } from '../guards/rate-limits.js';
import { RedisIdempotency } from './idempotency.js';
import { ClusterPresence } from './presence.js';
import { redisLimiterFactory } from './rate-limits.js';

export interface ClusterOptions {
  url: string;
  /** @default 'bulwark:' */
  prefix?: string;
  maxConnectionsPerUser: number;
  log: Logger;
}

export interface Cluster {
  bus: RedisBus;
  limiterFactory: RateLimiterFactory;
  presence: ClusterPresence;
  idempotency: RedisIdempotency;
  /** Removes this node's connection entries; the bus closes the Redis connections. */
  close(): Promise<void>;
}

export async function createCluster(options: ClusterOptions): Promise<Cluster> {
  const prefix = options.prefix ?? 'bulwark:';
  const { log } = options;
  // One line per failure kind a second at most: a Redis outage must not flood the log.
  let lastLogged = 0;
  const onError = (err: Error): void => {
    const now = Date.now();
    if (now - lastLogged < 1000) return;
    lastLogged = now;
    log.error({ err }, 'redis cluster error');
  };
  const bus = await RedisBus.connect({
    url: options.url,
    prefix,
    onError,
    onMalformed: (raw) => log.warn({ bytes: raw.length }, 'malformed message on the cluster bus'),
  });
  const presence = new ClusterPresence({ client: bus.client, prefix, nodeId: bus.nodeId, maxConnectionsPerUser: options.maxConnectionsPerUser, onError });
  return {
    bus,
    limiterFactory: redisLimiterFactory(bus.client, prefix),
    presence,
    idempotency: new RedisIdempotency({ client: bus.client, prefix, onError }),
    close: () => presence.close(),
  };
}
