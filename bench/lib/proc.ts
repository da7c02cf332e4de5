/** Processes: CPU pinning, /proc readings, free ports, IPC-driven load-generator workers. */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO_DIR = dirname(BENCH_DIR);

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const PAGE = Number(spawnSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }).stdout.trim()) || 4096;

export interface Pinning {
  /** Whether taskset is used. */
  pinned: boolean;
  server: string | undefined;
  loadgen: string | undefined;
  cores: number;
}

export function detectPinning(disable: boolean): Pinning {
  const cores = Number(spawnSync('nproc', [], { encoding: 'utf8' }).stdout.trim()) || 1;
  const has = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
  if (disable || !has || cores < 2) return { pinned: false, server: undefined, loadgen: undefined, cores };
  // Server on core 0, load generator (and this orchestrator) on the other cores.
  return { pinned: true, server: '0', loadgen: cores === 2 ? '1' : `1-${cores - 1}`, cores };
}

let niceness: number | undefined;

/**
 * Runs server and load generator at a raised scheduling priority (`nice -n N`, N < 0 needs
 * root). On a machine shared with other work, this keeps the measured processes from waiting in
 * the run queue behind unrelated processes. Returns whether it can be applied.
 */
export function usePriority(n: number): boolean {
  if (spawnSync('nice', ['-n', String(n), 'true']).status !== 0) return false;
  const probe = spawnSync('nice', ['-n', String(n), 'nice'], { encoding: 'utf8' });
  if (Number(probe.stdout.trim()) !== n) return false;
  niceness = n;
  return true;
}

/** Command line with optional nice and taskset prefixes. */
export function pinned(cpu: string | undefined, cmd: string, args: string[]): [string, string[]] {
  const pin: [string, string[]] = cpu === undefined ? [cmd, args] : ['taskset', ['-c', cpu, cmd, ...args]];
  return niceness === undefined ? pin : ['nice', ['-n', String(niceness), pin[0], ...pin[1]]];
}

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/**
 * Spawns a measured process (server or load generator): pinned, and with --nice in its own
 * session so that the kernel's autogroup scheduling (which otherwise shares the CPU between
 * sessions, whatever the nice value inside them) gives it the raised priority too.
 */
export function spawnMeasured(cpu: string | undefined, cmd: string, args: string[], options: SpawnOptions): ChildProcess {
  const [c, a] = pinned(cpu, cmd, args);
  const child = spawn(c, a, { ...options, detached: niceness !== undefined });
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (niceness !== undefined && child.pid !== undefined) {
    try {
      writeFileSync(`/proc/${child.pid}/autogroup`, String(niceness));
    } catch {
      // No autogroup scheduling (or not permitted): the nice value alone applies.
    }
  }
  return child;
}

export function pinSelf(cpu: string | undefined): void {
  if (cpu !== undefined) spawnSync('taskset', ['-a', '-pc', cpu, String(process.pid)], { stdio: 'ignore' });
}

/** Process CPU time (user + system, all threads) in microseconds, from /proc/<pid>/stat. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the comm field: state is [0]; utime [11], stime [12] (fields 14 and 15 of proc(5)).
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLK_TCK;
}

/** Resident set size in bytes. */
export function rssBytes(pid: number): number {
  const statm = readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ');
  return Number(statm[1]) * PAGE;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until the port accepts TCP connections, or throws after timeoutMs. */
export async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`port ${port} not ready after ${timeoutMs} ms`);
}

/** Stops a child we started: SIGTERM, then SIGKILL after graceMs. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

type Json = Record<string, unknown>;

/** A load-generator worker process driven over IPC. */
export class Worker {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  readonly child: ChildProcess;

  constructor(script: string, cpu: string | undefined) {
    this.child = spawnMeasured(cpu, process.execPath, ['--import', 'tsx', join(BENCH_DIR, script)], { cwd: REPO_DIR, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (msg: { seq: number; ok: boolean; result?: Json; error?: string }) => {
      const w = this.waiting.get(msg.seq);
      if (!w) return;
      this.waiting.delete(msg.seq);
      if (msg.ok) w.resolve(msg.result ?? {});
      else w.reject(new Error(msg.error ?? 'worker error'));
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`worker exited (${code})`));
      this.waiting.clear();
    });
  }

  call<T = Json>(op: string, args: Json = {}, timeoutMs = 120_000): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(seq);
        reject(new Error(`worker ${op} timed out`));
      }, timeoutMs);
      this.waiting.set(seq, {
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.child.send({ seq, op, args });
    });
  }

  async exit(): Promise<void> {
    if (this.child.exitCode !== null) return;
    await this.call('exit', {}, 2000).catch(() => {});
    await stopChild(this.child, 2000);
  }
}
