/**
 * The `api` scenario (`npm run bench -- --scenarios api`, Bulwark only): the server API's publish,
 * `POST /api/v1/rooms/{room}/messages`, driven closed-loop by `concurrency` HTTP clients on
 * keep-alive connections while `subscribers` WebSocket clients (the load-generator workers) are
 * joined to the room and receive every message. The key is made by `bulwark apikeys create` on
 * the server's data directory, as an operator would.
 *
 * Reported: accepted publishes (`201`) per second, their HTTP latency (p50, p99), the server CPU
 * per publish, and — from the subscribers — deliveries per second and the delivery latency
 * (from the request's start to the `chat.message`'s arrival, in the text's `@time@` stamp).
 */
import { spawnSync } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Hist, mergeHists, type SparseHist } from './lib/hist.js';
import { REPO_DIR, Worker, cpuMicros, sleep } from './lib/proc.js';
import { round } from './lib/stats.js';

type Json = Record<string, unknown>;

export interface ApiParams {
  subscribers: number;
  /** Requests in flight at once (one per keep-alive connection). */
  concurrency: number;
  warmupMs: number;
  measureMs: number;
}

export const API_PARAMS: { quick: ApiParams; full: ApiParams } = {
  quick: { subscribers: 50, concurrency: 16, warmupMs: 500, measureMs: 3000 },
  full: { subscribers: 200, concurrency: 32, warmupMs: 1500, measureMs: 8000 },
};

/** Merged over the bench configuration: the key's budget out of the way (the limit is not what is measured). */
export function apiConfig(): Json {
  return { rateLimits: { api: { points: 100_000_000, durationMs: 10_000 } } };
}

export interface ApiCtx {
  server: { pid: number; port: number };
  workers: Worker[];
  /** The server's directory; its data directory is `<dir>/data`. */
  dir: string;
  log: (line: string) => void;
  connect(tag: string, prefix: string, n: number, concurrency: number): Promise<unknown>;
}

export interface ApiOut {
  value: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerOp: number;
  extra: Json;
}

const ROOM = 'api';
const wallNow = (): number => performance.timeOrigin + performance.now();
const all = <T = Json>(workers: Worker[], op: string, args: (w: number) => Json = () => ({})): Promise<T[]> => Promise.all(workers.map((w, i) => w.call<T>(op, args(i))));

function createKey(dataDir: string): string {
  const r = spawnSync(process.execPath, [join(REPO_DIR, 'dist/src/cli/main.js'), 'apikeys', 'create', '--scopes', 'publish', '--name', 'bench', '--data-dir', dataDir], {
    cwd: REPO_DIR,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`bulwark apikeys create failed: ${r.stderr}`);
  return r.stdout.trim();
}

interface Loop {
  ok: number;
  errors: number;
  statuses: Map<number, number>;
  hist: Hist;
  measuring: boolean;
  running: boolean;
}

/** One client: POST, wait for the answer, POST again, until stopped. */
async function client(port: number, key: string, agent: Agent, loop: Loop, id: number): Promise<void> {
  let n = 0;
  while (loop.running) {
    const t0 = performance.now();
    const body = JSON.stringify({ text: `@${wallNow().toFixed(3)}@ api bench msg ${id}-${n++} from the load generator` });
    const status = await new Promise<number>((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: `/api/v1/rooms/${ROOM}/messages`,
          agent,
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(0));
        },
      );
      req.on('error', () => resolve(0));
      req.end(body);
    });
    if (!loop.measuring) continue;
    if (status === 201) {
      loop.ok++;
      loop.hist.record(performance.now() - t0);
    } else {
      loop.errors++;
      loop.statuses.set(status, (loop.statuses.get(status) ?? 0) + 1);
    }
  }
}

export async function apiScenario(ctx: ApiCtx, p: ApiParams): Promise<ApiOut> {
  const pubWorker = ctx.workers[0]!;
  await pubWorker.call('connect', { tag: 'pub', users: ['room-owner'], concurrency: 1 });
  const created = await pubWorker.call<{ errors: string[] }>('fanout.create', { room: ROOM });
  if (created.errors.length) throw new Error(`room.create: ${created.errors[0]}`);
  await ctx.connect('subs', 'sub', p.subscribers, 64);
  const joined = await all<{ acked: number; errors: string[] }>(ctx.workers, 'fanout.join', () => ({ room: ROOM, probeEvery: 10 }));
  const joinErrors = joined.flatMap((r) => r.errors);
  if (joinErrors.length) throw new Error(`room.join: ${joinErrors[0]}`);
  const members = joined.reduce((a, r) => a + r.acked, 0);
  const key = createKey(join(ctx.dir, 'data'));

  const agent = new Agent({ keepAlive: true, maxSockets: p.concurrency });
  const loop: Loop = { ok: 0, errors: 0, statuses: new Map(), hist: new Hist(), measuring: false, running: true };
  const clients = Array.from({ length: p.concurrency }, (_, i) => client(ctx.server.port, key, agent, loop, i));
  await sleep(p.warmupMs);
  await all(ctx.workers, 'mark');
  const cpu0 = cpuMicros(ctx.server.pid);
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  loop.measuring = true;
  await sleep(p.measureMs);
  loop.measuring = false;
  const elapsed = performance.now() - t0;
  const cpu = cpuMicros(ctx.server.pid) - cpu0;
  const self = process.cpuUsage(self0);
  loop.running = false;
  await Promise.all(clients);
  agent.destroy();
  // The last messages' deliveries: wait until they stop arriving (bounded).
  let last = -1;
  for (let i = 0; i < 40; i++) {
    const counts = await all<{ deliveries: number }>(ctx.workers, 'count');
    const got = counts.reduce((a, c) => a + c.deliveries, 0);
    if (got === last) break;
    last = got;
    await sleep(50);
  }
  const reports = await all<{ deliveries: number; dropped: number; hist: SparseHist }>(ctx.workers, 'report');
  const deliveries = reports.reduce((a, r) => a + r.deliveries, 0);
  const dropped = reports.reduce((a, r) => a + r.dropped, 0);
  const delivery = mergeHists(reports.map((r) => r.hist));
  const perSec = loop.ok / (elapsed / 1000);
  if (loop.errors > 0) ctx.log(`[bench]   api: ${loop.errors} refused or failed requests (${[...loop.statuses].map(([s, n]) => `${s}: ${n}`).join(', ')})`);
  return {
    value: perSec,
    p50Ms: loop.hist.quantile(0.5),
    p99Ms: loop.hist.quantile(0.99),
    cpuUsPerOp: cpu / Math.max(1, loop.ok),
    extra: {
      subscribers: members,
      concurrency: p.concurrency,
      errors: loop.errors,
      deliveriesPerSec: round(deliveries / (elapsed / 1000)),
      // Deliveries are counted a little past the window (the last messages' arrivals), publishes within it.
      deliveredFraction: round(deliveries / Math.max(1, loop.ok * members)),
      deliveryP50Ms: round(delivery.quantile(0.5)),
      deliveryP99Ms: round(delivery.quantile(0.99)),
      dropped,
      serverCpuShare: round(cpu / (elapsed * 1000)),
      httpClientCpuShare: round((self.user + self.system) / (elapsed * 1000)),
    },
  };
}

/** The line in the result's notes. */
export function apiSummary(row: Json): string {
  const n = (k: string, d = 1): string => (Number.isFinite(Number(row[k])) ? Number(row[k]).toLocaleString('en-US', { maximumFractionDigits: d }) : 'n/a');
  return (
    `api: ${n('msgsPerSec', 0)} publishes/s (POST /api/v1/rooms/{room}/messages, ${n('concurrency', 0)} in flight), HTTP p50 ${n('p50Ms', 2)} ms, p99 ${n('p99Ms', 2)} ms, ` +
    `${n('serverCpuUsPerOp', 0)} server µs per publish; ${n('subscribers', 0)} WebSocket subscribers got ${n('deliveriesPerSec', 0)} deliveries/s, delivery p99 ${n('deliveryP99Ms', 2)} ms`
  );
}
