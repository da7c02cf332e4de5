/**
 * One key ring per cluster (docs/cluster.md "Keys"): nodes sharing a PostgreSQL store must hold
 * the keys it was written with. A node with its own encryption key or JWT key refuses to start,
 * naming the key; a store from before the check is tested on a stored row; `bulwark keys rotate`
 * with `BULWARK_ENCRYPTION_KEYS` records the new key and prints the values to roll out; a row no
 * key of the node can read is served as unavailable and recorded, and the page stands.
 *
 * Needs PostgreSQL: skipped with a message when unreachable, except with CI=true.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { StartupError } from '../../src/lifecycle/startup.js';
import { EncryptingCodec } from '../../src/security/at-rest.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import { startServer, type StartOptions, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { EventRecorder } from '../helpers/events.js';
import { postgresMissing, TestSchemas } from '../helpers/postgres.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const missing = await postgresMissing();
if (missing && process.env.CI === 'true') {
  it('needs PostgreSQL in CI', () => assert.fail(`${missing} (CI=true)`));
} else if (missing) {
  console.warn(`# skipping the cluster key tests: ${missing}`);
}

const secret = (): string => randomBytes(32).toString('hex');
const key = (): string => randomBytes(32).toString('base64');

/** Starts a node with `BULWARK_ENCRYPTION_KEYS` set for the duration of its start-up (the node reads it then). */
async function withKeys<T>(keys: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env.BULWARK_ENCRYPTION_KEYS;
  if (keys === undefined) delete process.env.BULWARK_ENCRYPTION_KEYS;
  else process.env.BULWARK_ENCRYPTION_KEYS = keys;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.BULWARK_ENCRYPTION_KEYS;
    else process.env.BULWARK_ENCRYPTION_KEYS = before;
  }
}

async function refusal(options: StartOptions, keys?: string): Promise<StartupError> {
  try {
    const node = await withKeys(keys, () => startServer(options));
    await node.stop();
  } catch (error) {
    assert.ok(error instanceof StartupError, String(error));
    return error;
  }
  assert.fail('the node started');
}

describe('one key ring per cluster', { skip: missing }, () => {
  let schemas: TestSchemas;
  const dirs: string[] = [];
  const nodes: TestServer[] = [];
  const dir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'bulwark-keys-'));
    dirs.push(d);
    return d;
  };

  before(() => {
    schemas = new TestSchemas();
  });

  after(async () => {
    for (const n of nodes) await n.stop();
    await schemas.dropAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('refuses a node whose data directory made its own encryption key, or that has its own JWT secret', async () => {
    const databaseUrl = await schemas.create();
    const jwt = secret();
    nodes.push(await startServer({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } }));
    // A second node with a data directory of its own: a random keys.json, also named k1.
    const own = await refusal({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } });
    assert.equal(own.component, 'keys');
    assert.match(own.message, /encryption key k1 is not the key k1 the store was written with/);
    assert.match(own.message, /docs\/cluster\.md/);
    // The same key ring as the first node, but another JWT secret.
    const shared = nodes[0]!.dataDir;
    const jwtMismatch = await refusal({ dataDir: shared, config: { databaseUrl, auth: { secret: secret() } } });
    assert.equal(jwtMismatch.component, 'keys');
    assert.match(jwtMismatch.message, /the JWT key is not the one the store was written with/);
    assert.ok(!jwtMismatch.message.includes(jwt), 'no key material in the message');
    // The same ring and secret: a second node joins.
    nodes.push(await startServer({ dataDir: shared, config: { databaseUrl, auth: { secret: jwt } } }));
  });

  it('tests a key on a stored row when the store has no check value for it yet', async () => {
    const databaseUrl = await schemas.create();
    const jwt = secret();
    const keysA = `k1:${key()}`;
    const node = await withKeys(keysA, () => startServer({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } }));
    const alice = await connect(node, 'alice');
    await alice.ok({ type: 'room.create', room: 'old', visibility: 'public' });
    await alice.ok({ type: 'chat.send', room: 'old', text: 'written before the check existed' });
    alice.close();
    await node.stop();
    // As a store from before this release: no check values.
    await schemas.query(databaseUrl, 'DELETE FROM key_checks');
    const refused = await refusal({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } }, `k1:${key()}`);
    assert.match(refused.message, /encryption key k1 cannot decrypt the messages the store holds under k1/);
    // The right key passes, and its check value is recorded from then on.
    nodes.push(await withKeys(keysA, () => startServer({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } })));
    assert.equal((await schemas.query(databaseUrl, "SELECT key_id FROM key_checks WHERE kind = 'encryption'")).length, 1);
  });

  it('`bulwark keys rotate` with BULWARK_ENCRYPTION_KEYS records the new key and prints the two values to roll out', async () => {
    const databaseUrl = await schemas.create();
    const jwt = secret();
    const k1 = `k1:${key()}`;
    const first = await withKeys(k1, () => startServer({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } }));
    await first.stop();
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'keys', 'rotate'], {
      cwd: ROOT,
      env: { ...process.env, BULWARK_ENCRYPTION_KEYS: k1, BULWARK_DATABASE_URL: databaseUrl, BULWARK_JWT_SECRET: jwt, BULWARK_DATA_DIR: dir() },
      timeout: 60_000,
    });
    assert.match(stdout, /new key k2, recorded in the store/);
    const values = [...stdout.matchAll(/BULWARK_ENCRYPTION_KEYS=(\S+)/g)].map((m) => m[1]!);
    assert.equal(values.length, 2);
    assert.ok(values[0]!.endsWith(k1), 'step 1 keeps k1 current');
    assert.ok(values[1]!.startsWith(`${k1},k2:`), 'step 2 makes k2 current');
    const stepTwo = await withKeys(values[1], () => startServer({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } }));
    nodes.push(stepTwo);
    const sent = await connect(stepTwo, 'rotator');
    await sent.ok({ type: 'room.create', room: 'rotated', visibility: 'public' });
    await sent.ok({ type: 'chat.send', room: 'rotated', text: 'under k2' });
    sent.close();
    // A node that made up a k2 of its own is refused.
    const refused = await refusal({ dataDir: dir(), config: { databaseUrl, auth: { secret: jwt } } }, `${k1},k2:${key()}`);
    assert.match(refused.message, /encryption key k2 is not the key k2/);
  });

  it('serves a row no key of the node can read as unavailable, records it, and the page stands', async () => {
    const databaseUrl = await schemas.create();
    const node = await startServer({ dataDir: dir(), config: { databaseUrl, auth: { secret: secret() } } });
    nodes.push(node);
    const events = new EventRecorder(node);
    const alice = await connect(node, 'alice');
    await alice.ok({ type: 'room.create', room: 'mixed', visibility: 'public' });
    await alice.ok({ type: 'room.join', room: 'mixed' });
    await alice.ok({ type: 'chat.send', room: 'mixed', text: 'readable one' });
    // Another writer, with a key this node never had, adds a row.
    const stranger = new EncryptingCodec({ current: 'kx', keys: new Map([['kx', randomBytes(32)]]) });
    const other = await PostgresStore.open({ url: databaseUrl, codec: stranger });
    try {
      const roomRecord = (await other.getRoom('mixed'))!;
      await other.appendMessage({ id: 'foreign-1', roomId: roomRecord.id, roomName: 'mixed', userId: 'mallory', userName: 'Mallory', text: 'secret', ts: Date.now() });
    } finally {
      await other.close();
      await stranger.close();
    }
    await alice.ok({ type: 'chat.send', room: 'mixed', text: 'readable two' });
    const page = await alice.ok({ type: 'chat.history', room: 'mixed' });
    const messages = page.messages as Array<Record<string, unknown>>;
    assert.deepEqual(
      messages.map((m) => m.seq),
      [1, 2, 3],
    );
    assert.equal(messages[0]!.text, 'readable one');
    assert.deepEqual(messages[1], { id: 'foreign-1', seq: 2, room: 'mixed', user: { id: 'mallory', name: 'Mallory' }, ts: messages[1]!.ts, unavailable: true });
    assert.equal(messages[2]!.text, 'readable two');
    const recorded = events.events.filter((e) => e.type === 'message_unreadable');
    assert.equal(recorded.length, 1);
    assert.deepEqual(recorded[0]!.detail, { room: 'mixed', rows: 1, keys: ['kx'] });
    // A second read within the minute records nothing more.
    await alice.ok({ type: 'chat.history', room: 'mixed' });
    assert.equal(events.events.filter((e) => e.type === 'message_unreadable').length, 1);
    alice.close();
  });
});
