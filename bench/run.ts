/**
 * Bulwark's benchmark: Bulwark (every defence on) against a bare `ws` server and Socket.IO with
 * the seed documents' middleware, same load generator, same run, same machine.
 *
 *   npm run bench                 full run (3 runs per scenario and system; a few minutes)
 *   npm run bench -- --quick      under 90 s: 1 run, shorter windows, fewer connections, 50k-message history room
 *
 * Options: --typing N (fanout with N subscribers typing), --runs N, --systems a,b, --scenarios echo,fanout,connect,idle,store (and fuzz, not in the
 * default set; api, attack and soak, not in the quick set), --no-pin,
 * --no-build, --profile (V8 CPU profiles of the bulwark server into <out>/profiles),
 * --out DIR (default bench/results). See bench/README.md for how to read the output.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import pg from 'pg';
import { mergeHists, type SparseHist } from './lib/hist.js';
import { BENCH_DIR, REPO_DIR, Worker, cpuMicros, detectPinning, freePort, pinSelf, rssBytes, sleep, usePriority, type Pinning } from './lib/proc.js';
import { round, spread } from './lib/stats.js';
import { cpuProbe } from './lib/probe.js';
import { SYSTEMS, type ServerHandle, type SystemDef } from './systems/index.js';
import { renderMarkdown, renderSvg, renderTable, type BenchResult, type FanoutPoint, type Row } from './report.js';
import { fuzzScenario } from './fuzz.js';
import { ATTACK_PARAMS, attackConfig, attackScenario } from './attack.js';
import { API_PARAMS, apiConfig, apiScenario, apiSummary } from './api.js';
import { POSTGRES_URL, postgresUnreachable } from '../test/helpers/postgres.js';

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name: string): boolean => argv.includes(`--${name}`);
const option = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
};

const quick = flag('quick');
const P = quick
  ? {
      runs: 1,
      echo: { clients: 100, window: 10, warmupMs: 500, measureMs: 1200 },
      // Rates x4 then three geometric refinements: the same 2^(1/4) resolution as the full run's ladder in fewer steps.
      fanout: { subscribers: 1000, rates: [10, 40, 160, 640, 2560], stepMs: 700, settleMaxMs: 1000, drainMaxMs: 5000, refine: 3 },
      connect: { connections: 1000, concurrency: 32 },
      idle: { connections: 2000, concurrency: 64, settleMs: 300, samples: 2 },
      store: { appends: 30_000, batch: 1000, roomSize: 50_000, queries: 1000 },
      soak: { clients: 300, rooms: 30, messagesPerSec: 150, churnMs: 1000, sampleMs: 5000 },
      attack: ATTACK_PARAMS.quick,
      api: API_PARAMS.quick,
    }
  : {
      runs: 3,
      echo: { clients: 100, window: 10, warmupMs: 1500, measureMs: 4000 },
      fanout: { subscribers: 1000, rates: [10, 20, 40, 80, 160, 320, 640, 1280, 2560], stepMs: 2500, settleMaxMs: 2000, drainMaxMs: 10_000, refine: 2 },
      connect: { connections: 5000, concurrency: 32 },
      idle: { connections: 10_000, concurrency: 64, settleMs: 2500, samples: 5 },
      store: { appends: 200_000, batch: 1000, roomSize: 1_000_000, queries: 3000 },
      soak: { clients: 300, rooms: 30, messagesPerSec: 150, churnMs: 1000, sampleMs: 10_000 },
      attack: ATTACK_PARAMS.full,
      api: API_PARAMS.full,
    };
const runs = Number(option('runs') ?? P.runs);
/** The soak's length: 60 minutes in the full run (3 when asked for in quick mode). */
const soakMinutes = Number(option('soak-minutes') ?? (quick ? 3 : 60));
/** Every system, quick or full (each in the scenarios it declares): issue 16's targets compare all of them. */
const systems = (option('systems') ?? Object.keys(SYSTEMS).join(',')).split(',').filter(Boolean);
/** Quick mode leaves the soak and the attack out unless asked for (`--quick --scenarios attack`: 10-s phases). */
const scenarios = (option('scenarios') ?? (quick ? 'echo,fanout,connect,idle,store' : 'echo,fanout,connect,idle,store,api,attack,soak')).split(',').filter(Boolean);
const outDir = option('out') ?? join(BENCH_DIR, 'results');
/** `--typing N`: during fanout, N subscribers (Bulwark systems only) each send `chat.typing` every 2 s, fanned out to the room. */
const typers = Number(option('typing') ?? 0);
const profile = flag('profile');
/** `--nice N` (e.g. -10): raised priority for server and load generator on a shared machine. */
const niceOption = option('nice');
let niceApplied: number | null = null;
/** Why the PostgreSQL store scenario did not run (undefined when it did, or was not asked for). */
let pgSkipped: string | undefined;
const WORKERS = 2;
/** Load-generator connections come from 127.0.0.2-33 (all loopback) to spread ephemeral ports. */
const LOCAL_ADDRESSES = Array.from({ length: 32 }, (_, i) => `127.0.0.${i + 2}`);
const KNEE_MS = 100;

for (const s of systems) if (!SYSTEMS[s]) throw new Error(`unknown system ${s} (known: ${Object.keys(SYSTEMS).join(', ')})`);

const log = (line: string): void => console.log(line);
const fmt = (x: number, d = 0): string => (Number.isFinite(x) ? x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : 'n/a');

// ---------------------------------------------------------------- build

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

function ensureBuilt(): void {
  if (!systems.some((s) => s === 'bulwark' || s === 'bulwark-socketio') || flag('no-build')) return;
  const main = join(REPO_DIR, 'dist/src/cli/main.js');
  const stale = !existsSync(main) || newestMtime(join(REPO_DIR, 'src')) > statSync(main).mtimeMs;
  if (!stale) return;
  log('[bench] building bulwark (dist/ is older than src/) ...');
  const r = spawnSync(process.execPath, [join(REPO_DIR, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO_DIR, stdio: 'inherit' });
  if (r.status !== 0) {
    if (!existsSync(main)) throw new Error('build failed and there is no dist/ to run');
    log('[bench] WARNING: build reported errors; benchmarking the dist/ that was emitted');
  }
}

// ---------------------------------------------------------------- harness

interface Ctx {
  sys: SystemDef;
  server: ServerHandle;
  workers: Worker[];
  secret: string;
  /** The server's directory (its data directory is `<dir>/data`). */
  dir: string;
  /** CPUs of the load generator (an extra load-generator process is pinned there too). */
  loadgenCpu: string | undefined;
}

type Json = Record<string, unknown>;

/** CPU time of the load-generator processes, to show whether they (not the server) saturate. */
const loadgenCpu = (ctx: Ctx): number => ctx.workers.reduce((a, w) => a + cpuMicros(w.child.pid!), 0);

const all = <T = Json>(workers: Worker[], op: string, args: (w: number) => Json = () => ({}), timeoutMs?: number): Promise<T[]> =>
  Promise.all(workers.map((w, i) => w.call<T>(op, args(i), timeoutMs)));

/** Users for one scenario, dealt to workers round-robin. */
function dealUsers(prefix: string, n: number, workers: number): string[][] {
  const out: string[][] = Array.from({ length: workers }, () => []);
  for (let i = 0; i < n; i++) out[i % workers]!.push(`${prefix}${i}`);
  return out;
}

interface ConnectReply {
  ok: number;
  failed: number;
  failures: string[];
  elapsedMs: number;
  hist: SparseHist;
}

async function connectUsers(ctx: Ctx, tag: string, prefix: string, n: number, concurrency: number): Promise<ConnectReply[]> {
  const dealt = dealUsers(prefix, n, ctx.workers.length);
  const replies = await all<ConnectReply>(ctx.workers, 'connect', (w) => ({ tag, users: dealt[w], concurrency, timeoutMs: 120_000 }), 150_000);
  const failed = replies.reduce((a, r) => a + r.failed, 0);
  if (failed > 0)
    log(
      `[bench]   ${ctx.sys.name}: ${failed}/${n} ${tag} connections failed: ${replies
        .flatMap((r) => r.failures)
        .slice(0, 3)
        .join(' | ')}`,
    );
  return replies;
}

// ---------------------------------------------------------------- scenarios

interface RunOut {
  value: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerOp: number;
  extra?: Json;
  curve?: FanoutPoint[];
}

async function echo(ctx: Ctx): Promise<RunOut> {
  const { clients, window, warmupMs, measureMs } = P.echo;
  await connectUsers(ctx, 'echo', 'echo', clients, 32);
  const prep = await all<{ errors: string[] }>(ctx.workers, 'echo.prepare');
  const prepErrors = prep.flatMap((r) => r.errors);
  if (prepErrors.length) throw new Error(`echo setup: ${prepErrors[0]}`);
  await all(ctx.workers, 'echo.start', () => ({ window }));
  await sleep(warmupMs);
  await all(ctx.workers, 'mark');
  const cpu0 = cpuMicros(ctx.server.pid);
  const lg0 = loadgenCpu(ctx);
  const t0 = performance.now();
  await sleep(measureMs);
  const reports = await all<{ ops: number; errors: number; hist: SparseHist }>(ctx.workers, 'report');
  const elapsed = performance.now() - t0;
  const cpu = cpuMicros(ctx.server.pid) - cpu0;
  const lg = loadgenCpu(ctx) - lg0;
  await all(ctx.workers, 'echo.stop');
  const ops = reports.reduce((a, r) => a + r.ops, 0);
  const errors = reports.reduce((a, r) => a + r.errors, 0);
  const h = mergeHists(reports.map((r) => r.hist));
  return {
    value: ops / (elapsed / 1000),
    p50Ms: h.quantile(0.5),
    p99Ms: h.quantile(0.99),
    cpuUsPerOp: cpu / ops,
    extra: { errors, serverCpuShare: cpu / (elapsed * 1000), loadgenCpuUsPerOp: lg / ops, loadgenCpuShare: lg / (elapsed * 1000) },
  };
}

/**
 * Below the knee: p99 within 100 ms, nobody dropped, (nearly) every delivery of the step's
 * messages arrived. Deliveries still in flight when publishing stops are waited for (bounded, see
 * `fanoutStep`), so a short step is not failed for its last few messages.
 */
const kneeOk = (p: FanoutPoint): boolean => p.p99Ms <= KNEE_MS && p.dropped === 0 && p.deliveredFraction >= 0.95;

interface FanoutStepCtx {
  ctx: Ctx;
  room: string;
  members: number;
}

/** One publisher rate: publish for `stepMs`, wait (bounded) for the step's deliveries, measure. */
async function fanoutStep({ ctx, room, members }: FanoutStepCtx, rate: number): Promise<FanoutPoint & { publisherKeptUp: boolean; complete: boolean }> {
  const { stepMs, settleMaxMs } = P.fanout;
  const pubWorker = ctx.workers[0]!;
  await all(ctx.workers, 'mark');
  const cpu0 = cpuMicros(ctx.server.pid);
  const lg0 = loadgenCpu(ctx);
  const t0 = performance.now();
  const sent = await pubWorker.call<{ sent: number; total: number; acked: number; errors: number; elapsedMs: number }>(
    'publish',
    { room, rate, durationMs: stepMs },
    stepMs + 30_000,
  );
  // The step's last messages are still on their way: wait until all arrived, or nothing moves
  // for 100 ms, or settleMaxMs. Late deliveries count, and so does their latency.
  const expected = sent.sent * members;
  const settleUntil = performance.now() + settleMaxMs;
  let last = -1;
  let still = 0;
  let complete = false;
  while (performance.now() < settleUntil) {
    const counts = await all<{ deliveries: number }>(ctx.workers, 'count');
    const got = counts.reduce((a, c) => a + c.deliveries, 0);
    complete = got >= expected;
    if (complete) break;
    still = got === last ? still + 1 : 0;
    if (still >= 4) break;
    last = got;
    await sleep(25);
  }
  const reports = await all<{ deliveries: number; dropped: number; hist: SparseHist }>(ctx.workers, 'report');
  const elapsed = performance.now() - t0;
  const cpu = cpuMicros(ctx.server.pid) - cpu0;
  const lg = loadgenCpu(ctx) - lg0;
  const deliveries = reports.reduce((a, r) => a + r.deliveries, 0);
  const dropped = reports.reduce((a, r) => a + r.dropped, 0);
  const h = mergeHists(reports.map((r) => r.hist));
  const deliveredFraction = expected > 0 ? deliveries / expected : 0;
  return {
    rate,
    offeredDeliveriesPerSec: rate * members,
    // Per second of publishing. Below the knee every delivery arrives within 100 ms of its
    // message, so this is the offered rate; past it, what arrived before the settle limit.
    deliveriesPerSec: deliveries / (sent.elapsedMs / 1000),
    deliveredFraction,
    p50Ms: h.quantile(0.5),
    p99Ms: h.quantile(0.99),
    serverCpuUsPerOp: deliveries > 0 ? cpu / deliveries : Number.NaN,
    published: sent.sent,
    dropped,
    serverCpuShare: cpu / (elapsed * 1000),
    loadgenCpuShare: lg / (elapsed * 1000),
    publisherKeptUp: sent.sent >= 0.9 * sent.total && sent.elapsedMs <= stepMs * 1.2 + 100,
    complete,
  };
}

/**
 * Waits (bounded) until every delivery of every message published so far has arrived, so the
 * next step starts from an empty pipe and counts only its own. False when the backlog did not
 * drain (then later steps would not be comparable).
 */
async function fanoutDrain(ctx: Ctx, expectedTotal: number): Promise<boolean> {
  let last = -1;
  let still = 0;
  const until = performance.now() + P.fanout.drainMaxMs;
  while (performance.now() < until) {
    const counts = await all<{ totalDeliveries: number }>(ctx.workers, 'count');
    const total = counts.reduce((a, c) => a + c.totalDeliveries, 0);
    if (total >= expectedTotal) {
      // Delivered, but a server past its knee may still be working off queues (write buffers,
      // its own backlog): the next step starts once it is mostly idle.
      while (performance.now() < until) {
        const cpu0 = cpuMicros(ctx.server.pid);
        await sleep(200);
        if ((cpuMicros(ctx.server.pid) - cpu0) / 200_000 < 0.3) return true;
      }
      return false;
    }
    still = total === last ? still + 1 : 0;
    if (still >= 5) return false;
    last = total;
    await sleep(100);
  }
  return false;
}

async function fanout(ctx: Ctx): Promise<RunOut> {
  const { subscribers, rates, refine } = P.fanout;
  const room = 'fanout';
  const pubWorker = ctx.workers[0]!;
  const pub = await pubWorker.call<ConnectReply>('connect', { tag: 'pub', users: ['publisher'], concurrency: 1 });
  if (pub.failed) throw new Error(`publisher: ${pub.failures[0]}`);
  const created = await pubWorker.call<{ errors: string[] }>('fanout.create', { room });
  if (created.errors.length) throw new Error(`room.create: ${created.errors[0]}`);
  await connectUsers(ctx, 'subs', 'sub', subscribers, 64);
  const joined = await all<{ acked: number; errors: string[] }>(ctx.workers, 'fanout.join', () => ({ room, probeEvery: 10 }));
  const joinErrors = joined.flatMap((r) => r.errors);
  if (joinErrors.length) throw new Error(`room.join: ${joinErrors[0]}`);
  const members = joined.reduce((a, r) => a + r.acked, 0);
  const step = { ctx, room, members };
  if (typers > 0) {
    const started = await all<{ typers: number }>(ctx.workers, 'typing.start', () => ({ room, every: Math.max(1, Math.floor(subscribers / typers)), everyMs: 2000 }));
    log(`[bench]   fanout ${ctx.sys.name}: typing traffic on, ${started.reduce((a, r) => a + r.typers, 0)} subscribers send chat.typing every 2 s (each fanned out to the room)`);
  }

  const curve: FanoutPoint[] = [];
  /** Deliveries owed so far: every message published times the room's members. */
  let owed = 0;
  let hiccups = 0;
  const measure = async (rate: number, retry = true): Promise<{ ok: boolean; usable: boolean }> => {
    const point = await fanoutStep(step, rate);
    const { publisherKeptUp, complete, ...p } = point;
    owed += p.published * members;
    // Late deliveries while neither the server nor the load generator was busy are a scheduling
    // hiccup of a shared machine, not a knee: that step is measured once more.
    const saturated = p.serverCpuShare >= 0.6 || p.loadgenCpuShare >= 0.6;
    if (retry && !kneeOk(p) && p.dropped === 0 && publisherKeptUp && !saturated) {
      hiccups++;
      log(
        `[bench]   fanout ${ctx.sys.name} ${fmt(rate)} msg/s: p99 ${fmt(p.p99Ms, 1)} ms with server CPU ${fmt(p.serverCpuShare * 100)}% and load gen CPU ${fmt(p.loadgenCpuShare * 100)}% (neither saturated): measured again`,
      );
      if (complete || (await fanoutDrain(ctx, owed))) return measure(rate, false);
    }
    curve.push(p);
    log(
      `[bench]   fanout ${ctx.sys.name} ${fmt(rate)} msg/s -> ${fmt(p.deliveriesPerSec)} deliveries/s (${fmt(p.deliveredFraction * 100, 1)}% delivered), p50 ${fmt(p.p50Ms, 1)} ms, p99 ${fmt(p.p99Ms, 1)} ms, ${fmt(p.serverCpuUsPerOp, 2)} µs/delivery, server CPU ${fmt(p.serverCpuShare * 100)}%, load gen CPU ${fmt(p.loadgenCpuShare * 100)}%${p.dropped ? `, ${p.dropped} subscribers dropped` : ''}${publisherKeptUp ? '' : ', publisher fell behind'}`,
    );
    // Every delivery of the step arrived: nothing is left in flight.
    const drained = complete || (await fanoutDrain(ctx, owed));
    if (!drained) log(`[bench]   fanout ${ctx.sys.name}: the backlog did not drain in ${fmt(P.fanout.drainMaxMs)} ms; no further steps`);
    // A dropped subscriber leaves the room smaller, a backlog skews the next step: later steps would not be comparable.
    return { ok: kneeOk(p) && publisherKeptUp, usable: p.dropped === 0 && drained };
  };

  let good: number | undefined;
  let bad: number | undefined;
  let usable = true;
  for (const rate of rates) {
    const r = await measure(rate);
    usable = r.usable;
    if (!r.ok) {
      bad = rate;
      break;
    }
    good = rate;
  }
  // Refine between the last good and the first bad rate (geometric midpoints): a ladder of
  // doublings alone would put each knee anywhere within a factor of 2.
  for (let i = 0; i < refine && usable && good !== undefined && bad !== undefined; i++) {
    const mid = Math.round(Math.sqrt(good * bad));
    if (mid <= good || mid >= bad) break;
    const r = await measure(mid);
    usable = r.usable;
    if (r.ok) good = mid;
    else bad = mid;
  }
  const knee = good === undefined ? undefined : curve.find((p) => p.rate === good);
  /** Why the knee is where it is: the server, the load generator (it saturated first), or the ladder ran out. */
  let kneeBound = 'none';
  if (knee) {
    const failed = bad === undefined ? undefined : curve.find((p) => p.rate === bad);
    if (!failed) kneeBound = 'ladder';
    else kneeBound = failed.loadgenCpuShare >= 0.9 && failed.serverCpuShare < 0.9 ? 'load generator' : 'server';
  }
  if (typers > 0) {
    const typed = await all<{ sent: number; received: number }>(ctx.workers, 'typing.stop');
    const sentSignals = typed.reduce((a, r) => a + r.sent, 0);
    const received = typed.reduce((a, r) => a + r.received, 0);
    log(`[bench]   fanout ${ctx.sys.name}: typing: ${fmt(sentSignals)} signals sent, ${fmt(received)} chat.typing frames delivered to subscribers`);
  }
  curve.sort((a, b) => a.rate - b.rate);
  return {
    value: knee ? knee.deliveriesPerSec : 0,
    p50Ms: knee ? knee.p50Ms : Number.NaN,
    p99Ms: knee ? knee.p99Ms : Number.NaN,
    cpuUsPerOp: knee ? knee.serverCpuUsPerOp : Number.NaN,
    extra: {
      kneeRate: knee ? knee.rate : 0,
      subscribers: members,
      kneeAtLowestRate: knee !== undefined && knee.rate === rates[0] ? 1 : 0,
      kneeBound,
      hiccupRetries: hiccups,
    },
    curve,
  };
}

async function connectScenario(ctx: Ctx): Promise<RunOut> {
  const { connections, concurrency } = P.connect;
  // Warm-up (JIT, allocator) with a few hundred handshakes that are not measured.
  await connectUsers(ctx, 'warm', 'warm', 200, concurrency);
  await all(ctx.workers, 'closeAll');
  await sleep(300);
  const cpu0 = cpuMicros(ctx.server.pid);
  const t0 = performance.now();
  const replies = await connectUsers(ctx, 'conn', 'conn', connections, concurrency);
  const elapsed = performance.now() - t0;
  const cpu = cpuMicros(ctx.server.pid) - cpu0;
  const ok = replies.reduce((a, r) => a + r.ok, 0);
  const h = mergeHists(replies.map((r) => r.hist));
  return { value: ok / (elapsed / 1000), p50Ms: h.quantile(0.5), p99Ms: h.quantile(0.99), cpuUsPerOp: cpu / ok, extra: { connections: ok } };
}

async function idle(ctx: Ctx): Promise<RunOut> {
  const { connections, concurrency, settleMs, samples: sampleCount } = P.idle;
  await connectUsers(ctx, 'warm', 'warm', 200, concurrency);
  await all(ctx.workers, 'closeAll');
  await sleep(quick ? 300 : 500);
  const rss0 = rssBytes(ctx.server.pid);
  const cpu0 = cpuMicros(ctx.server.pid);
  const replies = await connectUsers(ctx, 'idle', 'idle', connections, concurrency);
  const cpu = cpuMicros(ctx.server.pid) - cpu0;
  const ok = replies.reduce((a, r) => a + r.ok, 0);
  // Let the server settle (timers, GC), then take the median of a few samples.
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < sampleCount; i++) {
    samples.push(rssBytes(ctx.server.pid));
    await sleep(200);
  }
  const rss1 = spread(samples).median;
  const h = mergeHists(replies.map((r) => r.hist));
  return {
    value: (rss1 - rss0) / ok,
    p50Ms: h.quantile(0.5),
    p99Ms: h.quantile(0.99),
    cpuUsPerOp: cpu / ok,
    extra: { connections: ok, rssBeforeMB: round(rss0 / 2 ** 20), rssAfterMB: round(rss1 / 2 ** 20) },
  };
}

interface ScenarioDef {
  unit: string;
  metric: Row['metric'];
  run: (ctx: Ctx) => Promise<RunOut>;
  /** Only these systems take part. */
  systems?: readonly string[];
  /** One run whatever --runs says. */
  once?: boolean;
  /** Bulwark configuration merged over the bench configuration for this scenario. */
  config?: Json;
}

const SCENARIOS: Record<string, ScenarioDef> = {
  echo: { unit: 'msgs/s', metric: 'msgsPerSec', run: echo },
  fanout: { unit: 'deliveries/s at knee', metric: 'deliveriesPerSec', run: fanout },
  connect: { unit: 'handshakes/s', metric: 'handshakesPerSec', run: connectScenario },
  idle: { unit: 'bytes/conn', metric: 'bytesPerConn', run: idle },
  // Memory over time is a property of the server under test: Bulwark over /ws, once.
  soak: { unit: 'acked msgs/s', metric: 'msgsPerSec', run: soak, systems: ['bulwark'], once: true },
  // Users chatting, then the same under attack (bench/attack.ts): Bulwark over /ws, once.
  attack: {
    unit: 'legitimate acked msgs/s under attack',
    metric: 'msgsPerSec',
    run: (ctx) => attackScenario({ ...ctx, log }, P.attack),
    systems: ['bulwark'],
    once: true,
    config: attackConfig(),
  },
  // The server API's publish under HTTP load with WebSocket subscribers (bench/api.ts): Bulwark only.
  api: {
    unit: 'API publishes/s',
    metric: 'msgsPerSec',
    run: (ctx) => apiScenario({ ...ctx, log, connect: (tag, prefix, n, concurrency) => connectUsers(ctx, tag, prefix, n, concurrency) }, P.api),
    systems: ['bulwark'],
    config: apiConfig(),
  },
};

// ---------------------------------------------------------------- soak scenario

/** The server's V8 heap in use, from its Prometheus endpoint (Bulwark only), or NaN. */
async function heapUsedBytes(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await res.text();
    const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
    return m ? Number(m[1]) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

function rssSplitMiB(pid: number): { rssAnonMiB: number; rssFileMiB: number } {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
    return { rssAnonMiB: round(kb('RssAnon') / 1024), rssFileMiB: round((kb('RssFile') + kb('RssShmem')) / 1024) };
  } catch {
    return { rssAnonMiB: Number.NaN, rssFileMiB: Number.NaN };
  }
}

/** Least-squares slope of y over x. */
function slope(points: Array<[number, number]>): number {
  const pts = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length < 3) return Number.NaN;
  const mx = pts.reduce((a, [x]) => a + x, 0) / pts.length;
  const my = pts.reduce((a, [, y]) => a + y, 0) / pts.length;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

function soakSummary(r: Row & Json): string {
  const n = (k: string, d = 1): string => fmt(Number(r[k]), d);
  return (
    `soak: ${n('minutes', 0)} min, ${fmt(r.msgsPerSec ?? Number.NaN)} acked msgs/s with ${n('reconnects', 0)} reconnects; RSS ${n('rssAfterWarmupMiB')} -> ${n('rssEndMiB')} MiB after the first ${n('warmupMinutes')} min, ` +
    `slope ${n('rssSlopeMiBPer10Min', 2)} MiB per 10 min (heap ${n('heapSlopeMiBPer10Min', 2)}); p99 per interval ${n('p99MinAfterWarmupMs')}-${n('p99MaxAfterWarmupMs')} ms; ` +
    `${n('acked', 0)} acknowledged, ${n('stored', 0)} stored, ${n('ackedLost', 0)} acknowledged but not stored`
  );
}

/** Minutes of the soak read as warm-up: 10 (issue 16's "after the first 10 minutes"), a third of shorter soaks. */
const soakWarmupMin = (minutes: number): number => (minutes >= 20 ? 10 : minutes / 3);

interface SoakPoint {
  tMin: number;
  rssMiB: number;
  /** RSS split as the kernel counts it: anonymous (heaps, malloc) and file-backed (mapped files). */
  rssAnonMiB: number;
  rssFileMiB: number;
  heapMiB: number;
  ackedPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuShare: number;
}

/**
 * Memory over time: clients in rooms at a steady message rate with reconnect churn, for
 * `--soak-minutes`. Reports the RSS and heap slopes after the warm-up, p99 over time, and
 * whether every acknowledged message is in the database after the server stopped.
 */
async function soak(ctx: Ctx): Promise<RunOut> {
  const { clients, rooms, messagesPerSec, churnMs, sampleMs } = P.soak;
  const minutes = soakMinutes;
  await connectUsers(ctx, 'soak', 'soak', clients, 32);
  const prep = await ctx.workers[0]!.call<{ errors: string[] }>('soak.prepare', { rooms, create: true });
  if (prep.errors.length) throw new Error(`soak rooms: ${prep.errors[0]}`);
  // Worker w's clients start at room w: with clients dealt round-robin, every room gets clients / rooms.
  const joined = await all<{ errors: string[] }>(ctx.workers, 'soak.join', (w) => ({ rooms, offset: w }));
  const joinErrors = joined.flatMap((r) => r.errors);
  if (joinErrors.length) throw new Error(`soak join: ${joinErrors[0]}`);
  const intervalMs = (clients / messagesPerSec) * 1000;
  await all(ctx.workers, 'soak.start', () => ({ intervalMs, churnMs: churnMs * ctx.workers.length }));
  log(`[bench]   soak: ${clients} clients in ${rooms} rooms, ${messagesPerSec} msgs/s, one reconnect every ${churnMs} ms, for ${minutes} min`);

  const t0 = performance.now();
  const cpu0 = cpuMicros(ctx.server.pid);
  const series: SoakPoint[] = [];
  const hists: SparseHist[] = [];
  let lastAcked = 0;
  let lastT = t0;
  let lastCpu = cpu0;
  let lastLog = t0;
  while (performance.now() - t0 < minutes * 60_000) {
    await sleep(Math.min(sampleMs, minutes * 60_000 - (performance.now() - t0)));
    const now = performance.now();
    const samples = await all<{ acked: number; errors: number; reconnects: number; hist: SparseHist }>(ctx.workers, 'soak.sample');
    const acked = samples.reduce((a, r) => a + r.acked, 0);
    const h = mergeHists(samples.map((r) => r.hist));
    hists.push(...samples.map((r) => r.hist));
    const cpu = cpuMicros(ctx.server.pid);
    const point: SoakPoint = {
      tMin: round((now - t0) / 60_000),
      rssMiB: round(rssBytes(ctx.server.pid) / 2 ** 20),
      ...rssSplitMiB(ctx.server.pid),
      heapMiB: round((await heapUsedBytes(ctx.server.port)) / 2 ** 20),
      ackedPerSec: round((acked - lastAcked) / ((now - lastT) / 1000)),
      p50Ms: round(h.quantile(0.5)),
      p99Ms: round(h.quantile(0.99)),
      serverCpuShare: round((cpu - lastCpu) / ((now - lastT) * 1000)),
    };
    series.push(point);
    lastAcked = acked;
    lastT = now;
    lastCpu = cpu;
    if (now - lastLog >= 60_000 || now - t0 >= minutes * 60_000) {
      lastLog = now;
      const errors = samples.reduce((a, r) => a + r.errors, 0);
      const reconnects = samples.reduce((a, r) => a + r.reconnects, 0);
      log(
        `[bench]   soak ${fmt(point.tMin, 1)} min: RSS ${fmt(point.rssMiB, 1)} MiB (anon ${fmt(point.rssAnonMiB, 1)}, file ${fmt(point.rssFileMiB, 1)}), heap ${fmt(point.heapMiB, 1)} MiB, ${fmt(point.ackedPerSec)} acked/s, p99 ${fmt(point.p99Ms, 1)} ms, server CPU ${fmt(point.serverCpuShare * 100)}%, ${fmt(acked)} acked, ${reconnects} reconnects, ${errors} errors`,
      );
    }
  }
  const elapsed = performance.now() - t0;
  const cpu = cpuMicros(ctx.server.pid) - cpu0;
  const stopped = await all<{ ids: string[]; errors: number; reconnects: number; unanswered: number }>(ctx.workers, 'soak.stop', () => ({}), 60_000);
  const ids = stopped.flatMap((r) => r.ids);
  // SIGTERM: the server flushes its store and exits; then every acknowledged id must be in the database.
  await all(ctx.workers, 'closeAll').catch(() => {});
  await ctx.server.stop();
  const db = new Database(join(ctx.dir, 'data', 'bulwark.db'), { readonly: true });
  const stored = new Set((db.prepare('SELECT id FROM messages').pluck().all() as string[]).map(String));
  db.close();
  const lost = ids.filter((id) => !stored.has(id)).length;

  const warm = soakWarmupMin(minutes);
  const after = series.filter((p) => p.tMin >= warm);
  const rssSlope = slope(after.map((p) => [p.tMin, p.rssMiB])) * 10;
  const heapSlope = slope(after.map((p) => [p.tMin, p.heapMiB])) * 10;
  const all99 = mergeHists(hists);
  const p99s = after.map((p) => p.p99Ms).filter(Number.isFinite);
  log(
    `[bench]   soak: RSS ${fmt(after[0]?.rssMiB ?? Number.NaN, 1)} -> ${fmt(series.at(-1)?.rssMiB ?? Number.NaN, 1)} MiB after the first ${fmt(warm, 1)} min, slope ${fmt(rssSlope, 2)} MiB/10 min (heap ${fmt(heapSlope, 2)}); ${fmt(ids.length)} acked, ${fmt(stored.size)} stored, ${lost} acked but not stored`,
  );
  return {
    value: ids.length / (elapsed / 1000),
    p50Ms: all99.quantile(0.5),
    p99Ms: all99.quantile(0.99),
    cpuUsPerOp: cpu / Math.max(1, ids.length),
    extra: {
      minutes,
      warmupMinutes: round(warm),
      rssAfterWarmupMiB: after[0]?.rssMiB ?? Number.NaN,
      rssEndMiB: series.at(-1)?.rssMiB ?? Number.NaN,
      rssSlopeMiBPer10Min: round(rssSlope),
      heapSlopeMiBPer10Min: round(heapSlope),
      p99MaxAfterWarmupMs: p99s.length ? Math.max(...p99s) : Number.NaN,
      p99MinAfterWarmupMs: p99s.length ? Math.min(...p99s) : Number.NaN,
      acked: ids.length,
      stored: stored.size,
      ackedLost: lost,
      unanswered: stopped.reduce((a, r) => a + r.unanswered, 0),
      reconnects: stopped.reduce((a, r) => a + r.reconnects, 0),
      errors: stopped.reduce((a, r) => a + r.errors, 0),
      series,
    },
  };
}

// ---------------------------------------------------------------- store scenario

interface StoreReply {
  codec?: string;
  messages?: number;
  queries?: number;
  roomSize?: number;
  elapsedMs: number;
  cpuUsPerOp?: number;
  cpuUs: number;
  hist: SparseHist;
}

/** Runs `job` in a new store worker on the server core, then stops the worker. */
async function inFreshWorker<T>(pin: Pinning, job: (worker: Worker) => Promise<T>): Promise<T> {
  const worker = new Worker('store/store-worker.ts', pin.server);
  try {
    return await job(worker);
  } finally {
    await worker.exit();
  }
}

/** PostgreSQL for the store scenario's second backend (its own figures, no target). */
const PG_URL = process.env.BENCH_DATABASE_URL ?? POSTGRES_URL;

/**
 * The store scenario on one backend: SQLite (system `bulwark`, the target) or PostgreSQL in a
 * fresh schema dropped afterwards (system `bulwark-postgres`, reported with no target).
 */
async function storeScenario(pin: Pinning, tmp: string, backend: 'sqlite' | 'postgres'): Promise<Row> {
  const { appends, batch, roomSize, queries } = P.store;
  const system = backend === 'sqlite' ? 'bulwark' : 'bulwark-postgres';
  const worker = new Worker('store/store-worker.ts', pin.server);
  const schema = `bulwark_bench_${randomBytes(4).toString('hex')}`;
  const admin = backend === 'postgres' ? new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 5000 }) : undefined;
  const pgFor = (name: string): Json | undefined => (admin ? { pg: { url: PG_URL, schema: `${schema}_${name}` } } : undefined);
  try {
    if (admin) {
      await admin.connect();
      for (const name of ['big', ...Array.from({ length: runs }, (_, r) => `append${r}`)]) await admin.query(`CREATE SCHEMA ${schema}_${name}`);
    }
    const bigPath = join(tmp, 'store', 'big.db');
    log(`[bench] store (${backend}): building a ${fmt(roomSize)}-message room through ${backend === 'sqlite' ? 'SqliteStore' : 'PostgresStore'} ...`);
    const built = await worker.call<StoreReply>('append', { path: bigPath, messages: roomSize, batch: 10_000, ...pgFor('big') }, 900_000);
    log(`[bench]   built in ${fmt(built.elapsedMs / 1000, 1)} s (${fmt(roomSize / (built.elapsedMs / 1000))} msgs/s in batches of 10,000)`);
    const perRun: RunOut[] = [];
    for (let r = 0; r < runs; r++) {
      // Each run's appends in a process of their own, started fresh like every server in this bench:
      // after building the room above in batches of 10,000, appends in the same process cost
      // 10.0-10.5 µs/msg against 8.0-8.5 in a fresh one (same store and codec, measured). History
      // pages stay in the process that built the room.
      const a = await inFreshWorker(pin, (w) =>
        w.call<StoreReply>('append', { path: join(tmp, 'store', `append-${r}.db`), messages: appends, batch, ...pgFor(`append${r}`) }, 600_000),
      );
      const hq = await worker.call<StoreReply>('history', { path: bigPath, queries, limit: 100, ...pgFor('big') }, 300_000);
      const ah = mergeHists([a.hist]);
      const hh = mergeHists([hq.hist]);
      const out: RunOut = {
        value: appends / (a.elapsedMs / 1000),
        p50Ms: hh.quantile(0.5),
        p99Ms: hh.quantile(0.99),
        cpuUsPerOp: a.cpuUs / appends,
        extra: {
          backend,
          codec: a.codec,
          appendP50Ms: ah.quantile(0.5),
          appendP99Ms: ah.quantile(0.99),
          historyRoomMessages: hq.roomSize,
          historyCpuUsPerQuery: hq.cpuUs / queries,
        },
      };
      perRun.push(out);
      log(
        `[bench] store ${system} run ${r + 1}/${runs}: ${fmt(out.value)} stored msgs/s (batches of ${batch}), ${fmt(out.cpuUsPerOp, 2)} µs/msg; history page of 100 on ${fmt(hq.roomSize ?? 0)} msgs p50 ${fmt(out.p50Ms, 3)} ms p99 ${fmt(out.p99Ms, 3)} ms`,
      );
    }
    return aggregate('store', system, 'msgsPerSec', perRun);
  } finally {
    await worker.exit();
    if (admin) {
      for (const name of ['big', ...Array.from({ length: runs }, (_, r) => `append${r}`)]) await admin.query(`DROP SCHEMA IF EXISTS ${schema}_${name} CASCADE`).catch(() => {});
      await admin.end().catch(() => {});
    }
  }
}

// ---------------------------------------------------------------- aggregation

function aggregate(scenario: string, system: string, metric: Row['metric'], perRun: RunOut[]): Row {
  const pick = (f: (r: RunOut) => number) => spread(perRun.map(f));
  const value = pick((r) => r.value);
  const p50 = pick((r) => r.p50Ms);
  const p99 = pick((r) => r.p99Ms);
  const cpu = pick((r) => r.cpuUsPerOp);
  const row: Row = {
    scenario,
    system,
    metric,
    runs: perRun.length,
    [metric]: round(value.median),
    p50Ms: round(p50.median),
    p99Ms: round(p99.median),
    serverCpuUsPerOp: round(cpu.median),
    min: { [metric]: round(value.min), p50Ms: round(p50.min), p99Ms: round(p99.min), serverCpuUsPerOp: round(cpu.min) },
    max: { [metric]: round(value.max), p50Ms: round(p50.max), p99Ms: round(p99.max), serverCpuUsPerOp: round(cpu.max) },
  } as Row;
  // Scenario-specific extras: medians across runs; a text (why a knee is where it is) from the median run.
  const medianRun = perRun.reduce((best, r) => (Math.abs(r.value - value.median) < Math.abs(best.value - value.median) ? r : best), perRun[0]!);
  const extraKeys = new Set(perRun.flatMap((r) => Object.keys(r.extra ?? {})));
  for (const k of extraKeys) {
    const raw = perRun.map((r) => r.extra?.[k]);
    (row as unknown as Json)[k] = typeof raw[0] === 'string' || typeof raw[0] === 'object' ? medianRun.extra?.[k] : round(spread(raw.map(Number)).median);
  }
  if (perRun.some((r) => r.curve)) {
    // Median curve: per publisher rate, medians over the runs that reached that rate.
    const rates = [...new Set(perRun.flatMap((r) => r.curve ?? []).map((p) => p.rate))].sort((a, b) => a - b);
    row.curve = rates.map((rate) => {
      const pts = perRun.flatMap((r) => r.curve ?? []).filter((p) => p.rate === rate);
      const m = (f: (p: FanoutPoint) => number): number => round(spread(pts.map(f)).median);
      return {
        rate,
        offeredDeliveriesPerSec: m((p) => p.offeredDeliveriesPerSec),
        deliveriesPerSec: m((p) => p.deliveriesPerSec),
        p50Ms: m((p) => p.p50Ms),
        p99Ms: m((p) => p.p99Ms),
        serverCpuUsPerOp: m((p) => p.serverCpuUsPerOp),
        published: m((p) => p.published),
        dropped: m((p) => p.dropped),
        deliveredFraction: m((p) => p.deliveredFraction),
        serverCpuShare: m((p) => p.serverCpuShare),
        loadgenCpuShare: m((p) => p.loadgenCpuShare),
        runs: pts.length,
      };
    });
  }
  return row;
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = Date.now();
  const pin = detectPinning(flag('no-pin'));
  pinSelf(pin.loadgen);
  if (niceOption !== undefined) {
    if (usePriority(Number(niceOption))) niceApplied = Number(niceOption);
    else log(`[bench] WARNING: cannot run at nice ${niceOption} (needs root); running at normal priority`);
  }
  ensureBuilt();
  const probeStart = cpuProbe(pin.server);
  mkdirSync(outDir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), 'bulwark-bench-'));
  const secret = randomBytes(32).toString('base64url');
  const profileDir = profile ? join(outDir, 'profiles') : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  log(
    `[bench] ${quick ? 'quick' : 'full'} run: ${runs} run(s) per scenario and system; systems ${systems.join(', ')}; ` +
      (pin.pinned
        ? `server pinned to CPU ${pin.server}, load generator to CPU ${pin.loadgen} (taskset)`
        : `NOT pinned (${pin.cores} cores, taskset ${flag('no-pin') ? 'disabled' : 'unavailable'})`) +
      (niceApplied !== null ? `, nice ${niceApplied}` : '') +
      `; load average ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
  );

  const rows: Row[] = [];
  const timings: string[] = [];
  const workers = Array.from({ length: WORKERS }, () => new Worker('loadgen/worker.ts', pin.loadgen));
  try {
    for (const scenario of scenarios.filter((s) => s !== 'store' && s !== 'fuzz')) {
      const scenarioStart = performance.now();
      const def = SCENARIOS[scenario];
      if (!def) throw new Error(`unknown scenario ${scenario}`);
      // Runs go round the systems (run 1 of each, then run 2 of each, …) rather than system by
      // system, so a host that slows down during the scenario (a neighbour on a shared machine)
      // weighs on every system alike and the ratios between them stay fair.
      const taking = systems.filter((name) => (SYSTEMS[name]!.scenarios?.includes(scenario) ?? true) && (def.systems?.includes(name) ?? true));
      const perSystem = new Map<string, RunOut[]>(taking.map((name) => [name, []]));
      const rounds = def.once ? 1 : runs;
      for (let r = 0; r < rounds; r++) {
        for (const name of taking) {
          const sys = SYSTEMS[name]!;
          const port = await freePort();
          const dir = join(tmp, `${scenario}-${name}-${r}`);
          const server = await sys.start({
            port,
            dir,
            secret,
            cpu: pin.server,
            profileDir: profileDir ? join(profileDir, scenario, name) : undefined,
            ...(def.config ? { config: def.config } : {}),
          });
          try {
            await all(workers, 'init', (w) => ({ protocol: sys.protocol, port, secret, localAddresses: LOCAL_ADDRESSES, workerIndex: w }));
            const out = await def.run({ sys, server, workers, secret, dir, loadgenCpu: pin.loadgen });
            perSystem.get(name)!.push(out);
            log(
              `[bench] ${scenario} ${name} run ${r + 1}/${rounds}: ${fmt(out.value)} ${def.unit}, p50 ${fmt(out.p50Ms, 2)} ms, p99 ${fmt(out.p99Ms, 2)} ms, ${fmt(out.cpuUsPerOp, 2)} server µs/op` +
                (out.extra?.['loadgenCpuShare'] !== undefined
                  ? `, server CPU ${fmt(Number(out.extra['serverCpuShare']) * 100)}%, load gen CPU ${fmt(Number(out.extra['loadgenCpuShare']) * 100)}%`
                  : ''),
            );
          } finally {
            await all(workers, 'closeAll').catch(() => {});
            await server.stop();
          }
        }
      }
      for (const [name, perRun] of perSystem) rows.push(aggregate(scenario, name, def.metric, perRun));
      timings.push(`${scenario} ${fmt((performance.now() - scenarioStart) / 1000, 1)} s`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.exit()));
  }
  if (scenarios.includes('store') && systems.includes('bulwark')) {
    const storeStart = performance.now();
    rows.push(await storeScenario(pin, tmp, 'sqlite'));
    timings.push(`store ${fmt((performance.now() - storeStart) / 1000, 1)} s`);
    // PostgreSQL: its own figures, no target; skipped with a note when unreachable or with --no-postgres.
    // Quick mode keeps under 90 s: PostgreSQL only when asked for (--postgres).
    if (flag('no-postgres') || (quick && !flag('postgres')))
      pgSkipped = quick && !flag('no-postgres') ? 'skipped in quick mode (--postgres to include it)' : 'skipped (--no-postgres)';
    else pgSkipped = await postgresUnreachable(PG_URL);
    if (pgSkipped === undefined) {
      const pgStart = performance.now();
      rows.push(await storeScenario(pin, tmp, 'postgres'));
      timings.push(`store on PostgreSQL ${fmt((performance.now() - pgStart) / 1000, 1)} s`);
    } else {
      log(`[bench] store on PostgreSQL: ${pgSkipped.startsWith('skipped') ? pgSkipped : `unreachable at ${new URL(PG_URL).host} (${pgSkipped}); set BENCH_DATABASE_URL`}`);
    }
  }
  if (scenarios.includes('fuzz') && systems.includes('bulwark')) rows.push(await fuzzScenario({ quick, runs, tmp, secret, serverCpu: pin.server, log }));
  rmSync(tmp, { recursive: true, force: true });

  const probe = { start: probeStart, end: cpuProbe(pin.server) };
  const result = buildResult(rows, pin, Date.now() - started, probe);
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.svg'), renderSvg(result));
  writeFileSync(join(outDir, 'latest.md'), renderMarkdown(result));
  log('');
  log(renderTable(result));
  log(`[bench] wrote ${join(outDir, 'latest.json')}, latest.svg, latest.md in ${fmt((Date.now() - started) / 1000, 1)} s (${timings.join(', ')})`);
}

/**
 * Whether a figure can stand in a ratio: `undefined` when it can; otherwise why not, or (`bound`)
 * that it is only a lower bound (a fanout knee capped by the load generator or the rate ladder).
 */
type Standing = { ok: true; bound?: string } | { ok: false; why: string };

function standing(byScenario: Record<string, Record<string, Row>>, scenario: string, system: string): Standing {
  const row = byScenario[scenario]?.[system] as (Row & Json) | undefined;
  if (!row) return { ok: false, why: `${system} ${scenario} not run` };
  const value = Number(row[row.metric]);
  if (!Number.isFinite(value) || value <= 0) return { ok: false, why: `${system} ${scenario}: no result` };
  if (scenario === 'echo') {
    const errors = Number(row['errors'] ?? 0);
    if (errors > 0.01 * value) return { ok: false, why: `${system} echo: ${errors} errors` };
  }
  if (scenario === 'idle' && quick) {
    // Measured: 0.72 quick against 1.21 full on the same commit. A few thousand connections are
    // ~15 MB of RSS, within the steps in which the V8 heap and the allocator grow.
    return { ok: false, why: `idle in quick mode: ${P.idle.connections.toLocaleString('en-US')} connections are too few for RSS per connection` };
  }
  if (scenario === 'fanout') {
    if (Number(row['kneeAtLowestRate'] ?? 0) >= 0.5)
      return { ok: false, why: `${system} fanout: knee at the lowest rate (${P.fanout.rates[0]} msg/s), below the ladder's resolution` };
    const bound = String(row['kneeBound'] ?? '');
    if (bound === 'ladder') return { ok: true, bound: `${system} passed the top rate` };
    if (bound === 'load generator') return { ok: true, bound: `the load generator saturated before ${system}` };
  }
  return { ok: true };
}

function buildResult(rows: Row[], pin: Pinning, elapsedMs: number, probe: { start: number | null; end: number | null }): BenchResult {
  const byScenario: Record<string, Record<string, Row>> = {};
  for (const row of rows) (byScenario[row.scenario] ??= {})[row.system] = row;
  const get = (s: string, sys: string, k: string): number => Number((byScenario[s]?.[sys] as unknown as Json | undefined)?.[k]);
  const ratioNotes: Record<string, string> = {};
  /** a/b of one metric, or null with the reason in ratioNotes when a figure is not meaningful. */
  const ratioOf = (name: string, s: string, sysA: string, sysB: string, k: string): number | null => {
    const a = standing(byScenario, s, sysA);
    const b = standing(byScenario, s, sysB);
    if (!byScenario[s]?.[sysA] || !byScenario[s]?.[sysB]) return null;
    if (!a.ok || !b.ok) {
      ratioNotes[name] = `not meaningful: ${[...new Set([a, b].flatMap((x) => (x.ok ? [] : [x.why])))].join('; ')}`;
      return null;
    }
    const va = get(s, sysA, k);
    const vb = get(s, sysB, k);
    if (!Number.isFinite(va) || !Number.isFinite(vb) || vb === 0) return null;
    // Only throughput figures can be capped; a capped numerator makes the ratio a lower bound, a capped denominator an upper one.
    if (k === 'deliveriesPerSec' && (a.bound || b.bound)) {
      ratioNotes[name] = a.bound && b.bound ? `not meaningful: ${a.bound}; ${b.bound}` : a.bound ? `lower bound: ${a.bound}` : `upper bound: ${b.bound}`;
      if (a.bound && b.bound) return null;
    }
    return round(va / vb);
  };
  const ratios = {
    echo_vs_raw: ratioOf('echo_vs_raw', 'echo', 'bulwark', 'raw-ws', 'msgsPerSec'),
    echo_vs_socketio: ratioOf('echo_vs_socketio', 'echo', 'bulwark', 'socketio-seed', 'msgsPerSec'),
    echo_vs_socketio_store: ratioOf('echo_vs_socketio_store', 'echo', 'bulwark', 'socketio-seed-store', 'msgsPerSec'),
    fanout_vs_raw: ratioOf('fanout_vs_raw', 'fanout', 'bulwark', 'raw-ws', 'deliveriesPerSec'),
    fanout_vs_socketio: ratioOf('fanout_vs_socketio', 'fanout', 'bulwark', 'socketio-seed', 'deliveriesPerSec'),
    fanout_socketio_vs_seed: ratioOf('fanout_socketio_vs_seed', 'fanout', 'bulwark-socketio', 'socketio-seed', 'deliveriesPerSec'),
    connect_cpu_vs_raw: ratioOf('connect_cpu_vs_raw', 'connect', 'bulwark', 'raw-ws', 'serverCpuUsPerOp'),
    idle_vs_raw: ratioOf('idle_vs_raw', 'idle', 'bulwark', 'raw-ws', 'bytesPerConn'),
  };
  const extraRatios = {
    echo_cpu_vs_raw: ratioOf('echo_cpu_vs_raw', 'echo', 'bulwark', 'raw-ws', 'serverCpuUsPerOp'),
    echo_cpu_vs_socketio: ratioOf('echo_cpu_vs_socketio', 'echo', 'bulwark', 'socketio-seed', 'serverCpuUsPerOp'),
    echo_cpu_vs_socketio_store: ratioOf('echo_cpu_vs_socketio_store', 'echo', 'bulwark', 'socketio-seed-store', 'serverCpuUsPerOp'),
    echo_socketio_cpu_vs_ws: ratioOf('echo_socketio_cpu_vs_ws', 'echo', 'bulwark-socketio', 'bulwark', 'serverCpuUsPerOp'),
    fanout_cpu_vs_raw: ratioOf('fanout_cpu_vs_raw', 'fanout', 'bulwark', 'raw-ws', 'serverCpuUsPerOp'),
    fanout_socketio_cpu_vs_ws: ratioOf('fanout_socketio_cpu_vs_ws', 'fanout', 'bulwark-socketio', 'bulwark', 'serverCpuUsPerOp'),
  };
  const t = (name: string, target: string, actual: number | null, met: boolean | null, note?: string): BenchResult['targets'][number] => ({
    name,
    target,
    actual,
    met,
    ...(note ? { note } : {}),
  });
  const le = (a: number | null, b: number): boolean | null => (a === null ? null : a <= b);
  const ge = (a: number | null, b: number): boolean | null => (a === null ? null : a >= b);
  const storeRate = get('store', 'bulwark', 'msgsPerSec');
  const historyP99 = get('store', 'bulwark', 'p99Ms');
  const historyRoom = get('store', 'bulwark', 'historyRoomMessages');
  const soakSlope = get('soak', 'bulwark', 'rssSlopeMiBPer10Min');
  const soakLost = get('soak', 'bulwark', 'ackedLost');
  const num = (x: number): number | null => (Number.isFinite(x) ? round(x) : null);
  // A lower-bound ratio that meets a ">=" target still meets it; an upper-bound one meeting "<=" still does.
  const targets = [
    t('fanout bulwark-socketio knee vs socketio-seed', '>= 5x', ratios.fanout_socketio_vs_seed, ge(ratios.fanout_socketio_vs_seed, 5), ratioNotes['fanout_socketio_vs_seed']),
    t(
      'fanout bulwark-socketio server µs/delivery vs bulwark (ws)',
      '<= 3x',
      extraRatios.fanout_socketio_cpu_vs_ws,
      le(extraRatios.fanout_socketio_cpu_vs_ws, 3),
      ratioNotes['fanout_socketio_cpu_vs_ws'],
    ),
    t('fanout bulwark (ws) knee vs raw-ws', '>= 10x', ratios.fanout_vs_raw, ge(ratios.fanout_vs_raw, 10), ratioNotes['fanout_vs_raw']),
    t('echo server µs/msg vs raw-ws', '<= 1.7x', extraRatios.echo_cpu_vs_raw, le(extraRatios.echo_cpu_vs_raw, 1.7), ratioNotes['echo_cpu_vs_raw']),
    t('echo throughput vs socketio-seed-store', '>= 2x', ratios.echo_vs_socketio_store, ge(ratios.echo_vs_socketio_store, 2), ratioNotes['echo_vs_socketio_store']),
    t(
      'echo bulwark-socketio server µs/msg vs bulwark',
      '<= 1.3x',
      extraRatios.echo_socketio_cpu_vs_ws,
      le(extraRatios.echo_socketio_cpu_vs_ws, 1.3),
      ratioNotes['echo_socketio_cpu_vs_ws'],
    ),
    t('connect server µs/handshake vs raw-ws', '<= 1.5x', ratios.connect_cpu_vs_raw, le(ratios.connect_cpu_vs_raw, 1.5), ratioNotes['connect_cpu_vs_raw']),
    t('idle bytes/connection vs raw-ws', '<= 1.1x', ratios.idle_vs_raw, le(ratios.idle_vs_raw, 1.1), ratioNotes['idle_vs_raw']),
    t('store messages/s (encrypted)', '>= 100,000', num(storeRate), ge(num(storeRate), 100_000)),
    t(
      'history page of 100 on 1,000,000 messages, p99 (ms)',
      '<= 2 ms',
      num(historyP99),
      Number.isFinite(historyRoom) && historyRoom < 1_000_000 ? null : le(num(historyP99), 2),
      Number.isFinite(historyRoom) && historyRoom < 1_000_000 ? `not meaningful: the room held ${historyRoom.toLocaleString('en-US')} messages, not 1,000,000` : undefined,
    ),
    t(
      'soak RSS slope after the first 10 minutes (MiB per 10 min)',
      '<= 5',
      num(soakSlope),
      get('soak', 'bulwark', 'minutes') >= 20 ? le(num(soakSlope), 5) : null,
      Number.isFinite(soakSlope) && get('soak', 'bulwark', 'minutes') < 20
        ? `a ${get('soak', 'bulwark', 'minutes')}-minute soak: slope after its first ${get('soak', 'bulwark', 'warmupMinutes')} min; the target needs 20 minutes or more`
        : undefined,
    ),
    t('soak acknowledged messages lost', '= 0', num(soakLost), Number.isFinite(soakLost) ? soakLost === 0 : null),
    ...attackTargets(byScenario['attack']?.['bulwark'] as (Row & Json) | undefined),
  ];
  const scenarioTable: Record<string, Record<string, Row>> = {};
  for (const s of ['echo', 'fanout', 'connect', 'idle', 'store', 'soak', 'attack', 'api', 'fuzz']) if (byScenario[s]) scenarioTable[s] = byScenario[s];
  return {
    meta: {
      date: new Date().toISOString(),
      mode: quick ? 'quick' : 'full',
      runsPerScenario: runs,
      elapsedSeconds: round(elapsedMs / 1000),
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: pin.cores,
      pinned: pin.pinned,
      serverCpu: pin.server ?? null,
      loadgenCpu: pin.loadgen ?? null,
      loadgenProcesses: WORKERS,
      nice: niceApplied,
      loadAverageAtEnd: loadavg().map((x) => round(x)),
      /** ns per JSON round trip of a chat frame on the server core (bench/lib/probe.ts): the machine's speed at the start and end. */
      probeNsPerOp: probe,
      commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_DIR, encoding: 'utf8' }).stdout.trim(),
      /** Uncommitted changes under src/ were part of the measured build. */
      srcDirty: spawnSync('git', ['status', '--porcelain', 'src'], { cwd: REPO_DIR, encoding: 'utf8' }).stdout.trim() !== '',
      systems: Object.fromEntries(systems.map((s) => [s, SYSTEMS[s]!.describe])),
      params: P,
      notes: [
        ...(quick
          ? [
              `quick mode: 1 run, short windows, ${P.connect.connections.toLocaleString('en-US')} handshakes (not 5,000), ${P.idle.connections.toLocaleString('en-US')} idle connections (not 10,000); the history room holds ${P.store.roomSize.toLocaleString('en-US')} messages, not 1,000,000`,
            ]
          : []),
        `machine probe on the server core: ${probe.start ?? 'n/a'} ns per JSON round trip at the start, ${probe.end ?? 'n/a'} at the end (higher is slower; compare dated runs by it)`,
        ...(pgSkipped !== undefined ? [`store on PostgreSQL not measured: ${pgSkipped}`] : []),
        ...(byScenario['store']?.['bulwark-postgres']
          ? [
              `store on PostgreSQL (no target): ${fmt(get('store', 'bulwark-postgres', 'msgsPerSec'))} stored msgs/s, history page of 100 on ${fmt(get('store', 'bulwark-postgres', 'historyRoomMessages'))} messages p50 ${fmt(get('store', 'bulwark-postgres', 'p50Ms'), 2)} ms, p99 ${fmt(get('store', 'bulwark-postgres', 'p99Ms'), 2)} ms`,
            ]
          : []),
        ...(byScenario['soak']?.['bulwark'] ? [soakSummary(byScenario['soak']['bulwark'] as Row & Json)] : []),
        ...(byScenario['api']?.['bulwark'] ? [apiSummary(byScenario['api']['bulwark'] as Row & Json)] : []),
        ...(process.env.BENCH_BULWARK_CONFIG ? [`ablation: Bulwark ran with BENCH_BULWARK_CONFIG=${process.env.BENCH_BULWARK_CONFIG} (not the default defences)`] : []),
      ],
    },
    ...scenarioTable,
    ratios,
    extraRatios,
    ratioNotes,
    targets,
  } as BenchResult;
}

/** Issue 12's targets, judged on the attack scenario's figures (absent when it did not run). */
function attackTargets(row: (Row & Json) | undefined): BenchResult['targets'] {
  if (!row) return [];
  const base = row['baseline'] as Json;
  const atk = row['attack'] as Json;
  const after = row['after'] as Json;
  const n = (x: unknown): number => Number(x);
  const ratio = n(atk['ackP99Ms']) / n(base['ackP99Ms']);
  const leaked = n(after['pendingHandshakes']) + n(after['pendingAuth']);
  const growthMB = n(atk['dbGrowthBytes']) / 2 ** 20;
  const raised = n(row['criticalAlertsRaised']);
  const delivered = n(row['criticalAlertsDelivered']);
  const worst = n(row['worstCriticalAlertMs']);
  const rows = n(after['securityEventRows']);
  return [
    { name: 'attack: legitimate sends acknowledged under attack (%)', target: '= 100', actual: round(n(atk['ackedFraction']) * 100), met: n(atk['acked']) === n(atk['sent']) },
    {
      name: 'attack: legitimate ack p99 under attack vs no-attack baseline',
      target: '<= 2x',
      actual: round(ratio),
      met: Number.isFinite(ratio) ? ratio <= 2 : null,
      note: `${atk['ackP99Ms']} vs ${base['ackP99Ms']} ms`,
    },
    { name: 'attack: pending handshakes + pending auth after the attack', target: '= 0', actual: leaked, met: Number.isFinite(leaked) ? leaked === 0 : null },
    { name: 'attack: stored security events vs audit.maxRows', target: `<= ${n(row['auditMaxRows']).toLocaleString('en-US')}`, actual: rows, met: rows <= n(row['auditMaxRows']) },
    { name: 'attack: database growth during the attack (MB)', target: '<= 5', actual: round(growthMB), met: growthMB <= 5 },
    {
      name: 'attack: critical alert raised during the attack reaches the admin (worst, ms)',
      target: '<= 1000',
      actual: Number.isFinite(worst) ? worst : null,
      met: raised > 0 ? delivered === raised && worst <= 1000 : null,
      note: `${delivered} of ${raised} delivered`,
    },
  ];
}

main().catch((err: unknown) => {
  console.error('[bench] failed:', err);
  process.exit(1);
});
