/**
 * Top self-time functions of a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --profile`).
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [top=25] [--inclusive]
 * With `--inclusive`, each function's total time: its own samples plus those of everything it
 * called (counted once per sample, so recursion does not double it) — what one stage costs.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]');
const inclusive = process.argv.includes('--inclusive');
const top = Number(process.argv.slice(3).find((a) => !a.startsWith('--')) ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);
function keyOf(n: Node): string {
  const url = n.callFrame.url.replace(/^file:\/\//, '');
  const where = url ? `${url.includes('node_modules') ? url.slice(url.lastIndexOf('node_modules/') + 13) : relative(process.cwd(), url)}:${n.callFrame.lineNumber + 1}` : '';
  return `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim();
}
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const byFn = new Map<string, number>();
for (const [id, us] of self) {
  if (!inclusive) {
    const key = keyOf(byId.get(id)!);
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    continue;
  }
  const seen = new Set<string>();
  for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
    const key = keyOf(byId.get(at)!);
    if (seen.has(key)) continue;
    seen.add(key);
    byFn.set(key, (byFn.get(key) ?? 0) + us);
  }
}
const idle = [...self].filter(([id]) => keyOf(byId.get(id)!).startsWith('(idle)')).reduce((a, [, v]) => a + v, 0);
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled, ${((100 * idle) / total).toFixed(1)}% idle; ${inclusive ? 'inclusive' : 'self'} time of busy samples:`);
const busy = total - idle;
for (const [k, us] of [...byFn.entries()]
  .filter(([k]) => !k.startsWith('(idle)') && !k.startsWith('(root)'))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top)) {
  console.log(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}
