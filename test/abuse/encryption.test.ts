/**
 * Encryption of message text at rest (issue 4 item 9): after messages with a distinctive
 * plaintext are stored and flushed, neither `bulwark.db` nor `bulwark.db-wal` contains it;
 * every row records its key id; `bulwark keys rotate` makes new writes use the new key while
 * old rows stay readable (also after a restart); `keys.json` is mode 0600. With
 * `encryption.enabled: false` the same probe does find the plaintext, proving it would see it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { loose, sleep, uniq } from '../frames/support.js';

const run = promisify(execFile);

/** True when the database file or its WAL holds these bytes. */
function onDisk(dataDir: string, needle: string): boolean {
  const bytes = Buffer.from(needle, 'utf8');
  for (const name of ['bulwark.db', 'bulwark.db-wal']) {
    const path = join(dataDir, name);
    if (existsSync(path) && readFileSync(path).includes(bytes)) return true;
  }
  return false;
}

/** key_id per message text id, read with a separate read-only connection. */
function keyIds(dataDir: string): Map<string, string | null> {
  const db = new Database(join(dataDir, 'bulwark.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT id, key_id FROM messages').all() as Array<{ id: string; key_id: string | null }>;
    return new Map(rows.map((r) => [r.id, r.key_id]));
  } finally {
    db.close();
  }
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

async function sendAll(c: TestClient, room: string, texts: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const text of texts) ids.push(((await c.ok({ type: 'chat.send', room, text })).message as { id: string }).id);
  return ids;
}

async function historyTexts(c: TestClient, room: string): Promise<string[]> {
  return ((await c.ok({ type: 'chat.history', room })).messages as Array<{ text: string }>).map((m) => m.text);
}

describe('encryption at rest (enabled, the default)', () => {
  let server: TestServer;
  let client: TestClient;
  let room: string;
  const canary = `PLAINTEXT-CANARY-${randomBytes(6).toString('hex')}`;
  const firstTexts = [1, 2, 3, 4, 5].map((i) => `${canary} message ${i}`);
  let firstIds: string[] = [];

  before(async () => {
    server = await startServer({ config: loose() });
    client = await connect(server, uniq('crypt'));
    room = uniq('crypt-room');
    await client.ok({ type: 'room.create', room, visibility: 'public' });
    await client.ok({ type: 'room.join', room });
  });
  after(() => server.stop());

  it("never writes a sent message's plaintext to bulwark.db or bulwark.db-wal", async () => {
    firstIds = await sendAll(client, room, firstTexts);
    await server.bulwark.store.flush();
    assert.equal(onDisk(server.dataDir, canary), false, 'the canary is not on disk');
    assert.deepEqual(await historyTexts(client, room), firstTexts, 'yet history reads it back');
  });

  it('records a key id on every row, and keeps keys.json at mode 0600', () => {
    const ids = keyIds(server.dataDir);
    for (const id of firstIds) assert.equal(ids.get(id), 'k1', `row ${id}`);
    assert.equal(mode(join(server.dataDir, 'keys.json')), 0o600);
  });

  it('`bulwark keys rotate`: new writes use the new key id, old rows stay readable, also after a restart', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'keys', 'rotate', '--data-dir', server.dataDir], {
      cwd: new URL('../..', import.meta.url).pathname,
      env: { ...process.env, BULWARK_ENCRYPTION_KEYS: '' },
      timeout: 30_000,
    });
    assert.match(stdout, /new current key k2/);
    assert.equal(mode(join(server.dataDir, 'keys.json')), 0o600, 'still 0600 after the rotation');
    // The running server polls the key file every 500 ms.
    await sleep(1500);
    const rotatedTexts = [1, 2, 3].map((i) => `${canary} after rotation ${i}`);
    const rotatedIds = await sendAll(client, room, rotatedTexts);
    await server.bulwark.store.flush();
    const ids = keyIds(server.dataDir);
    for (const id of rotatedIds) assert.equal(ids.get(id), 'k2', 'new rows use the new key');
    for (const id of firstIds) assert.equal(ids.get(id), 'k1', 'old rows keep theirs');
    assert.deepEqual(await historyTexts(client, room), [...firstTexts, ...rotatedTexts], 'both generations are readable');
    assert.equal(onDisk(server.dataDir, canary), false);

    client.close();
    server = await server.restart();
    client = await connect(server, uniq('crypt-again'));
    await client.ok({ type: 'room.join', room });
    assert.deepEqual(await historyTexts(client, room), [...firstTexts, ...rotatedTexts], 'readable after a restart');
    const [afterRestart] = await sendAll(client, room, [`${canary} after restart`]);
    await server.bulwark.store.flush();
    assert.equal(keyIds(server.dataDir).get(afterRestart!), 'k2');
    assert.equal(onDisk(server.dataDir, canary), false);
  });
});

describe('encryption.enabled: false (control)', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: loose({ encryption: { enabled: false } }) });
  });
  after(() => server.stop());

  it('stores plaintext, which the same probe finds: the probe can see plaintext when it is there', async () => {
    const canary = `PLAINTEXT-CONTROL-${randomBytes(6).toString('hex')}`;
    const c = await connect(server, uniq('plain'));
    const room = uniq('plain-room');
    await c.ok({ type: 'room.create', room, visibility: 'public' });
    await c.ok({ type: 'room.join', room });
    const [id] = await sendAll(c, room, [`${canary} in the clear`]);
    await server.bulwark.store.flush();
    assert.equal(onDisk(server.dataDir, canary), true);
    assert.equal(keyIds(server.dataDir).get(id!), null, 'no key id on a plaintext row');
    c.close();
  });
});
