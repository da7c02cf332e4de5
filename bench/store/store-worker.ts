/**
 * The store scenario, in its own process pinned to the server core: the real SqliteStore from
 * src/store/sqlite-store.ts (or, with `pg`, the PostgresStore in a schema of its own), appends issued many per event-loop turn (the store batches them
 * into one transaction per turn, as the server's frame pipeline does), and history pages of 100
 * on a large room. CPU per op is this process's own process.cpuUsage().
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { PostgresStore } from '../../src/store/postgres-store.js';
import type { Store } from '../../src/store/store.js';
import { newMessageId } from '../../src/domain/message-id.js';
import { Hist } from '../lib/hist.js';

type Json = Record<string, unknown>;
type Codec = ConstructorParameters<typeof SqliteStore>[0]['codec'];

/**
 * The server encrypts message text at rest by default (AES-256-GCM); the store scenario does the
 * same with the server's own codec when src/ has it, so stored msgs/s includes the encryption.
 */
let codec: Codec;
let codecName = 'plain';
async function loadCodec(): Promise<void> {
  try {
    const mod = (await import('../../src/security/at-rest.js')) as {
      EncryptingCodec?: new (ring: { current: string; keys: Map<string, Buffer> }) => NonNullable<Codec>;
    };
    if (mod.EncryptingCodec) {
      codec = new mod.EncryptingCodec({ current: 'k1', keys: new Map([['k1', randomBytes(32)]]) });
      codecName = 'aes-256-gcm (EncryptingCodec)';
    }
  } catch {
    codecName = 'plain (no EncryptingCodec in src/)';
  }
}
const codecReady = loadCodec();

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

function message(roomId: number, i: number): { id: string; roomId: number; roomName: string; userId: string; userName: string; text: string; ts: number } {
  return {
    // The server's own ids (time-ordered, so index inserts land at the end of the B-tree).
    id: newMessageId(),
    roomId,
    roomName: 'big',
    userId: `u${i % 1000}`,
    userName: `user ${i % 1000}`,
    text: `stored bench message ${i}: lorem ipsum dolor sit amet, consectetur adipiscing elit`,
    ts: Date.now(),
  };
}

/**
 * The store under test: SQLite at `path`, or PostgreSQL (`pg` = { url, schema }) with the same
 * codec, so both backends' figures include the encryption.
 */
async function openRoom(path: string, pg?: { url: string; schema: string }): Promise<{ store: Store; roomId: number }> {
  await codecReady;
  let store: Store;
  if (pg) {
    store = await PostgresStore.open({ url: pg.url, schema: pg.schema, codec });
  } else {
    mkdirSync(dirname(path), { recursive: true });
    store = new SqliteStore(codec ? { path, codec } : { path });
  }
  const existing = await store.getRoom('big');
  const room = existing ?? (await store.createRoom({ name: 'big', owner: 'bench', visibility: 'public', createdAt: Date.now() }));
  if (!room) throw new Error('cannot create room');
  return { store, roomId: room.id };
}

/** Appends `count` messages, `batch` per event-loop turn; returns throughput and latencies. */
async function append(args: Json): Promise<Json> {
  const count = Number(args['messages']);
  const batch = Number(args['batch'] ?? 1000);
  const { store, roomId } = await openRoom(String(args['path']), args['pg'] as { url: string; schema: string } | undefined);
  const hist = new Hist();
  const cpu0 = cpuNow();
  const t0 = performance.now();
  let done = 0;
  for (let base = 0; base < count; base += batch) {
    const n = Math.min(batch, count - base);
    const started = performance.now();
    const turn: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      turn.push(store.appendMessage(message(roomId, base + i)).then(() => hist.record(performance.now() - started)));
    }
    await Promise.all(turn);
    done += n;
  }
  const elapsedMs = performance.now() - t0;
  const cpuUs = cpuNow() - cpu0;
  await store.close();
  return { messages: done, elapsedMs, cpuUs, hist: hist.toSparse(), codec: codecName };
}

/** History pages of `limit` at random positions (and the latest page) on the big room. */
async function history(args: Json): Promise<Json> {
  const queries = Number(args['queries']);
  const limit = Number(args['limit'] ?? 100);
  const { store, roomId } = await openRoom(String(args['path']), args['pg'] as { url: string; schema: string } | undefined);
  const latest = await store.history(roomId, { limit: 1 });
  const top = latest.messages[0]?.seq ?? 0;
  const hist = new Hist();
  let rows = 0;
  // Warm-up: statement caches and the first pages.
  for (let i = 0; i < 50; i++) await store.history(roomId, { limit });
  const cpu0 = cpuNow();
  const t0 = performance.now();
  for (let i = 0; i < queries; i++) {
    const before = i % 10 === 0 ? undefined : 1 + limit + Math.floor(Math.random() * Math.max(1, top - limit));
    const s = performance.now();
    const page = await store.history(roomId, { before, limit });
    hist.record(performance.now() - s);
    rows += page.messages.length;
  }
  const elapsedMs = performance.now() - t0;
  const cpuUs = cpuNow() - cpu0;
  await store.close();
  return { queries, rows, roomSize: top, elapsedMs, cpuUs, hist: hist.toSparse() };
}

async function handle(op: string, args: Json): Promise<Json> {
  switch (op) {
    case 'append':
      return append(args);
    case 'history':
      return history(args);
    case 'exit':
      setTimeout(() => process.exit(0), 20);
      return {};
    default:
      throw new Error(`unknown op ${op}`);
  }
}

process.on('message', (req: { seq: number; op: string; args: Json }) => {
  handle(req.op, req.args).then(
    (result) => process.send?.({ seq: req.seq, ok: true, result }),
    (err: Error) => process.send?.({ seq: req.seq, ok: false, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
