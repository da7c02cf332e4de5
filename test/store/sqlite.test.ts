/** The store contract against SQLite (a fresh database file per test). */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite-store.js';
import { runStoreConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
runStoreConformance('sqlite', async () => {
  const path = join(dir, `store-${++n}.db`);
  return { store: new SqliteStore({ path }), reopen: async () => new SqliteStore({ path }) };
});

describe('sqlite: WAL checkpoints on a worker thread', () => {
  const fileSize = (path: string): number => (existsSync(path) ? statSync(path).size : 0);

  async function withMessages(path: string, options: Partial<SqliteStoreOptions>, count: number): Promise<SqliteStore> {
    const store = new SqliteStore({ path, ...options });
    const room = await store.createRoom({ name: 'wal', owner: 'alice', visibility: 'public', createdAt: Date.now() });
    assert.ok(room);
    const text = 'x'.repeat(200);
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        store.appendMessage({ id: `w${i.toString(36).padStart(6, '0')}`, roomId: room.id, roomName: room.name, userId: 'alice', userName: 'Alice', text, ts: Date.now() }),
      ),
    );
    return store;
  }

  test('committed pages reach the database file without the writer checkpointing, and close removes the WAL', async () => {
    const path = join(dir, 'wal-worker.db');
    const store = await withMessages(path, { checkpointIntervalMs: 50 }, 3000);
    // ~3000 rows of 200+ bytes: well under the writer's own threshold, so only the worker can copy them.
    const deadline = Date.now() + 5000;
    while (fileSize(path) < 600_000 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.ok(fileSize(path) >= 600_000, `database file holds the rows (${fileSize(path)} bytes)`);
    const reads = await store.history((await store.getRoom('wal'))!.id, { limit: 5 });
    assert.equal(reads.messages.length, 5);
    await store.close();
    assert.equal(existsSync(`${path}-wal`), false, 'the WAL is removed when the last connection closes');
    const reopened = new SqliteStore({ path });
    const room = await reopened.getRoom('wal');
    assert.equal((await reopened.history(room!.id, { limit: 100 })).messages.at(-1)?.seq, 3000);
    await reopened.close();
  });

  test("if the thread never gets to run, the writer's own threshold still checkpoints: the WAL stays bounded", async () => {
    const path = join(dir, 'wal-safety-net.db');
    // The thread's first tick is an hour away; the writer checkpoints past 50 pages (200 KB).
    const store = await withMessages(path, { checkpointIntervalMs: 3_600_000, writerCheckpointPages: 50 }, 3000);
    assert.ok(fileSize(path) >= 600_000, `the writer copied the rows into the database file (${fileSize(path)} bytes)`);
    await store.close();
  });

  test("with background checkpoints off, the rows stay in the WAL below SQLite's threshold", async () => {
    const path = join(dir, 'wal-inline.db');
    const store = await withMessages(path, { checkpointIntervalMs: 0 }, 300);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(fileSize(path) < 200_000, `no worker copied the rows (${fileSize(path)} bytes)`);
    assert.ok(fileSize(`${path}-wal`) > 60_000, 'the rows are in the WAL');
    await store.close();
  });
});

describe('sqlite: another process writing to the same database (the CLI: keys rotate, ban, revoke)', () => {
  test('every append commits while another connection keeps committing: no SQLITE_BUSY_SNAPSHOT from a read turned write', async () => {
    const path = join(dir, 'second-writer.db');
    const store = new SqliteStore({ path });
    const room = await store.createRoom({ name: 'busy', owner: 'alice', visibility: 'public', createdAt: Date.now() });
    assert.ok(room);
    // A second process with its own connection, committing small write transactions back to back
    // (what a CLI command does to a live server's database), until its stdin closes or 10 s pass.
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `const Database = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))});
         const db = new Database(${JSON.stringify(path)}); db.pragma('busy_timeout = 5000');
         const put = db.prepare("INSERT INTO key_checks (kind, key_id, check_value, created_at) VALUES ('encryption', 'other', ?, ?) ON CONFLICT(kind, key_id) DO UPDATE SET check_value = excluded.check_value");
         let open = true; process.stdin.on('end', () => { open = false; }); process.stdin.resume();
         const until = Date.now() + 10000; let n = 0;
         const step = () => { for (let i = 0; i < 50; i++) put.run(String(++n), Date.now()); if (n === 50) process.stdout.write('writing\\n'); if (open && Date.now() < until) setImmediate(step); else { db.close(); process.stdout.write('wrote ' + n + '\\n'); } };
         step();`,
      ],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    writer.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    while (!out.includes('writing')) await new Promise((r) => setTimeout(r, 10));
    const outcomes: Array<PromiseSettledResult<unknown>> = [];
    for (let turn = 0; turn < 60; turn++) {
      const batch = Array.from({ length: 40 }, (_, i) =>
        store.appendMessage({ id: `b${turn}-${i}`, roomId: room.id, roomName: room.name, userId: 'alice', userName: 'Alice', text: `m ${turn}.${i}`, ts: Date.now() }),
      );
      outcomes.push(...(await Promise.allSettled(batch)));
    }
    writer.stdin.end();
    await new Promise((r) => writer.once('exit', r));
    const failed = outcomes.filter((o) => o.status === 'rejected');
    assert.ok(/wrote (\d+)/.test(out) && Number(/wrote (\d+)/.exec(out)![1]) > 100, `the other process kept writing (${out.trim()})`);
    assert.deepEqual(
      failed.map((o) => String((o as PromiseRejectedResult).reason)),
      [],
      'no append failed',
    );
    const last = await store.history(room.id, { limit: 1 });
    assert.equal(last.messages.at(-1)?.seq, 60 * 40, 'every append is stored, gap-free');
    await store.close();
  });
});
