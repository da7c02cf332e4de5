/**
 * Cluster mode (contract section 5): two nodes in one process share Redis. A message sent on
 * one node reaches the room's members on the other, in order; the per-user connection cap, rate
 * limits, idempotency keys and bans hold across nodes. Each node has its own SQLite data
 * directory, so rooms are created on both; the bus is what joins them.
 *
 * Needs Redis (BULWARK_TEST_REDIS_URL, else redis://127.0.0.1:6379). Unreachable: skipped with
 * a message, except with CI=true, where the suite fails. Every run uses its own key prefix and
 * deletes its keys afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { REDIS_URL, deleteKeys, redisUnreachable } from '../helpers/redis.js';
import { ClusterPresence } from '../../src/cluster/presence.js';
import { ClusterHealth } from '../../src/cluster/health.js';
import { NodeLeases } from '../../src/cluster/nodes.js';
import type { Identity } from '../../src/auth/jwt.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { eventually, sleep } from '../helpers/events.js';
import { connect, handshakeStatus, openSocket, type TestClient } from '../helpers/client.js';

const SECRET = randomBytes(32).toString('hex');
const PREFIX = `bulwark-test:${process.pid}-${randomBytes(4).toString('hex')}:`;
const SEND_POINTS = 20;
const LOOSE_RULE = { points: 1_000_000, durationMs: 60_000 };

const unreachable = await redisUnreachable();
if (unreachable && process.env.CI === 'true') {
  describe('cluster mode', () => {
    it('needs Redis in CI', () => assert.fail(`${unreachable}; cluster tests cannot run (CI=true)`));
  });
} else if (unreachable) {
  console.warn(`# skipping cluster tests: ${unreachable}`);
}

function startNode(): Promise<TestServer> {
  return startServer({
    config: {
      redisUrl: REDIS_URL,
      auth: { secret: SECRET },
      limits: { maxConnectionsPerUser: 2, maxConnectionsPerIp: 1000 },
      rateLimits: { handshake: LOOSE_RULE, default: LOOSE_RULE, login: LOOSE_RULE, 'chat.send': { points: SEND_POINTS, durationMs: 60_000 } },
    },
    bulwark: { redisPrefix: PREFIX },
  });
}

/** Authenticates a socket expected to be refused; resolves with its close code. */
async function refusedCode(node: TestServer, sub: string): Promise<number> {
  const client = await openSocket(node);
  client.send({ type: 'auth', token: await node.token(sub) });
  const { code } = await client.closed;
  return code;
}

describe('cluster mode (two nodes sharing Redis)', { skip: unreachable ? `Redis unreachable: ${unreachable}` : false }, () => {
  let a: TestServer;
  let b: TestServer;
  let redis: Redis;
  const clients: TestClient[] = [];
  const track = (c: TestClient): TestClient => (clients.push(c), c);

  /** Creates the room on both nodes (separate stores) and returns a member on each. */
  async function pair(room: string, userA: string, userB: string): Promise<[TestClient, TestClient]> {
    const onA = track(await connect(a, userA));
    const onB = track(await connect(b, userB));
    await onA.ok({ type: 'room.create', room, visibility: 'public' });
    await onB.ok({ type: 'room.create', room, visibility: 'public' });
    await onA.ok({ type: 'room.join', room });
    await onB.ok({ type: 'room.join', room });
    return [onA, onB];
  }

  before(async () => {
    redis = new Redis(REDIS_URL);
    a = await startNode();
    b = await startNode();
  });

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a?.stop(), b?.stop()]);
    if (redis) {
      await deleteKeys(redis, PREFIX);
      await redis.quit();
    }
  });

  it('uses the Redis bus and reports ready', async () => {
    for (const node of [a, b]) {
      const res = await fetch(`${node.url}/readyz`);
      assert.equal(res.status, 200);
    }
  });

  it('delivers a message sent on node A to a member on node B, in order', async () => {
    const [alice, bob] = await pair('relay', 'alice', 'bob');
    const n = 10;
    const acks = await Promise.all(Array.from({ length: n }, (_, i) => alice.ok({ type: 'chat.send', room: 'relay', text: `m${i}` })));
    assert.equal(acks.length, n);
    const got: string[] = [];
    for (let i = 0; i < n; i++) got.push(((await bob.next('chat.message')).message as { text: string }).text);
    assert.deepEqual(
      got,
      Array.from({ length: n }, (_, i) => `m${i}`),
    );
    // And back: B to A.
    await bob.ok({ type: 'chat.send', room: 'relay', text: 'reply' });
    const back = await alice.waitFor((f) => f.type === 'chat.message' && (f.message as { text: string }).text === 'reply');
    assert.equal((back.message as { text: string }).text, 'reply');
  });

  it("caps one user's connections across nodes (cap 2: one on A, one on B, a third closes 4429)", async () => {
    const first = track(await connect(a, 'capped'));
    track(await connect(b, 'capped'));
    assert.equal(await refusedCode(a, 'capped'), 4429);
    assert.equal(await refusedCode(b, 'capped'), 4429);
    // A closed connection frees its place on every node.
    first.close();
    await first.closed;
    let again: TestClient | undefined;
    assert.ok(
      await eventually(async () => {
        try {
          again = await connect(b, 'capped');
          return true;
        } catch {
          return false;
        }
      }),
      'a place freed on A is usable on B',
    );
    track(again!);
  });

  it('shares rate limits: a user limited on A is limited on B', async () => {
    const [onA, onB] = await pair('limits', 'rl', 'rl');
    for (let i = 0; i < SEND_POINTS; i++) await onA.ok({ type: 'chat.send', room: 'limits', text: `r${i}` });
    const refused = await onB.request({ type: 'chat.send', room: 'limits', text: 'one more' });
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'RATE_LIMITED');
    assert.ok(Number(refused.retryAfterMs) > 0);
  });

  it("shares idempotency keys: the same chat.send id on B gets A's ack with duplicate: true", async () => {
    const [onA, onB] = await pair('idem', 'idem', 'idem');
    const first = await onA.ok({ type: 'chat.send', id: 'same-id-1', room: 'idem', text: 'once' });
    const again = await onB.request({ type: 'chat.send', id: 'same-id-1', room: 'idem', text: 'once' });
    assert.equal(again.type, 'ack');
    assert.equal(again.duplicate, true);
    assert.deepEqual(again.message, first.message);
    // Stored and delivered once: each member sees one copy.
    await onB.waitFor((f) => f.type === 'chat.message' && (f.message as { text: string }).text === 'once');
    assert.ok(await onB.quiet((f) => f.type === 'chat.message', 300), 'no second delivery');
  });

  it("a ban on A closes the user's connection on B and B refuses the user afterwards", async () => {
    const onB = track(await connect(b, 'mallory'));
    await a.bulwark.bans.ban('user', 'mallory', 'cluster test');
    const { code } = await onB.closed;
    assert.equal(code, 4403);
    assert.ok(b.bulwark.bans.active('user', 'mallory'), 'B holds the ban record from the bus');
    assert.equal(await refusedCode(b, 'mallory'), 4403);
    await a.bulwark.bans.unban('user', 'mallory');
    assert.ok(await eventually(() => b.bulwark.bans.active('user', 'mallory') === undefined), 'the unban reaches B');
  });

  it("a revocation on A closes the token's connection on B and B refuses it afterwards", async () => {
    const token = await b.token('revoked-user', { jti: 'cluster-jti-1' });
    const onB = track(await connect(b, 'revoked-user', { token }));
    await a.bulwark.revocations.revoke('cluster-jti-1', Date.now() + 60_000);
    assert.equal((await onB.closed).code, 4401);
    assert.ok(b.bulwark.revocations.isRevoked('cluster-jti-1'));
    const retry = await openSocket(b);
    retry.send({ type: 'auth', token });
    assert.equal((await retry.closed).code, 4401);
  });

  it('abuse scores add up across nodes: violations split over A and B reach the threshold once, and the user is banned everywhere', async () => {
    await pair('not-yours', 'owner-1', 'owner-1');
    const onA = track(await connect(a, 'prober'));
    const onB = track(await connect(b, 'prober'));
    // forbidden_action weighs 5 and abuse.threshold is 100: ten refusals on each node make 100.
    for (let i = 0; i < 10; i++) {
      assert.equal((await onA.request({ type: 'room.delete', room: 'not-yours' })).code, 'FORBIDDEN');
      if (i < 9) assert.equal((await onB.request({ type: 'room.delete', room: 'not-yours' })).code, 'FORBIDDEN');
    }
    assert.ok(!a.bulwark.bans.active('user', 'prober') && !b.bulwark.bans.active('user', 'prober'), '95 is under the threshold');
    onB.send({ type: 'room.delete', id: 'last', room: 'not-yours' });
    const within = (closed: Promise<{ code: number }>): Promise<number> => Promise.race([closed.then((c) => c.code), sleep(5000).then(() => 0)]);
    assert.equal(await within(onA.closed), 4429, 'the connection on A closes');
    assert.equal(await within(onB.closed), 4429, 'and the one on B');
    assert.ok(await eventually(() => a.bulwark.bans.active('user', 'prober') !== undefined && b.bulwark.bans.active('user', 'prober') !== undefined));
  });

  it('login lockouts count failures across nodes: five wrong passwords split over A and B lock the name on both', async () => {
    const login = async (node: TestServer): Promise<number> => {
      const res = await fetch(`${node.url}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: node.origin },
        body: JSON.stringify({ username: 'lockme', password: 'not the password at all' }),
      });
      await res.arrayBuffer();
      return res.status;
    };
    for (const node of [a, b, a, b, a]) assert.equal(await login(node), 401);
    assert.equal(await login(b), 429, 'locked on B after 3 failures on A and 2 on B');
    assert.equal(await login(a), 429);
  });

  it('entries of a crashed node lapse: an expired entry, or one of a node without a lease, does not count', async () => {
    const health = new ClusterHealth();
    const leases = new NodeLeases({ client: redis, prefix: PREFIX, nodeId: 'test', leaseMs: 60_000, heartbeatMs: 10_000, health });
    await leases.start();
    const presence = new ClusterPresence({ client: redis, prefix: PREFIX, nodeId: 'test', maxConnectionsPerUser: 1, ttlMs: 60_000 });
    try {
      const identity = (id: string): Identity => ({ id, name: id, roles: [], expiresAt: Date.now() + 60_000 }) as unknown as Identity;
      // A node that died left an entry whose own expiry passed.
      await redis.zadd(`${PREFIX}conns:ghost`, Date.now() - 1, 'dead-node:1');
      assert.equal(await presence.check(identity('ghost'), '127.0.0.1'), undefined, 'the expired entry is not counted');
      assert.equal((await presence.check(identity('ghost'), '127.0.0.1'))?.close, 4429, 'the live reservation is');
      // A node that crashed a moment ago: its entry has not expired, but its lease is gone.
      await redis.zadd(`${PREFIX}conns:crashed`, Date.now() + 60_000, 'crashed-node:1');
      assert.equal(await presence.count('crashed'), 0, 'an entry of a node without a lease does not count');
      assert.equal(await presence.check(identity('crashed'), '127.0.0.1'), undefined, 'nor does it hold a place');
      // The same entry counts while its node holds a lease.
      await redis.zadd(`${PREFIX}nodes`, Date.now() + 60_000, 'alive-node');
      await redis.zadd(`${PREFIX}conns:alive`, Date.now() + 60_000, 'alive-node:1');
      assert.equal(await presence.count('alive'), 1);
      assert.equal((await presence.check(identity('alive'), '127.0.0.1'))?.close, 4429);
    } finally {
      await presence.close();
      await leases.close();
    }
  });
});

describe('cluster-wide connection budgets (admission counts in Redis)', { skip: unreachable ? `Redis unreachable: ${unreachable}` : false }, () => {
  const prefix = `bulwark-test:${process.pid}-${randomBytes(4).toString('hex')}-caps:`;
  let a: TestServer;
  let b: TestServer;
  const sockets: TestClient[] = [];
  const keep = (c: TestClient): TestClient => (sockets.push(c), c);
  const node = (): Promise<TestServer> =>
    startServer({
      config: {
        redisUrl: REDIS_URL,
        auth: { secret: SECRET },
        limits: { maxConnectionsPerIp: 3, maxPendingAuthPerIp: 2, maxConnectionsPerUser: 10 },
        rateLimits: { handshake: LOOSE_RULE, default: LOOSE_RULE },
      },
      bulwark: { redisPrefix: prefix },
    });

  before(async () => {
    a = await node();
    b = await node();
  });

  after(async () => {
    for (const c of sockets) c.close();
    await Promise.all([a?.stop(), b?.stop()]);
    const redis = new Redis(REDIS_URL);
    await deleteKeys(redis, prefix);
    await redis.quit();
  });

  it('holds the per-IP cap across nodes: places taken on A count on B, and come back when closed', async () => {
    const first = keep(await connect(a, 'cap-1'));
    keep(await connect(a, 'cap-2'));
    keep(await connect(b, 'cap-3'));
    assert.equal(await handshakeStatus(b), 429, "the IP's fourth connection is refused on the other node");
    assert.equal(await handshakeStatus(a), 429);
    first.close();
    await first.closed;
    assert.ok(await eventually(async () => (await handshakeStatus(b)) === 101), 'the place comes back when the socket closes');
  });

  it('holds the pending-auth budget per IP across nodes', async () => {
    for (const c of sockets.splice(0)) {
      c.close();
      await c.closed;
    }
    keep(await openSocket(a));
    keep(await openSocket(a));
    assert.equal(await handshakeStatus(b), 429, 'a third unauthenticated socket from the IP is refused on the other node');
  });
});
