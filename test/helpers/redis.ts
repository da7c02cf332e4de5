/**
 * The shared Redis of the cluster suites: BULWARK_TEST_REDIS_URL, else redis://127.0.0.1:6379.
 * Other test runs use it at the same time: work under a key prefix of your own, never FLUSHALL.
 * `redisUnreachable()` says why it cannot be used; callers skip with that message, or fail under
 * CI=true. A private redis-server (for outages) is test/helpers/redis-server.ts.
 */
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.BULWARK_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Why Redis at `url` does not answer PING (connecting within `timeoutMs`), or undefined when it does. */
export async function redisUnreachable(url = REDIS_URL, timeoutMs = 1000): Promise<string | undefined> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return undefined;
  } catch (err) {
    return `Redis at ${url} is unreachable (${(err as Error).message})`;
  } finally {
    probe.disconnect();
  }
}

/** Deletes every key under `prefix` (a test run's own), with SCAN: never KEYS or FLUSHALL on the shared Redis. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}
