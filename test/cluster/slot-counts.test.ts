/**
 * Connection budgets counted across the cluster (src/cluster/slot-counts.ts, the Redis backing of
 * admission's counter interface): two nodes share one total and one per-IP count, concurrent
 * acquisitions never overshoot, a dead node's places stop counting, and while Redis is unreachable
 * each node admits at its share and writes its true counts back when Redis returns.
 *
 * Needs Redis (BULWARK_TEST_REDIS_URL, else redis://127.0.0.1:6379), with a key prefix of its own:
 * skipped with a message when unreachable, except with CI=true.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_URL, deleteKeys, redisUnreachable } from '../helpers/redis.js';
import { ClusterSlotCounts } from '../../src/cluster/slot-counts.js';

const PREFIX = `bulwark-test:${process.pid}-${randomBytes(4).toString('hex')}:`;

const unreachable = await redisUnreachable();
if (unreachable && process.env.CI === 'true') it('needs Redis in CI', () => assert.fail(unreachable));
else if (unreachable) console.warn(`# skipping the cluster slot-count tests: ${unreachable}`);

describe('cluster-wide connection budgets', { skip: unreachable }, () => {
  let redis: Redis;
  let run = 0;

  before(() => {
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    await deleteKeys(redis, PREFIX);
    await redis.quit();
  });

  /** Two nodes with leases, counting one budget. */
  async function pair(limits: { max: number; maxPerIp: number }) {
    const prefix = `${PREFIX}${++run}:`;
    const nodesKey = `${prefix}nodes`;
    await redis.zadd(nodesKey, Date.now() + 60_000, 'node-a', Date.now() + 60_000, 'node-b');
    const health = { ok: true };
    const nodes = { share: (limit: number) => Math.max(1, Math.floor(limit / 2)) };
    const make = (nodeId: string): ClusterSlotCounts => new ClusterSlotCounts({ client: redis, prefix: `${prefix}slots:`, nodesKey, nodeId, limits, health, nodes });
    return { a: make('node-a'), b: make('node-b'), health, nodesKey, prefix };
  }

  it('holds the total and the per-IP cap across nodes, and a release frees a place everywhere', async () => {
    const { a, b } = await pair({ max: 3, maxPerIp: 2 });
    assert.deepEqual(await a.tryAcquire('10.0.0.1'), { ok: true });
    assert.deepEqual(await b.tryAcquire('10.0.0.1'), { ok: true });
    assert.deepEqual(await a.tryAcquire('10.0.0.1'), { ok: false, scope: 'ip' }, 'two from the IP across nodes');
    assert.deepEqual(await a.tryAcquire('10.0.0.2'), { ok: true });
    assert.deepEqual(await b.tryAcquire('10.0.0.3'), { ok: false, scope: 'node' }, 'three in total across nodes');
    assert.equal(a.total(), 2);
    assert.equal(b.total(), 1);
    b.release('10.0.0.1');
    await redis.ping();
    assert.deepEqual(await a.tryAcquire('10.0.0.1'), { ok: true });
  });

  it('never overshoots under concurrent handshakes on both nodes', async () => {
    const { a, b } = await pair({ max: 10, maxPerIp: 1000 });
    const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).tryAcquire(`10.1.0.${i}`)));
    assert.equal(verdicts.filter((v) => v.ok).length, 10);
    assert.equal(a.total() + b.total(), 10);
  });

  it("stops counting a dead node's places (its lease is gone)", async () => {
    const { a, b, nodesKey } = await pair({ max: 2, maxPerIp: 10 });
    assert.ok((await b.tryAcquire('10.2.0.1')).ok);
    assert.ok((await b.tryAcquire('10.2.0.1')).ok);
    assert.deepEqual(await a.tryAcquire('10.2.0.2'), { ok: false, scope: 'node' });
    await redis.zrem(nodesKey, 'node-b');
    assert.deepEqual(await a.tryAcquire('10.2.0.2'), { ok: true });
  });

  it('admits at its share while Redis is unreachable, and writes its true counts back when it returns', async () => {
    const { a, b, health, prefix } = await pair({ max: 10, maxPerIp: 100 });
    assert.ok((await a.tryAcquire('10.3.0.1')).ok);
    assert.ok((await b.tryAcquire('10.3.0.9')).ok);
    health.ok = false;
    // The share of 10 over 2 nodes is 5: node A holds 1 and may take 4 more on its own count.
    const during = await Promise.all(Array.from({ length: 6 }, () => a.tryAcquire('10.3.0.2')));
    assert.equal(during.filter((v) => v.ok).length, 4);
    a.release('10.3.0.1');
    assert.equal(await redis.hget(`${prefix}slots:total`, 'node-a'), '1', 'Redis still holds the count from before');
    health.ok = true;
    await a.reconcile();
    assert.equal(await redis.hget(`${prefix}slots:total`, 'node-a'), '4');
    assert.equal(await redis.hget(`${prefix}slots:ip:10.3.0.2`, 'node-a'), '4');
    assert.equal(await redis.hget(`${prefix}slots:ip:10.3.0.1`, 'node-a'), null, 'the place given back in the outage is gone');
    // Back on the shared count: 4 (A) + 1 (B) of 10.
    const after = await Promise.all(Array.from({ length: 7 }, () => b.tryAcquire('10.3.0.3')));
    assert.equal(after.filter((v) => v.ok).length, 5);
  });
});
