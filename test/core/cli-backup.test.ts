/**
 * `bulwark backup` and `bulwark restore` through the real CLI: a backup taken while a live server
 * acknowledges a stream of sends (and after a key rotation) restores into a new data directory,
 * a server started on it reads back every message acknowledged before the backup began, with
 * its text, and the copy is a gap-free prefix of the room.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer } from '../helpers/server.js';
import { openSocket, type TestClient } from '../helpers/client.js';
import { messagesOf, type WireMessage } from './fixtures.js';
import { run, tempDir, useCli } from './cli-support.js';

useCli();

const ROOM = 'backed-up';
const LOOSE = { rateLimits: { 'chat.send': { points: 100_000, durationMs: 1000 }, default: { points: 100_000, durationMs: 1000 } } };

async function history(client: TestClient): Promise<WireMessage[]> {
  const all: WireMessage[] = [];
  let after = 0;
  for (;;) {
    const page = await client.ok({ type: 'chat.history', room: ROOM, after, limit: 100 });
    const messages = messagesOf(page);
    all.push(...messages);
    if (!page.hasMore || messages.length === 0) return all;
    after = messages[messages.length - 1]!.seq;
  }
}

async function authed(server: { wsUrl: string; origin: string; token(sub: string): Promise<string> }, sub: string): Promise<TestClient> {
  const client = await openSocket(server);
  client.send({ type: 'auth', token: await server.token(sub) });
  await client.next('welcome');
  return client;
}

describe('bulwark backup and restore', () => {
  it('backs up under write load and restores every acknowledged message, readable, into a new data directory', async () => {
    const dataDir = tempDir();
    const server = await startServer({ dataDir, config: LOOSE });
    const writer = await authed(server, 'writer');
    await writer.ok({ type: 'room.create', room: ROOM, visibility: 'public' });
    await writer.ok({ type: 'room.join', room: ROOM });

    // A steady stream of sends, each waiting for its ack; `acked` maps seq → text.
    const acked = new Map<number, string>();
    let stop = false;
    let n = 0;
    const load = (async () => {
      while (!stop) {
        const text = `message ${++n}`;
        const ack = await writer.ok({ type: 'chat.send', room: ROOM, text });
        acked.set((ack.message as { seq: number }).seq, text);
      }
    })();
    const waitFor = async (count: number): Promise<void> => {
      while (acked.size < count) await new Promise((r) => setTimeout(r, 20));
    };

    await waitFor(100);
    const rotated = await run(['keys', 'rotate', '--data-dir', dataDir]);
    assert.equal(rotated.code, 0, rotated.stderr);
    await new Promise((r) => setTimeout(r, 1200)); // the server reloads the key ring every 500 ms
    await waitFor(acked.size + 50);

    const ackedBefore = new Map(acked);
    const dest = join(tempDir(), 'backup-1');
    const backup = await run(['backup', dest, '--data-dir', dataDir]);
    assert.equal(backup.code, 0, backup.stderr);
    assert.match(backup.stderr, new RegExp(`data directory ${dataDir} \\(from --data-dir\\)`));
    const sendsDuringBackup = acked.size - ackedBefore.size;
    stop = true;
    await load;
    writer.close();
    await server.stop();
    assert.ok(sendsDuringBackup > 0, 'the server kept acknowledging sends while the backup ran');

    assert.deepEqual(readdirSync(dest).sort(), ['bulwark.db', 'jwt-secret', 'keys.json', 'manifest.json']);
    assert.equal(statSync(dest).mode & 0o777, 0o700);
    for (const f of readdirSync(dest)) assert.equal(statSync(join(dest, f)).mode & 0o777, 0o600, f);

    const restoredDir = join(tempDir(), 'restored');
    const restored = await run(['restore', dest, '--data-dir', restoredDir]);
    assert.equal(restored.code, 0, restored.stderr);
    assert.equal(statSync(restoredDir).mode & 0o777, 0o700);

    const again = await startServer({ dataDir: restoredDir, config: LOOSE });
    try {
      const reader = await authed(again, 'reader');
      await reader.ok({ type: 'room.join', room: ROOM });
      const messages = await history(reader);
      const seqs = messages.map((m) => m.seq);
      assert.deepEqual(
        seqs,
        seqs.map((_, i) => i + 1),
        'a gap-free prefix of the room',
      );
      for (const [seq, text] of ackedBefore) assert.equal(messages[seq - 1]?.text, text, `acknowledged message ${seq} restored and readable`);
      for (const m of messages) assert.equal(m.text, acked.get(m.seq), `seq ${m.seq} is what was acknowledged`);
      reader.close();
    } finally {
      await again.stop();
    }
  });

  it('refuses to overwrite: an existing backup directory, a data directory that already has data, a damaged backup', async () => {
    const dataDir = tempDir();
    const server = await startServer({ dataDir, keepData: true });
    await server.stop();
    const dest = join(tempDir(), 'b');
    assert.equal((await run(['backup', dest, '--data-dir', dataDir])).code, 0);

    const again = await run(['backup', dest, '--data-dir', dataDir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not an empty directory/);

    const intoLive = await run(['restore', dest, '--data-dir', dataDir]);
    assert.equal(intoLive.code, 1);
    assert.match(intoLive.stderr, /already holds bulwark\.db/);

    writeFileSync(join(dest, 'keys.json'), '{"current":"k1","keys":{"k1":"AAAA"}}\n');
    const target = join(tempDir(), 'r');
    const damaged = await run(['restore', dest, '--data-dir', target]);
    assert.equal(damaged.code, 1);
    assert.match(damaged.stderr, /keys\.json does not match its checksum/);
    assert.equal(existsSync(join(target, 'bulwark.db')), false, 'nothing restored');

    const nowhere = await run(['backup', join(tempDir(), 'c'), '--data-dir', join(tempDir(), 'no-such-dir')]);
    assert.equal(nowhere.code, 1);
    assert.match(nowhere.stderr, /bulwark serve/);
  });
});
