/**
 * The `fuzz` scenario (`npm run bench -- --scenarios fuzz`): the seeded fuzzer of `npm test`
 * (`test/fuzz/driver.ts`, frames from `test/fuzz/frames.ts`) run longer against the real Bulwark
 * server process, reporting frames/s and the server's RSS before and after. It checks the same
 * things as the test — no `INTERNAL`, exactly one reply per well-formed `id` on connections left
 * open, `/healthz` ok afterwards — and fails the bench run when one does not hold.
 *
 * `BULWARK_FUZZ_SEED` replays a run's frames; `BENCH_FUZZ_SECONDS` changes the sending time.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { benchToken } from './lib/jwt.js';
import { cpuMicros, freePort, rssBytes, sleep } from './lib/proc.js';
import { round, spread } from './lib/stats.js';
import { SYSTEMS } from './systems/index.js';
import type { Row } from './report.js';
import { fuzzSeed, runFuzz } from '../test/fuzz/driver.js';

export interface FuzzScenarioOptions {
  quick: boolean;
  runs: number;
  tmp: string;
  secret: string;
  serverCpu: string | undefined;
  log(line: string): void;
}

/**
 * Limits loose enough that most connections live to the end (so their replies can be counted)
 * and the per-IP and per-frame rules of one loopback address do not throttle the run; every
 * defence stays on. The hostile lanes still end connections (1003, 1007, 1009, 4400).
 */
const FUZZ_CONFIG = {
  limits: { maxConnectionsPerUser: 100, maxMalformedFrames: 300 },
  abuse: { threshold: 2000 },
  rateLimits: { 'admin.broadcast': { points: 1_000_000, durationMs: 60_000 } },
};

const MiB = 2 ** 20;

export async function fuzzScenario(options: FuzzScenarioOptions): Promise<Row> {
  const seconds = Number(process.env.BENCH_FUZZ_SECONDS ?? (options.quick ? 20 : 90));
  const lanes = options.quick ? 24 : 48;
  const perRun: Array<{ value: number; cpuUsPerOp: number; extra: Record<string, number | string> }> = [];
  for (let r = 0; r < options.runs; r++) {
    const seed = fuzzSeed();
    const port = await freePort();
    const server = await SYSTEMS['bulwark']!.start({ port, dir: join(options.tmp, `fuzz-${r}`), secret: options.secret, cpu: options.serverCpu, config: FUZZ_CONFIG });
    try {
      const baseUrl = `http://127.0.0.1:${port}`;
      const secret = Buffer.from(options.secret, 'utf8');
      await sleep(300);
      const rss0 = rssBytes(server.pid);
      const cpu0 = cpuMicros(server.pid);
      const t0 = performance.now();
      options.log(`[bench] fuzz bulwark run ${r + 1}/${options.runs}: seed ${seed} (replay: BULWARK_FUZZ_SEED=${seed}), ${lanes} connections, ${seconds} s`);
      const report = await runFuzz({
        baseUrl,
        origin: baseUrl,
        token: async (sub) => benchToken(secret, sub),
        seed,
        lanes,
        framesPerLane: 1_000_000,
        maxPayloadBytes: 16_384,
        deadline: Date.now() + seconds * 1000,
        settleMs: 30_000,
      });
      const sendMs = performance.now() - t0;
      const cpu = cpuMicros(server.pid) - cpu0;
      await sleep(1000);
      const rss1 = rssBytes(server.pid);
      const health = await fetch(`${baseUrl}/healthz`);
      options.log(
        `[bench]   ${report.framesSent.toLocaleString('en-US')} frames (${round(report.bytesSent / MiB)} MiB) over ${report.connections} connections in ${round(sendMs / 1000)} s: ` +
          `${Math.round(report.framesSent / (sendMs / 1000)).toLocaleString('en-US')} frames/s, ${round(cpu / report.framesSent)} server µs/frame; ` +
          `${report.checkedFrames.toLocaleString('en-US')} id frames checked on connections left open, ${report.replies.toLocaleString('en-US')} replies, endings ${JSON.stringify(report.endings)}; ` +
          `server RSS ${round(rss0 / MiB)} -> ${round(rss1 / MiB)} MiB; /healthz ${health.status}`,
      );
      const failures = [
        ...(report.internal > 0 ? [`${report.internal} INTERNAL errors`] : []),
        ...(report.mismatchCount > 0 ? [`${report.mismatchCount} ids without exactly one reply: ${report.mismatches.slice(0, 5).join('; ')}`] : []),
        ...(health.status !== 200 ? [`/healthz answered ${health.status}`] : []),
      ];
      if (failures.length > 0) throw new Error(`fuzz seed ${seed}: ${failures.join(', ')}`);
      perRun.push({
        value: report.framesSent / (sendMs / 1000),
        cpuUsPerOp: cpu / report.framesSent,
        extra: {
          seed,
          frames: report.framesSent,
          connections: report.connections,
          checkedFrames: report.checkedFrames,
          rssBeforeMB: round(rss0 / MiB),
          rssAfterMB: round(rss1 / MiB),
          seconds: round(sendMs / 1000),
        },
      });
    } finally {
      await server.stop();
    }
  }
  const value = spread(perRun.map((r) => r.value));
  const cpu = spread(perRun.map((r) => r.cpuUsPerOp));
  const last = perRun[perRun.length - 1]!.extra;
  return {
    scenario: 'fuzz',
    system: 'bulwark',
    metric: 'framesPerSec',
    runs: perRun.length,
    framesPerSec: round(value.median),
    p50Ms: Number.NaN,
    p99Ms: Number.NaN,
    serverCpuUsPerOp: round(cpu.median),
    min: { framesPerSec: round(value.min), serverCpuUsPerOp: round(cpu.min) },
    max: { framesPerSec: round(value.max), serverCpuUsPerOp: round(cpu.max) },
    ...last,
  };
}
