/**
 * A node's cluster pieces when `redisUrl` is set (contract section 5): the Redis bus, the node
 * lease, and the Redis-backed rate limits, per-user connection count and idempotency keys, all on
 * the bus's publishing connection and under one key prefix, and the health that tells them when
 * to fall back to the node's own state (docs/cluster.md).
 */
import type { Logger } from 'pino';
import { RedisBus } from '../bus/redis-bus.js';
import type { Config } from '../config/schema.js';
import type { RateLimiterFactory } from '../guards/rate-limits.js';
import { reasonOf, redactUrl, StartupError } from '../lifecycle/startup.js';
import { ClusterHealth } from './health.js';
import { RedisIdempotency } from './idempotency.js';
import { RedisAbuseScores } from './abuse-scores.js';
import { ClusterSlotCounts } from './slot-counts.js';
import { NodeLeases } from './nodes.js';
import { ClusterPresence } from './presence.js';
import { clusterLimiterFactory } from './rate-limits.js';
import { RedisRoomPresence } from './room-presence.js';

export interface ClusterOptions {
  url: string;
  /** @default 'bulwark:' */
  prefix?: string;
  settings: Config['cluster'];
  maxConnectionsPerUser: number;
  /** This node's authenticated connections of a user (the per-user cap while degraded). */
  localUserCount: (user: string) => number;
  log: Logger;
}

export interface Cluster {
  bus: RedisBus;
  health: ClusterHealth;
  nodes: NodeLeases;
  limiterFactory: RateLimiterFactory;
  presence: ClusterPresence;
  /** Who is online in which room, across nodes (src/presence/room-presence.ts). */
  roomPresence: RedisRoomPresence;
  idempotency: RedisIdempotency;
  abuse: RedisAbuseScores;
  /**
   * A cluster-wide connection budget (`slots`: `limits.maxConnections`/`maxConnectionsPerIp`;
   * `pending`: the pending-auth budget), for admission's counter interface.
   */
  counts(budget: 'slots' | 'pending', limits: { max: number; maxPerIp: number }): ClusterSlotCounts;
  /** Removes this node's connection entries and lease; the bus closes the Redis connections. */
  close(): Promise<void>;
}

export async function createCluster(options: ClusterOptions): Promise<Cluster> {
  const prefix = options.prefix ?? 'bulwark:';
  const { log, settings } = options;
  // One line a second at most: a Redis outage must not flood the log.
  let lastLogged = 0;
  const onError = (err: Error): void => {
    const now = Date.now();
    if (now - lastLogged < 1000) return;
    lastLogged = now;
    log.error({ err: reasonOf(err) }, 'redis cluster error');
  };
  const health = new ClusterHealth();
  const timeouts = { commandTimeoutMs: settings.commandTimeoutMs, connectTimeoutMs: settings.connectTimeoutMs };
  let bus: RedisBus;
  try {
    bus = await RedisBus.connect({
      url: options.url,
      prefix,
      timeouts,
      health,
      onError,
      onMalformed: (raw) => log.warn({ bytes: raw.length }, 'malformed message on the cluster bus'),
    });
  } catch (err) {
    throw new StartupError('redis', `redis unavailable at ${redactUrl(options.url)} (${reasonOf(err)})`, { cause: err });
  }
  const nodes = new NodeLeases({ client: bus.client, prefix, nodeId: bus.nodeId, leaseMs: settings.leaseMs, heartbeatMs: settings.heartbeatMs, health, onError });
  try {
    await nodes.start(settings.connectTimeoutMs);
  } catch (err) {
    await bus.close();
    throw new StartupError('redis', `redis unavailable at ${redactUrl(options.url)} (${reasonOf(err)})`, { cause: err });
  }
  const presence = new ClusterPresence({
    client: bus.client,
    prefix,
    nodeId: bus.nodeId,
    maxConnectionsPerUser: options.maxConnectionsPerUser,
    health,
    share: (limit) => nodes.share(limit),
    localCount: options.localUserCount,
    onError,
  });
  const idempotency = new RedisIdempotency({ client: bus.client, prefix, health, onError });
  const budgets: ClusterSlotCounts[] = [];
  health.onChange({
    degraded: () => undefined,
    // Back: the lease first (so this node's entries count again), then the entries themselves, and
    // the acks given meanwhile.
    recovered: () => {
      void nodes.renewNow().then(() => {
        presence.refresh();
        return Promise.all([idempotency.flush(), ...budgets.map((b) => b.reconcile())]);
      });
    },
  });
  return {
    bus,
    health,
    nodes,
    limiterFactory: clusterLimiterFactory({ client: bus.client, prefix, health, nodes }),
    presence,
    roomPresence: new RedisRoomPresence({ client: bus.client, prefix, nodeId: bus.nodeId, nodesKey: nodes.key }),
    idempotency,
    abuse: new RedisAbuseScores(bus.client, prefix, health, nodes),
    counts(budget, limits) {
      const counts = new ClusterSlotCounts({ client: bus.client, prefix: `${prefix}${budget}:`, nodesKey: nodes.key, nodeId: bus.nodeId, limits, health, nodes, onError });
      budgets.push(counts);
      return counts;
    },
    async close() {
      await presence.close();
      await nodes.close();
    },
  };
}
