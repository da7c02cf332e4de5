/**
 * Edits, typing and presence across nodes (docs/protocol.md "`chat.edit`", "`chat.typing`",
 * "`presence`"; docs/cluster.md): two in-process nodes and one `bulwark serve` child share a
 * private `redis-server` and one PostgreSQL schema, with messages encrypted at rest. A message
 * sent and edited on one node reaches members on the other with its new text (stored re-encrypted
 * in PostgreSQL); typing crosses nodes and never reaches any connection of its sender; presence
 * lists users on every node and announces arrivals and departures across nodes; a SIGKILLed
 * node's users leave presence, with `presence.left` from a surviving node, within
 * `cluster.leaseMs` + `cluster.heartbeatMs` (plus the test's slack); with Redis stopped, presence
 * answers from the node's own users instead of failing.
 *
 * Needs redis-server and PostgreSQL: skipped with a message when missing, except with CI=true.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisServer, redisServerMissing } from '../helpers/redis-server.js';
import { postgresMissing, TestSchemas } from '../helpers/postgres.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { serve, useCli, type Served } from '../core/cli-support.js';
import { mintToken } from '../../src/auth/jwt.js';
import { AuthSchema } from '../../src/config/schema.js';

const missing = redisServerMissing() ?? (await postgresMissing());
if (missing && process.env.CI === 'true') {
  it('needs redis-server and PostgreSQL in CI', () => assert.fail(`${missing} (CI=true)`));
} else if (missing) {
  console.warn(`# skipping the cross-node edit/typing/presence suite: ${missing}`);
} else {
  useCli();
}

const SECRET = randomBytes(32).toString('hex');
const KEYS = `k1:${randomBytes(32).toString('base64')}`;
const LOOSE = { points: 1_000_000, durationMs: 60_000 };
const LEASE_MS = 1000;
const HEARTBEAT_MS = 200;
const DEBOUNCE_MS = 200;
const CONFIG = {
  limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 20 },
  rateLimits: { handshake: LOOSE, default: LOOSE, 'chat.send': LOOSE, 'chat.edit': LOOSE, 'chat.typing': LOOSE, 'room.create': LOOSE },
  cluster: { leaseMs: LEASE_MS, heartbeatMs: HEARTBEAT_MS },
  presence: { debounceMs: DEBOUNCE_MS, typingIntervalMs: 1000 },
  encryption: { enabled: true },
};

const typingIn = (room: string) => (f: Frame) => f.type === 'chat.typing' && f.room === room;
const about = (type: string, room: string, user: string) => (f: Frame) => f.type === type && f.room === room && (f.user as { id: string }).id === user;
const ids = (reply: Frame): string[] => (reply.members as Array<{ id: string }>).map((m) => m.id).sort();

describe('edits, typing and presence across nodes (PostgreSQL, a private Redis)', { skip: missing }, () => {
  let redis: RedisServer;
  let schemas: TestSchemas;
  let databaseUrl: string;
  let a: TestServer;
  let b: TestServer;
  const clients: TestClient[] = [];
  const dirs: string[] = [];
  let n = 0;

  const node = (): Promise<TestServer> =>
    startServer({ config: { ...CONFIG, redisUrl: redis.url, databaseUrl, auth: { secret: SECRET } }, env: { BULWARK_ENCRYPTION_KEYS: KEYS } });
  const on = async (server: TestServer, sub: string, name = sub): Promise<TestClient> => {
    const c = await connect(server, sub, { name });
    clients.push(c);
    return c;
  };
  async function room(owner: TestClient): Promise<string> {
    const name = `x-${++n}`;
    await owner.ok({ type: 'room.create', room: name, visibility: 'public' });
    await owner.ok({ type: 'room.join', room: name });
    return name;
  }

  before(async () => {
    process.env.BULWARK_ENCRYPTION_KEYS = KEYS;
    redis = await RedisServer.start();
    schemas = new TestSchemas();
    databaseUrl = await schemas.create();
    a = await node();
    b = await node();
  });
  after(async () => {
    for (const c of clients) c.close();
    await a?.stop();
    await b?.stop();
    await redis?.kill();
    await schemas?.dropAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a message edited on node B reaches node A with its new text; history on A has it; stored re-encrypted', async () => {
    const ana = await on(a, 'ana-1', 'Ana');
    const bob = await on(b, 'bob-1', 'Bob');
    const name = await room(ana);
    await bob.ok({ type: 'room.join', room: name });
    const sent = await bob.ok({ type: 'chat.send', room: name, text: 'from B, secret plan' });
    await ana.waitFor((f) => f.type === 'chat.message' && f.room === name);
    const id = (sent.message as { id: string }).id;
    assert.equal((await ana.request({ type: 'chat.edit', room: name, message: id, text: 'owner edit' })).code, 'FORBIDDEN');
    const ack = await bob.ok({ type: 'chat.edit', id: 'x-edit-1', room: name, message: id, text: 'from B, new plan' });
    const edited = await ana.waitFor((f) => f.type === 'chat.edited' && f.room === name);
    assert.equal((edited.message as { text: string }).text, 'from B, new plan');
    // The same id on the other node: the first ack, nothing applied again.
    const bobOnA = await on(a, 'bob-1', 'Bob');
    const again = await bobOnA.ok({ type: 'chat.edit', id: 'x-edit-1', room: name, message: id, text: 'again from A' });
    assert.equal(again.duplicate, true);
    const history = (await ana.ok({ type: 'chat.history', room: name })).messages as Array<{ id: string; text: string; editedAt?: number }>;
    assert.equal(history[0]!.text, 'from B, new plan');
    assert.equal(history[0]!.editedAt, (ack.message as { editedAt: number }).editedAt);
    const [row] = await schemas.query<{ body: Buffer; key_id: string | null; edited_at: string }>(databaseUrl, 'SELECT body, key_id, edited_at FROM messages WHERE id = $1', [id]);
    assert.equal(row!.key_id, 'k1', 'the edited text is stored encrypted');
    assert.ok(!row!.body.toString('latin1').includes('new plan'), 'no plaintext in the row');
    assert.equal(Number(row!.edited_at), (ack.message as { editedAt: number }).editedAt);
    // A deleted message cannot be edited on either node.
    await ana.ok({ type: 'chat.delete', room: name, message: id });
    assert.equal((await bob.request({ type: 'chat.edit', room: name, message: id, text: 'too late' })).code, 'NOT_FOUND');
  });

  it('typing crosses nodes and never reaches a connection of the sender on any node', async () => {
    const ana = await on(a, 'ana-2', 'Ana');
    const anaOnB = await on(b, 'ana-2', 'Ana');
    const bob = await on(b, 'bob-2', 'Bob');
    const name = await room(ana);
    await anaOnB.ok({ type: 'room.join', room: name });
    await bob.ok({ type: 'room.join', room: name });
    ana.send({ type: 'chat.typing', room: name });
    assert.deepEqual(await bob.waitFor(typingIn(name)), { type: 'chat.typing', room: name, user: { id: 'ana-2', name: 'Ana' } });
    assert.equal(await anaOnB.quiet(typingIn(name), 300), true, "not to the sender's connection on the other node");
    assert.equal(await ana.quiet(typingIn(name), 50), true);
  });

  it('presence lists users on both nodes and announces arrivals and departures across nodes', async () => {
    const ana = await on(a, 'ana-3', 'Ana');
    const name = await room(ana);
    const bob = await on(b, 'bob-3', 'Bob');
    await bob.ok({ type: 'room.join', room: name });
    assert.deepEqual(await ana.waitFor(about('presence.joined', name, 'bob-3')), { type: 'presence.joined', room: name, user: { id: 'bob-3', name: 'Bob' } });
    assert.deepEqual(ids(await ana.ok({ type: 'presence', room: name })), ['ana-3', 'bob-3']);
    assert.deepEqual(ids(await bob.ok({ type: 'presence', room: name })), ['ana-3', 'bob-3']);
    assert.deepEqual((await a.bulwark.presence.members(name)).map((m) => m.id).sort(), ['ana-3', 'bob-3'], 'the service sees both nodes');
    // Bob also on node A, then leaving node B: still present, nothing announced.
    const bobOnA = await on(a, 'bob-3', 'Bob');
    await bobOnA.ok({ type: 'room.join', room: name });
    assert.equal(await ana.quiet(about('presence.joined', name, 'bob-3'), 300), true, 'a second node is not a second arrival');
    bob.close();
    assert.equal(await ana.quiet(about('presence.left', name, 'bob-3'), DEBOUNCE_MS * 3), true, 'present on another node: not gone');
    bobOnA.close();
    await ana.waitFor(about('presence.left', name, 'bob-3'), 5000);
    assert.deepEqual(ids(await ana.ok({ type: 'presence', room: name })), ['ana-3']);
    const eve = await on(b, 'eve-3');
    assert.equal((await eve.request({ type: 'presence', room: name })).code, 'NOT_A_MEMBER');
  });

  it("a SIGKILLed node's users leave presence within the lease bound, announced by a surviving node", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-live-node-'));
    dirs.push(dir);
    const configFile = join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ ...CONFIG, logLevel: 'silent' }));
    const child: Served = await serve([], {
      BULWARK_CONFIG: configFile,
      BULWARK_DATA_DIR: join(dir, 'data'),
      BULWARK_REDIS_URL: redis.url,
      BULWARK_DATABASE_URL: databaseUrl,
      BULWARK_JWT_SECRET: SECRET,
      BULWARK_ENCRYPTION_KEYS: KEYS,
    });
    const ana = await on(a, 'ana-4', 'Ana');
    const name = await room(ana);
    const victim = await connect(
      {
        ...a,
        wsUrl: child.wsUrl,
        origin: child.origin,
        token: (sub, opts = {}) => mintToken(new TextEncoder().encode(SECRET), AuthSchema.parse({}), { sub, ttlMs: 60_000, ...opts }),
      },
      'carl-4',
      { name: 'Carl' },
    );
    clients.push(victim);
    await victim.ok({ type: 'room.join', room: name });
    await ana.waitFor(about('presence.joined', name, 'carl-4'));
    assert.deepEqual(ids(await ana.ok({ type: 'presence', room: name })), ['ana-4', 'carl-4']);
    child.child.kill('SIGKILL');
    const killedAt = performance.now();
    const left = await ana.waitFor(about('presence.left', name, 'carl-4'), LEASE_MS + HEARTBEAT_MS + 4000);
    const tookMs = performance.now() - killedAt;
    assert.deepEqual(left.user, { id: 'carl-4', name: 'Carl' });
    assert.deepEqual(ids(await ana.ok({ type: 'presence', room: name })), ['ana-4']);
    console.log(`# presence.left for a SIGKILLed node's user after ${tookMs.toFixed(0)} ms (leaseMs ${LEASE_MS}, heartbeatMs ${HEARTBEAT_MS})`);
    await child.exit.catch(() => undefined);
  });
  it("while Redis is unreachable, presence answers from the node's own users and announces from its own view", async () => {
    const ana = await on(a, 'ana-5', 'Ana');
    const name = await room(ana);
    const bob = await on(b, 'bob-5', 'Bob');
    await bob.ok({ type: 'room.join', room: name });
    await ana.waitFor(about('presence.joined', name, 'bob-5'));
    await redis.kill();
    try {
      const reply = await ana.request({ type: 'presence', room: name });
      assert.equal(reply.type, 'ack', JSON.stringify(reply));
      assert.deepEqual(ids(reply), ['ana-5'], "only this node's users");
      const carl = await on(a, 'carl-5', 'Carl');
      await carl.ok({ type: 'room.join', room: name });
      await ana.waitFor(about('presence.joined', name, 'carl-5'));
    } finally {
      await redis.resume();
    }
  });
});
