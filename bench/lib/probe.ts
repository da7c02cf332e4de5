/**
 * A fixed CPU workload timed on the server core, at the start and the end of a run. The VM this
 * bench runs on changes speed from one hour to the next (raw-ws echo measured 34k msgs/s in one
 * full run and 50k in another, same code), so dated results carry this figure: compare runs by
 * it before comparing their numbers. A higher figure means a slower machine.
 */
import { spawnSync } from 'node:child_process';
import { pinned } from './proc.js';

/** JSON round trips of a small chat frame, the server's staple work, for ~300 ms. */
const WORKLOAD = `
const frame = { type: 'chat.send', id: 'c123', room: 'general', text: 'bench msg 1 from the load generator lorem ipsum' };
let n = 0, sink = 0;
const t0 = process.hrtime.bigint();
let t = t0;
while (t - t0 < 300000000n) {
  for (let i = 0; i < 1000; i++) { frame.id = 'c' + n++; sink += JSON.parse(JSON.stringify(frame)).id.length; }
  t = process.hrtime.bigint();
}
process.stdout.write(String(Number(t - t0) / n) + (sink < 0 ? 'x' : ''));
`;

/** Nanoseconds per JSON round trip on `cpu` (median of 3 samples), or null when it cannot run. */
export function cpuProbe(cpu: string | undefined): number | null {
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    const [cmd, args] = pinned(cpu, process.execPath, ['-e', WORKLOAD]);
    const out = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    const ns = Number(out.stdout);
    if (out.status !== 0 || !Number.isFinite(ns)) return null;
    samples.push(ns);
  }
  samples.sort((a, b) => a - b);
  return Math.round(samples[1]! * 10) / 10;
}
