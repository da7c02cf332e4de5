/**
 * The server API in a cluster (docs/protocol.md "Server API", contract section 5): two nodes in
 * one process share Redis (a unique key prefix per run) and one PostgreSQL schema (rooms, history
 * and API keys). A publish on node A reaches the room's members on node B in `seq` order with
 * A's own; a broadcast on B reaches A's connections; a disconnect on A closes the user's sockets
 * on both; presence on A lists users connected to B; a key's budget and its idempotency keys hold
 * across nodes; a key revoked in the shared store is refused by both.
 *
 * Needs Redis (BULWARK_TEST_REDIS_URL, else redis://127.0.0.1:6379) and PostgreSQL
 * (BULWARK_TEST_DATABASE_URL): skipped with a message when either is unreachable, except with
 * CI=true, where the suite fails.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { REDIS_URL, redisUnreachable } from '../helpers/redis.js';
import { postgresMissing, TestSchemas } from '../helpers/postgres.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { eventually } from '../helpers/events.js';
import { call, LOOSE, newKey, type TestKey } from './support.js';

const SECRET = randomBytes(32).toString('hex');
const PREFIX = `bulwark-test:${process.pid}-${randomBytes(4).toString('hex')}:`;
const API_POINTS = 6;

const missing = (await redisUnreachable()) ?? (await postgresMissing());
if (missing && process.env.CI === 'true') {
  describe('the server API in a cluster', () => {
    it('needs Redis and PostgreSQL in CI', () => assert.fail(`${missing}; cluster tests cannot run (CI=true)`));
  });
} else if (missing) {
  console.warn(`# skipping server API cluster tests: ${missing}`);
}

describe('the server API in a cluster', { skip: missing !== undefined }, () => {
  let schemas: TestSchemas;
  let a: TestServer;
  let b: TestServer;
  let onA: TestClient;
  let onB: TestClient;
  let key: TestKey;

  // One data directory: the same encryption key ring (keys.json) for both nodes.
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-api-cluster-'));
  const startNode = (databaseUrl: string): Promise<TestServer> =>
    startServer({
      dataDir,
      config: {
        redisUrl: REDIS_URL,
        databaseUrl,
        auth: { secret: SECRET },
        limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 100 },
        rateLimits: { handshake: LOOSE, default: LOOSE, 'chat.send': LOOSE, api: LOOSE },
      },
      bulwark: { redisPrefix: PREFIX },
    });

  before(async () => {
    schemas = new TestSchemas();
    const url = await schemas.create();
    a = await startNode(url);
    b = await startNode(url);
    key = await newKey(a);
    onA = await connect(a, 'alice', { name: 'Alice' });
    onB = await connect(b, 'bob', { name: 'Bob' });
    await onA.ok({ type: 'room.create', room: 'ops', visibility: 'public' });
    await onA.ok({ type: 'room.join', room: 'ops' });
    await onB.ok({ type: 'room.join', room: 'ops' });
  });
  after(async () => {
    onA?.close();
    onB?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await schemas?.dropAll();
    rmSync(dataDir, { recursive: true, force: true });
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  });

  it('delivers a publish on node A to the members on node B, in seq order with chat.send on B', async () => {
    const sent = await onB.ok({ type: 'chat.send', room: 'ops', text: 'from bob on B' });
    const res = await call(a, 'POST', '/api/v1/rooms/ops/messages', { key: key.key, body: { text: 'deploy finished' } });
    assert.equal(res.status, 201);
    const message = res.body.message as { seq: number; id: string };
    assert.equal(message.seq, (sent.message as { seq: number }).seq + 1);
    for (const client of [onA, onB]) {
      const first = await client.next('chat.message');
      const second = await client.next('chat.message');
      assert.deepEqual([(first.message as { seq: number }).seq, (second.message as { seq: number }).seq], [message.seq - 1, message.seq]);
      assert.deepEqual(second, { type: 'chat.message', room: 'ops', message: res.body.message });
    }
  });

  it('lists users connected to either node in presence, asked on either node', async () => {
    const byId = (x: { id: string }, y: { id: string }): number => x.id.localeCompare(y.id);
    for (const node of [a, b]) {
      assert.ok(
        await eventually(async () => {
          const res = await call(node, 'GET', '/api/v1/rooms/ops/presence', { key: key.key });
          return (
            JSON.stringify((res.body.members as Array<{ id: string }>).sort(byId)) ===
            JSON.stringify([
              { id: 'alice', name: 'Alice' },
              { id: 'bob', name: 'Bob' },
            ])
          );
        }, 3000),
      );
    }
  });

  it('broadcasts from node B to the connections on node A', async () => {
    const res = await call(b, 'POST', '/api/v1/broadcast', { key: key.key, body: { text: 'all hands' } });
    assert.equal(res.status, 202);
    for (const client of [onA, onB]) assert.deepEqual(await client.next('announcement'), { type: 'announcement', text: 'all hands', from: 'System', ts: res.body.ts });
  });

  it("closes every connection of a user on every node from one node's disconnect", async () => {
    const targets = [await connect(a, 'target'), await connect(b, 'target'), await connect(b, 'target')];
    const res = await call(a, 'POST', '/api/v1/users/target/disconnect', { key: key.key, body: { code: 4001, reason: 'banned upstream' } });
    assert.equal(res.status, 202);
    for (const t of targets) assert.deepEqual(await t.closed, { code: 4001, reason: 'banned upstream' });
  });

  it('answers a repeated Idempotency-Key on the other node with the first message', async () => {
    const first = await call(a, 'POST', '/api/v1/rooms/ops/messages', { key: key.key, body: { text: 'once' }, headers: { 'Idempotency-Key': 'cluster-1' } });
    assert.equal(first.status, 201);
    const again = await call(b, 'POST', '/api/v1/rooms/ops/messages', { key: key.key, body: { text: 'once' }, headers: { 'Idempotency-Key': 'cluster-1' } });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { message: first.body.message, duplicate: true });
    for (const client of [onA, onB]) await client.next('chat.message');
    assert.ok(await onB.quiet((f) => f.type === 'chat.message', 200), 'delivered once');
  });

  it('refuses a key revoked in the shared store on both nodes', async () => {
    const doomed = await newKey(b, ['history']);
    for (const node of [a, b]) assert.equal((await call(node, 'GET', '/api/v1/rooms/ops/history', { key: doomed.key })).status, 200);
    await a.bulwark.store.revokeApiKey(doomed.record.id, Date.now());
    for (const node of [a, b]) assert.ok(await eventually(async () => (await call(node, 'GET', '/api/v1/rooms/ops/history', { key: doomed.key })).status === 401, 3000, 100));
  });
});

describe('the server API budget in a cluster', { skip: missing !== undefined }, () => {
  let schemas: TestSchemas;
  let nodes: TestServer[];
  const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-api-budget-'));

  before(async () => {
    schemas = new TestSchemas();
    const url = await schemas.create();
    const start = (): Promise<TestServer> =>
      startServer({
        dataDir,
        config: {
          redisUrl: REDIS_URL,
          databaseUrl: url,
          auth: { secret: SECRET },
          rateLimits: { handshake: LOOSE, default: LOOSE, api: { points: API_POINTS, durationMs: 60_000 } },
        },
        bulwark: { redisPrefix: `${PREFIX}budget:` },
      });
    nodes = [await start(), await start()];
    const owner = await connect(nodes[0]!, 'owner');
    await owner.ok({ type: 'room.create', room: 'ops', visibility: 'public' });
    owner.close();
  });
  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await schemas.dropAll();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('spends one budget per key across nodes: calls alternating between nodes are refused past rateLimits.api', async () => {
    const { key } = await newKey(nodes[0]!, ['history']);
    const statuses: number[] = [];
    for (let i = 0; i < API_POINTS + 2; i++) statuses.push((await call(nodes[i % 2]!, 'GET', '/api/v1/rooms/ops/history', { key })).status);
    assert.deepEqual(statuses, [...Array(API_POINTS).fill(200), 429, 429]);
  });
});
