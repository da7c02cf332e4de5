/**
 * Bulwark's benchmark: Bulwark (every defence on) against a bare `ws` server and Socket.IO with
 * the seed documents' middleware, same load generator, same run, same machine.
 *
 *   npm run bench                 full run (3 runs per scenario and system; a few minutes)
 *   npm run bench -- --quick      under 90 s: 1 run, shorter windows, fewer connections, 50k-message history room
 *
 * Options: --runs N, --systems a,b, --scenarios echo,fanout,connect,idle,store (and fuzz, not in the default set), --no-pin,
 * --no-build, --profile (V8 CPU profiles of the bulwark server into <out>/profiles),
 * --out DIR (default bench/results). See bench/README.md for how to read the output.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { mergeHists, type SparseHist } from './lib/hist.js';
import { BENCH_DIR, REPO_DIR, Worker, cpuMicros, detectPinning, freePort, pinSelf, rssBytes, sleep, usePriority, type Pinning } from './lib/proc.js';
import { round, spread } from './lib/stats.js';
import { cpuProbe } from './lib/probe.js';
import { SYSTEMS, type ServerHandle, type SystemDef } from './systems/index.js';
import { renderMarkdown, renderSvg, renderTable, type BenchResult, type FanoutPoint, type Row } from './report.js';
import { fuzzScenario } from './fuzz.js';

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
      fanout: { subscribers: 1000, rates: [10, 25, 50, 100, 200, 400, 800], stepMs: 700, drainMaxMs: 1000 },
      connect: { connections: 1000, concurrency: 32 },
      idle: { connections: 2000, concurrency: 64, settleMs: 600 },
      store: { appends: 30_000, batch: 1000, roomSize: 50_000, queries: 1000 },
    }
  : {
      runs: 3,
      echo: { clients: 100, window: 10, warmupMs: 1500, measureMs: 4000 },
      fanout: { subscribers: 1000, rates: [10, 20, 40, 80, 160, 320, 640, 1280], stepMs: 2500, drainMaxMs: 4000 },
      connect: { connections: 5000, concurrency: 32 },
      idle: { connections: 10_000, concurrency: 64, settleMs: 2500 },
      store: { appends: 200_000, batch: 1000, roomSize: 1_000_000, queries: 3000 },
    };
const runs = Number(option('runs') ?? P.runs);
/** The three systems issue 5 compares; a quick run skips the extras (bulwark-socketio) unless asked for. */
const CORE_SYSTEMS = ['bulwark', 'raw-ws', 'socketio-seed'];
const systems = (option('systems') ?? (quick ? CORE_SYSTEMS : Object.keys(SYSTEMS)).join(',')).split(',').filter(Boolean);
const scenarios = (option('scenarios') ?? 'echo,fanout,connect,idle,store').split(',').filter(Boolean);
const outDir = option('out') ?? join(BENCH_DIR, 'results');
const profile = flag('profile');
/** `--nice N` (e.g. -10): raised priority for server and load generator on a shared machine. */
const niceOption = option('nice');
let niceApplied: number | null = null;
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

/** Below the knee: p99 within 100 ms, nobody dropped, (nearly) everything delivered in the step. */
const kneeOk = (p: FanoutPoint): boolean => p.p99Ms <= KNEE_MS && p.dropped === 0 && p.deliveredFraction >= 0.9;

async function fanout(ctx: Ctx): Promise<RunOut> {
  const { subscribers, rates, stepMs, drainMaxMs } = P.fanout;
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

  const curve: FanoutPoint[] = [];
  for (const rate of rates) {
    await all(ctx.workers, 'mark');
    const cpu0 = cpuMicros(ctx.server.pid);
    const lg0 = loadgenCpu(ctx);
    const t0 = performance.now();
    const sent = await pubWorker.call<{ sent: number; acked: number; errors: number; elapsedMs: number }>('publish', { room, rate, durationMs: stepMs }, stepMs + 30_000);
    const reports = await all<{ deliveries: number; dropped: number; hist: SparseHist }>(ctx.workers, 'report');
    const elapsed = performance.now() - t0;
    const cpu = cpuMicros(ctx.server.pid) - cpu0;
    const lg = loadgenCpu(ctx) - lg0;
    const deliveries = reports.reduce((a, r) => a + r.deliveries, 0);
    const dropped = reports.reduce((a, r) => a + r.dropped, 0);
    const h = mergeHists(reports.map((r) => r.hist));
    const point: FanoutPoint = {
      rate,
      offeredDeliveriesPerSec: rate * members,
      // Per second of publishing; deliveries still in flight when the step ends are not counted.
      deliveriesPerSec: deliveries / (sent.elapsedMs / 1000),
      deliveredFraction: sent.sent > 0 ? deliveries / (sent.sent * members) : 0,
      p50Ms: h.quantile(0.5),
      p99Ms: h.quantile(0.99),
      serverCpuUsPerOp: deliveries > 0 ? cpu / deliveries : Number.NaN,
      published: sent.sent,
      dropped,
      serverCpuShare: cpu / (elapsed * 1000),
      loadgenCpuShare: lg / (elapsed * 1000),
    };
    curve.push(point);
    log(
      `[bench]   fanout ${ctx.sys.name} ${fmt(rate)} msg/s -> ${fmt(point.deliveriesPerSec)} deliveries/s, p50 ${fmt(point.p50Ms, 1)} ms, p99 ${fmt(point.p99Ms, 1)} ms, ${fmt(point.serverCpuUsPerOp, 2)} µs/delivery, server CPU ${fmt(point.serverCpuShare * 100)}%, load gen CPU ${fmt(point.loadgenCpuShare * 100)}%${dropped ? `, ${dropped} subscribers dropped` : ''}`,
    );
    const overloaded = !kneeOk(point) || sent.sent < 0.9 * rate * (stepMs / 1000);
    // Drain what is still queued before the next step (bounded).
    let last = -1;
    const until = performance.now() + drainMaxMs;
    while (performance.now() < until) {
      const counts = await all<{ totalDeliveries: number }>(ctx.workers, 'count');
      const total = counts.reduce((a, c) => a + c.totalDeliveries, 0);
      if (total === last) break;
      last = total;
      await sleep(250);
    }
    if (overloaded) break;
  }
  const ok = curve.filter(kneeOk);
  const knee = ok[ok.length - 1];
  return {
    value: knee ? knee.deliveriesPerSec : 0,
    p50Ms: knee ? knee.p50Ms : Number.NaN,
    p99Ms: knee ? knee.p99Ms : Number.NaN,
    cpuUsPerOp: knee ? knee.serverCpuUsPerOp : Number.NaN,
    extra: { kneeRate: knee ? knee.rate : 0, subscribers: members },
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
  const { connections, concurrency, settleMs } = P.idle;
  await connectUsers(ctx, 'warm', 'warm', 200, concurrency);
  await all(ctx.workers, 'closeAll');
  await sleep(500);
  const rss0 = rssBytes(ctx.server.pid);
  const cpu0 = cpuMicros(ctx.server.pid);
  const replies = await connectUsers(ctx, 'idle', 'idle', connections, concurrency);
  const cpu = cpuMicros(ctx.server.pid) - cpu0;
  const ok = replies.reduce((a, r) => a + r.ok, 0);
  // Let the server settle (timers, GC), then take the median of a few samples.
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) {
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

const SCENARIOS: Record<string, { unit: string; metric: Row['metric']; run: (ctx: Ctx) => Promise<RunOut> }> = {
  echo: { unit: 'msgs/s', metric: 'msgsPerSec', run: echo },
  fanout: { unit: 'deliveries/s at knee', metric: 'deliveriesPerSec', run: fanout },
  connect: { unit: 'handshakes/s', metric: 'handshakesPerSec', run: connectScenario },
  idle: { unit: 'bytes/conn', metric: 'bytesPerConn', run: idle },
};

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

async function storeScenario(pin: Pinning, tmp: string): Promise<Row> {
  const { appends, batch, roomSize, queries } = P.store;
  const worker = new Worker('store/store-worker.ts', pin.server);
  try {
    const bigPath = join(tmp, 'store', 'big.db');
    log(`[bench] store: building a ${fmt(roomSize)}-message room through SqliteStore ...`);
    const built = await worker.call<StoreReply>('append', { path: bigPath, messages: roomSize, batch: 10_000 }, 600_000);
    log(`[bench]   built in ${fmt(built.elapsedMs / 1000, 1)} s (${fmt(roomSize / (built.elapsedMs / 1000))} msgs/s in batches of 10,000)`);
    const perRun: RunOut[] = [];
    for (let r = 0; r < runs; r++) {
      const a = await worker.call<StoreReply>('append', { path: join(tmp, 'store', `append-${r}.db`), messages: appends, batch }, 300_000);
      const hq = await worker.call<StoreReply>('history', { path: bigPath, queries, limit: 100 }, 300_000);
      const ah = mergeHists([a.hist]);
      const hh = mergeHists([hq.hist]);
      const out: RunOut = {
        value: appends / (a.elapsedMs / 1000),
        p50Ms: hh.quantile(0.5),
        p99Ms: hh.quantile(0.99),
        cpuUsPerOp: a.cpuUs / appends,
        extra: { codec: a.codec, appendP50Ms: ah.quantile(0.5), appendP99Ms: ah.quantile(0.99), historyRoomMessages: hq.roomSize, historyCpuUsPerQuery: hq.cpuUs / queries },
      };
      perRun.push(out);
      log(
        `[bench] store bulwark run ${r + 1}/${runs}: ${fmt(out.value)} stored msgs/s (batches of ${batch}), ${fmt(out.cpuUsPerOp, 2)} µs/msg; history page of 100 on ${fmt(hq.roomSize ?? 0)} msgs p50 ${fmt(out.p50Ms, 3)} ms p99 ${fmt(out.p99Ms, 3)} ms`,
      );
    }
    return aggregate('store', 'bulwark', 'msgsPerSec', perRun);
  } finally {
    await worker.exit();
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
  // Scenario-specific extras: medians across runs.
  const extraKeys = new Set(perRun.flatMap((r) => Object.keys(r.extra ?? {})));
  for (const k of extraKeys) {
    const raw = perRun.map((r) => r.extra?.[k]);
    (row as unknown as Json)[k] = typeof raw[0] === 'string' ? raw[0] : round(spread(raw.map(Number)).median);
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
  const workers = Array.from({ length: WORKERS }, () => new Worker('loadgen/worker.ts', pin.loadgen));
  try {
    for (const scenario of scenarios.filter((s) => s !== 'store' && s !== 'fuzz')) {
      const def = SCENARIOS[scenario];
      if (!def) throw new Error(`unknown scenario ${scenario}`);
      for (const name of systems) {
        const sys = SYSTEMS[name]!;
        const perRun: RunOut[] = [];
        for (let r = 0; r < runs; r++) {
          const port = await freePort();
          const dir = join(tmp, `${scenario}-${name}-${r}`);
          const server = await sys.start({ port, dir, secret, cpu: pin.server, profileDir: name === 'bulwark' && profileDir ? join(profileDir, scenario) : undefined });
          try {
            await all(workers, 'init', (w) => ({ protocol: sys.protocol, port, secret, localAddresses: LOCAL_ADDRESSES, workerIndex: w }));
            const out = await def.run({ sys, server, workers, secret });
            perRun.push(out);
            log(
              `[bench] ${scenario} ${name} run ${r + 1}/${runs}: ${fmt(out.value)} ${def.unit}, p50 ${fmt(out.p50Ms, 2)} ms, p99 ${fmt(out.p99Ms, 2)} ms, ${fmt(out.cpuUsPerOp, 2)} server µs/op` +
                (out.extra?.['loadgenCpuShare'] !== undefined
                  ? `, server CPU ${fmt(Number(out.extra['serverCpuShare']) * 100)}%, load gen CPU ${fmt(Number(out.extra['loadgenCpuShare']) * 100)}%`
                  : ''),
            );
          } finally {
            await all(workers, 'closeAll').catch(() => {});
            await server.stop();
          }
        }
        rows.push(aggregate(scenario, name, def.metric, perRun));
      }
    }
  } finally {
    await Promise.all(workers.map((w) => w.exit()));
  }
  if (scenarios.includes('store') && systems.includes('bulwark')) rows.push(await storeScenario(pin, tmp));
  if (scenarios.includes('fuzz') && systems.includes('bulwark')) rows.push(await fuzzScenario({ quick, runs, tmp, secret, serverCpu: pin.server, log }));
  rmSync(tmp, { recursive: true, force: true });

  const probe = { start: probeStart, end: cpuProbe(pin.server) };
  const result = buildResult(rows, pin, Date.now() - started, probe);
  writeFileSync(join(outDir, 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(outDir, 'latest.svg'), renderSvg(result));
  writeFileSync(join(outDir, 'latest.md'), renderMarkdown(result));
  log('');
  log(renderTable(result));
  log(`[bench] wrote ${join(outDir, 'latest.json')}, latest.svg, latest.md in ${fmt((Date.now() - started) / 1000, 1)} s`);
}

function buildResult(rows: Row[], pin: Pinning, elapsedMs: number, probe: { start: number | null; end: number | null }): BenchResult {
  const byScenario: Record<string, Record<string, Row>> = {};
  for (const row of rows) (byScenario[row.scenario] ??= {})[row.system] = row;
  const get = (s: string, sys: string, k: string): number => Number((byScenario[s]?.[sys] as unknown as Json | undefined)?.[k]);
  const ratio = (a: number, b: number): number | null => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? round(a / b) : null);
  const ratios = {
    echo_vs_raw: ratio(get('echo', 'bulwark', 'msgsPerSec'), get('echo', 'raw-ws', 'msgsPerSec')),
    echo_vs_socketio: ratio(get('echo', 'bulwark', 'msgsPerSec'), get('echo', 'socketio-seed', 'msgsPerSec')),
    fanout_vs_raw: ratio(get('fanout', 'bulwark', 'deliveriesPerSec'), get('fanout', 'raw-ws', 'deliveriesPerSec')),
    fanout_vs_socketio: ratio(get('fanout', 'bulwark', 'deliveriesPerSec'), get('fanout', 'socketio-seed', 'deliveriesPerSec')),
    connect_cpu_vs_raw: ratio(get('connect', 'bulwark', 'serverCpuUsPerOp'), get('connect', 'raw-ws', 'serverCpuUsPerOp')),
    idle_vs_raw: ratio(get('idle', 'bulwark', 'bytesPerConn'), get('idle', 'raw-ws', 'bytesPerConn')),
  };
  const extraRatios = {
    echo_cpu_vs_raw: ratio(get('echo', 'bulwark', 'serverCpuUsPerOp'), get('echo', 'raw-ws', 'serverCpuUsPerOp')),
    echo_cpu_vs_socketio: ratio(get('echo', 'bulwark', 'serverCpuUsPerOp'), get('echo', 'socketio-seed', 'serverCpuUsPerOp')),
    fanout_cpu_vs_raw: ratio(get('fanout', 'bulwark', 'serverCpuUsPerOp'), get('fanout', 'raw-ws', 'serverCpuUsPerOp')),
  };
  const t = (name: string, target: string, actual: number | null, met: boolean | null): BenchResult['targets'][number] => ({ name, target, actual, met });
  const le = (a: number | null, b: number): boolean | null => (a === null ? null : a <= b);
  const ge = (a: number | null, b: number): boolean | null => (a === null ? null : a >= b);
  const p99 = (s: string, sys: string): number => get(s, sys, 'p99Ms');
  const echoP99 = p99('echo', 'bulwark');
  const targets = [
    t('echo throughput vs raw-ws', '>= 0.6x', ratios.echo_vs_raw, ge(ratios.echo_vs_raw, 0.6)),
    t('echo server µs/msg vs raw-ws', '<= 1.7x', extraRatios.echo_cpu_vs_raw, le(extraRatios.echo_cpu_vs_raw, 1.7)),
    t('echo throughput vs socketio-seed', '>= 2x', ratios.echo_vs_socketio, ge(ratios.echo_vs_socketio, 2)),
    t(
      'echo p99 no worse than raw-ws and socketio-seed',
      '<= min(p99)',
      round(echoP99),
      Number.isFinite(echoP99) ? echoP99 <= Math.min(p99('echo', 'raw-ws'), p99('echo', 'socketio-seed')) : null,
    ),
    t('fanout deliveries/s at knee vs raw-ws', '>= 3x', ratios.fanout_vs_raw, ge(ratios.fanout_vs_raw, 3)),
    t('connect server µs/handshake vs raw-ws', '<= 2x', ratios.connect_cpu_vs_raw, le(ratios.connect_cpu_vs_raw, 2)),
    t('idle bytes/connection vs raw-ws', '<= 1.3x', ratios.idle_vs_raw, le(ratios.idle_vs_raw, 1.3)),
    t('store messages/s', '>= 50,000', round(get('store', 'bulwark', 'msgsPerSec')), ge(get('store', 'bulwark', 'msgsPerSec') || null, 50_000)),
    t(
      'history page of 100, p99 (ms)',
      '< 5 ms',
      round(get('store', 'bulwark', 'p99Ms')),
      Number.isFinite(get('store', 'bulwark', 'p99Ms')) ? get('store', 'bulwark', 'p99Ms') < 5 : null,
    ),
  ];
  const scenarioTable: Record<string, Record<string, Row>> = {};
  for (const s of ['echo', 'fanout', 'connect', 'idle', 'store', 'fuzz']) if (byScenario[s]) scenarioTable[s] = byScenario[s];
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
        ...(process.env.BENCH_BULWARK_CONFIG ? [`ablation: Bulwark ran with BENCH_BULWARK_CONFIG=${process.env.BENCH_BULWARK_CONFIG} (not the default defences)`] : []),
      ],
    },
    ...scenarioTable,
    ratios,
    extraRatios,
    targets,
  } as BenchResult;
}

main().catch((err: unknown) => {
  console.error('[bench] failed:', err);
  process.exit(1);
});
