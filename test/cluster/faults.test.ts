/**
 * The cluster under faults (issue 13, docs/cluster.md): three `bulwark serve` child processes
 * share PostgreSQL (a fresh schema) and a private `redis-server` on a spare port, with senders and
 * observers on every node, while the test
 * - stops Redis mid-stream and starts it again,
 * - SIGKILLs a node mid-stream,
 * - starts a node whose encryption key does not match the store's,
 * - starts a node pointed at a Redis that is not there.
 * For each it counts what was acknowledged against what is stored (they must be equal: lost = 0)
 * and, per observer that stayed connected, the stored messages it did not get live against those
 * a `room.resync` announced (missed without a resync must be 0), and checks live `seq` order.
 * Timing (ack p99, how long until a crashed node's connections stop counting) is measured and
 * printed in the table at the end, not asserted.
 *
 * Needs redis-server and PostgreSQL: skipped with a message when missing, except with CI=true.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { mintToken } from '../../src/auth/jwt.js';
import { AuthSchema } from '../../src/config/schema.js';
import { RedisServer, redisServerMissing, sparePort } from '../helpers/redis-server.js';
import { postgresMissing, TestSchemas } from '../helpers/postgres.js';
import { run, serve, useCli, type Served } from '../core/cli-support.js';

const missing = redisServerMissing() ?? (await postgresMissing());
if (missing && process.env.CI === 'true') {
  it('needs redis-server and PostgreSQL in CI', () => assert.fail(`${missing} (CI=true)`));
} else if (missing) {
  console.warn(`# skipping the cluster fault suite: ${missing}`);
} else {
  useCli();
}

const ORIGIN = 'https://chat.example';
const SECRET = randomBytes(32).toString('hex');
const KEYS = `k1:${randomBytes(32).toString('base64')}`;
const AUTH = AuthSchema.parse({});
const LOOSE = { points: 1_000_000, durationMs: 60_000 };
const MAX_PER_USER = 3;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const token = (sub: string): Promise<string> => mintToken(new TextEncoder().encode(SECRET), AUTH, { sub, ttlMs: 15 * 60_000 });

type Frame = Record<string, unknown> & { type: string };

/** A raw contract client that keeps what a fault suite counts: live seqs, resyncs, replies. */
class Probe {
  readonly live: number[] = [];
  readonly resyncs: number[] = [];
  closed = false;
  closeCode = 0;
  private readonly replies = new Map<string, (f: Frame) => void>();
  private n = 0;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.type === 'chat.message') this.live.push((frame.message as { seq: number }).seq);
      else if (frame.type === 'room.resync') this.resyncs.push(Number(frame.fromSeq));
      else if ((frame.type === 'ack' || frame.type === 'error') && typeof frame.id === 'string') this.replies.get(frame.id)?.(frame);
    });
    ws.on('close', (code) => {
      this.closed = true;
      this.closeCode = code;
      for (const resolve of this.replies.values()) resolve({ type: 'closed' });
      this.replies.clear();
    });
    ws.on('error', () => undefined);
  }

  /** Opens with an early token; resolves at `welcome`, rejects if closed first. */
  static open(node: Served, sub: string): Promise<Probe> {
    return token(sub).then(
      (jwt) =>
        new Promise<Probe>((resolve, reject) => {
          const ws = new WebSocket(node.wsUrl, ['bulwark.v1', `bulwark.bearer.${jwt}`], { headers: { Origin: ORIGIN } });
          const probe = new Probe(ws);
          ws.on('message', function welcome(data) {
            if ((JSON.parse(String(data)) as Frame).type !== 'welcome') return;
            ws.off('message', welcome);
            resolve(probe);
          });
          ws.on('close', (code) => reject(new Error(`closed ${code} before welcome`)));
          ws.on('unexpected-response', (_req, res) => reject(new Error(`handshake refused ${res.statusCode}`)));
          ws.on('error', reject);
        }),
    );
  }

  request(frame: Record<string, unknown>, timeoutMs = 10_000): Promise<Frame> {
    const id = `q${++this.n}`;
    return new Promise((resolve) => {
      if (this.closed) return resolve({ type: 'closed' });
      const timer = setTimeout(() => {
        this.replies.delete(id);
        resolve({ type: 'timeout' });
      }, timeoutMs);
      this.replies.set(id, (f) => {
        clearTimeout(timer);
        this.replies.delete(id);
        resolve(f);
      });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

interface Ack {
  id: string;
  startedAt: number;
  ms: number;
}

/** Sends one message at a time until told to stop (or the connection is gone); records every ack. */
async function sendLoop(probe: Probe, room: string, stop: { done: boolean }, acks: Ack[]): Promise<void> {
  for (let i = 0; !stop.done && !probe.closed; i++) {
    const startedAt = Date.now();
    const t0 = performance.now();
    const reply = await probe.request({ type: 'chat.send', room, text: `fault message ${i}` });
    if (reply.type === 'ack') acks.push({ id: (reply.message as { id: string }).id, startedAt, ms: performance.now() - t0 });
    await sleep(15);
  }
}

function p99(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)]!;
}

interface Row {
  fault: string;
  acked: number | string;
  stored: number | string;
  lost: number | string;
  missed: number | string;
  resynced: number | string;
  p99: string;
  notes: string;
}

function printTable(rows: Row[]): void {
  const head: Row = { fault: 'fault', acked: 'acked', stored: 'stored', lost: 'lost', missed: 'missed live', resynced: 'resynced', p99: 'ack p99', notes: 'notes' };
  const cols = Object.keys(head) as Array<keyof Row>;
  const width = (c: keyof Row): number => Math.max(...[head, ...rows].map((r) => String(r[c]).length));
  const line = (r: Row): string => `| ${cols.map((c) => String(r[c]).padEnd(width(c))).join(' | ')} |`;
  console.log(['', line(head), `|${cols.map((c) => '-'.repeat(width(c) + 2)).join('|')}|`, ...rows.map(line), ''].join('\n'));
}

describe('cluster faults (3 nodes, PostgreSQL, a private Redis)', { skip: missing }, () => {
  let redis: RedisServer;
  let schemas: TestSchemas;
  let databaseUrl: string;
  let configFile: string;
  const dirs: string[] = [];
  const nodes: Served[] = [];
  const probes: Probe[] = [];
  const rows: Row[] = [];

  const env = (extra: Record<string, string> = {}): Record<string, string> => {
    const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-fault-node-'));
    dirs.push(dataDir);
    return {
      BULWARK_CONFIG: configFile,
      BULWARK_DATA_DIR: dataDir,
      BULWARK_REDIS_URL: redis.url,
      BULWARK_DATABASE_URL: databaseUrl,
      BULWARK_JWT_SECRET: SECRET,
      BULWARK_ENCRYPTION_KEYS: KEYS,
      BULWARK_ALLOWED_ORIGINS: ORIGIN,
      ...extra,
    };
  };
  const open = async (node: Served, sub: string): Promise<Probe> => {
    const probe = await Probe.open(node, sub);
    probes.push(probe);
    return probe;
  };

  /** Observers on every node and one sender per node, all joined to a fresh room. */
  async function workload(room: string, on: Served[]): Promise<{ observers: Probe[]; senders: Probe[] }> {
    const observers = await Promise.all(on.map((n, i) => open(n, `observer-${room}-${i}`)));
    const senders = await Promise.all(on.map((n, i) => open(n, `sender-${room}-${i}`)));
    await senders[0]!.request({ type: 'room.create', room, visibility: 'public' });
    for (const p of [...observers, ...senders]) assert.equal((await p.request({ type: 'room.join', room })).type, 'ack');
    return { observers, senders };
  }

  async function storedIds(room: string): Promise<Map<string, number>> {
    const rowsOf = await schemas.query<{ id: string; seq: number }>(databaseUrl, 'SELECT m.id, m.seq FROM messages m JOIN rooms r ON r.id = m.room_id WHERE r.name = $1', [room]);
    return new Map(rowsOf.map((r) => [r.id, Number(r.seq)]));
  }

  /** Counts and checks one scenario; returns its table row. */
  async function account(fault: string, room: string, acks: Ack[], observers: Probe[], p99Of: Ack[], notes: string): Promise<Row> {
    const stored = await storedIds(room);
    const storedSeqs = [...stored.values()].sort((a, b) => a - b);
    const tail = storedSeqs.at(-1) ?? 0;
    const watching = observers.filter((o) => !o.closed);
    // Live delivery settles: each observer reaches the tail live or has a resync that covers the rest.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && !watching.every((o) => (o.live.at(-1) ?? 0) >= tail || o.resyncs.length > 0)) await sleep(50);
    await sleep(500);
    const lost = acks.filter((a) => !stored.has(a.id)).length;
    let missed = 0;
    let resynced = 0;
    for (const o of watching) {
      const got = new Set(o.live);
      for (const seq of storedSeqs) {
        if (got.has(seq)) continue;
        missed++;
        if (o.resyncs.some((from) => from <= seq)) resynced++;
      }
      for (let i = 1; i < o.live.length; i++) assert.ok(o.live[i]! > o.live[i - 1]!, `${fault}: live delivery out of seq order (${o.live[i - 1]} then ${o.live[i]})`);
    }
    const row: Row = {
      fault,
      acked: acks.length,
      stored: acks.length - lost,
      lost,
      missed,
      resynced,
      p99: `${p99(p99Of.map((a) => a.ms)).toFixed(1)} ms`,
      notes: `${storedSeqs.length} rows in the room; ${watching.length} observers; ${notes}`,
    };
    rows.push(row);
    assert.equal(lost, 0, `${fault}: acknowledged messages missing from storage`);
    assert.equal(missed - resynced, 0, `${fault}: live deliveries missed without a resync`);
    return row;
  }

  before(async () => {
    redis = await RedisServer.start();
    schemas = new TestSchemas();
    databaseUrl = await schemas.create();
    const dir = mkdtempSync(join(tmpdir(), 'bulwark-fault-config-'));
    dirs.push(dir);
    configFile = join(dir, 'config.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        limits: { maxConnectionsPerIp: 10_000, maxConnectionsPerUser: MAX_PER_USER },
        rateLimits: { handshake: LOOSE, default: LOOSE, 'chat.send': LOOSE },
        logLevel: 'silent',
      }),
    );
    // Three nodes: same JWT secret, same encryption keys, the load balancer's origin allowed.
    for (let i = 0; i < 3; i++) nodes.push(await serve([], env()));
  });

  after(async () => {
    printTable(rows);
    for (const p of probes) p.close();
    for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exit.catch(() => undefined)));
    await redis?.kill();
    await schemas?.dropAll();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('Redis stopped and started mid-stream: every ack stored, gaps announced, sends acked and clients admitted during the outage', async () => {
    const room = 'fault-redis';
    const { observers, senders } = await workload(room, nodes);
    const acks: Ack[] = [];
    const stop = { done: false };
    const loops = senders.map((s) => sendLoop(s, room, stop, acks));
    await sleep(1500);
    const down = Date.now();
    await redis.kill();
    await sleep(500);
    const t0 = performance.now();
    const late = await open(nodes[0]!, 'joins-during-outage');
    const admittedMs = performance.now() - t0;
    const ready = await fetch(`${nodes[1]!.url}/readyz`);
    const readyBody = (await ready.json()) as { status: string; reason?: string };
    await sleep(2500);
    await redis.resume();
    const up = Date.now();
    await sleep(3000);
    stop.done = true;
    await Promise.all(loops);
    assert.ok(!late.closed, 'the client admitted during the outage is still connected');
    assert.equal(ready.status, 503, 'not ready during the outage');
    assert.equal(readyBody.status, 'degraded');
    const during = acks.filter((a) => a.startedAt >= down && a.startedAt < up);
    assert.ok(during.length > 0, 'sends were acknowledged during the outage');
    const row = await account(
      'Redis stop/start (3.0 s)',
      room,
      acks,
      observers,
      during,
      `${during.length} acks during the outage (p99 is theirs); a client connecting during it admitted in ${admittedMs.toFixed(0)} ms`,
    );
    assert.ok(Number(row.missed) > 0, 'the outage did cost live deliveries (else this scenario proves nothing)');
  });

  it('a node SIGKILLed mid-stream: every ack stored, gaps announced, its connections stop counting', async () => {
    const room = 'fault-kill';
    const { observers, senders } = await workload(room, nodes);
    const victim = nodes[2]!;
    // A user at the per-user cap, all on the node about to die.
    for (let i = 0; i < MAX_PER_USER; i++) await open(victim, 'capped');
    await assert.rejects(Probe.open(nodes[0]!, 'capped'), /4429/, 'the cap holds across nodes');
    const acks: Ack[] = [];
    const stop = { done: false };
    const loops = senders.map((s) => sendLoop(s, room, stop, acks));
    await sleep(1500);
    victim.child.kill('SIGKILL');
    const killedAt = performance.now();
    // How long until the dead node's connections stop counting against the cap.
    let releasedMs = NaN;
    for (let attempt = 0; attempt < 300; attempt++) {
      try {
        await open(nodes[0]!, 'capped');
        releasedMs = performance.now() - killedAt;
        break;
      } catch {
        await sleep(100);
      }
    }
    assert.ok(Number.isFinite(releasedMs), "the crashed node's connections never stopped counting");
    await sleep(1500);
    stop.done = true;
    await Promise.all(loops);
    await victim.exit.catch(() => undefined);
    await account('node SIGKILL', room, acks, observers, acks, `crashed node's connections released after ${releasedMs.toFixed(0)} ms`);
  });

  it('a node whose encryption key does not match the store refuses to start and says which key', async () => {
    const t0 = performance.now();
    const ran = await run(['serve', '--port', '0'], env({ BULWARK_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}` }));
    const ms = performance.now() - t0;
    assert.equal(ran.code, 1, ran.stderr);
    assert.match(ran.stderr, /encryption key k1 is not the key k1 the store was written with/);
    rows.push({
      fault: 'mismatched keys',
      acked: '-',
      stored: '-',
      lost: '-',
      missed: '-',
      resynced: '-',
      p99: '-',
      notes: `exit 1 after ${ms.toFixed(0)} ms: ${ran.stderr.trim().slice(0, 90)}…`,
    });
  });

  it('a node pointed at a dead Redis exits at once, naming it without credentials', async () => {
    const port = await sparePort();
    const t0 = performance.now();
    const ran = await run(['serve', '--port', '0'], env({ BULWARK_REDIS_URL: `redis://ops:hunter2@127.0.0.1:${port}` }));
    const ms = performance.now() - t0;
    assert.equal(ran.code, 1, ran.stderr);
    assert.match(ran.stderr, new RegExp(`redis unavailable at redis://\\*\\*\\*:\\*\\*\\*@127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
    assert.ok(!ran.stderr.includes('hunter2'));
    rows.push({
      fault: 'dead Redis at start',
      acked: '-',
      stored: '-',
      lost: '-',
      missed: '-',
      resynced: '-',
      p99: '-',
      notes: `exit 1 after ${ms.toFixed(0)} ms: ${ran.stderr.trim()}`,
    });
  });
});
