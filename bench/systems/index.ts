/**
 * Systems under test. Each entry starts one server process (pinned to the server core) and
 * names the client protocol adapter the load generator uses with it. To add a system — e.g.
 * `bulwark-socketio` (Bulwark's Socket.IO transport, issue 7) — add an entry here and, if its
 * wire format is new, an adapter in ../loadgen/protocols.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, REPO_DIR, spawnMeasured, stopChild, waitForPort } from '../lib/proc.js';

export interface StartOptions {
  port: number;
  /** Fresh directory for this server's data, config and log. */
  dir: string;
  /** Shared HMAC secret (utf8 bytes are the key). */
  secret: string;
  cpu: string | undefined;
  /** Write a V8 CPU profile here on exit (`--cpu-prof`). */
  profileDir?: string | undefined;
  /** Bulwark only: configuration merged over the bench configuration (a scenario's own limits, e.g. `fuzz`). */
  config?: Record<string, unknown>;
}

export interface ServerHandle {
  pid: number;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface SystemDef {
  name: string;
  /** Key into PROTOCOLS (loadgen/protocols.ts). */
  protocol: string;
  /** One-line description for the report. */
  describe: string;
  /** Scenarios this system takes part in (default: every one). */
  scenarios?: readonly string[];
  start(opts: StartOptions): Promise<ServerHandle>;
}

/**
 * Bulwark's bench configuration: defaults everywhere (every defence on), only the numbers that
 * one loopback address and a few thousand benchmark users would trip are raised.
 */
export function bulwarkBenchConfig(opts: StartOptions): Record<string, unknown> {
  return {
    host: '127.0.0.1',
    port: opts.port,
    dataDir: join(opts.dir, 'data'),
    auth: { secret: opts.secret },
    limits: { maxConnections: 20_000, maxConnectionsPerIp: 20_000 },
    rateLimits: {
      handshake: { points: 1_000_000, durationMs: 60_000 },
      'chat.send': { points: 10_000_000, durationMs: 10_000 },
      'room.create': { points: 1_000_000, durationMs: 60_000 },
      default: { points: 1_000_000, durationMs: 10_000 },
    },
  };
}

function spawnServer(opts: StartOptions, nodeArgs: string[], env: Record<string, string> = {}): ChildProcess {
  mkdirSync(opts.dir, { recursive: true });
  const log = openSync(join(opts.dir, 'server.log'), 'a');
  const prof = opts.profileDir ? ['--cpu-prof', '--cpu-prof-interval', process.env.BENCH_PROF_INTERVAL ?? '200', '--cpu-prof-dir', opts.profileDir] : [];
  const child = spawnMeasured(opts.cpu, process.execPath, [...prof, ...nodeArgs], { cwd: REPO_DIR, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  closeSync(log);
  return child;
}

async function handle(child: ChildProcess, port: number): Promise<ServerHandle> {
  try {
    await waitForPort(port, 20_000, child);
  } catch (err) {
    await stopChild(child, 1000);
    throw err;
  }
  return { pid: child.pid!, port, child, stop: () => stopChild(child, 8000) };
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isObject(v) && isObject(base[k]) ? merge(base[k], v) : v;
  return out;
}

/**
 * `BENCH_BULWARK_CONFIG='{"encryption":{"enabled":false}}'`: configuration merged over the bench
 * configuration, to measure what one defence costs (ablation). Never set for reported results.
 */
function ablation(): Json {
  const raw = process.env.BENCH_BULWARK_CONFIG;
  if (!raw) return {};
  const parsed: unknown = JSON.parse(raw);
  if (!isObject(parsed)) throw new Error('BENCH_BULWARK_CONFIG must be a JSON object');
  return parsed;
}

/** The real Bulwark server (`serve`, the `npm start` code path) with the bench configuration. */
async function startBulwark(opts: StartOptions): Promise<ServerHandle> {
  const cfg = join(opts.dir, 'bulwark.json');
  mkdirSync(opts.dir, { recursive: true });
  writeFileSync(cfg, JSON.stringify(merge(merge(bulwarkBenchConfig(opts), opts.config ?? {}), ablation()), null, 2));
  const child = spawnServer(opts, [join(REPO_DIR, 'dist/src/cli/main.js'), 'serve', '--config', cfg]);
  return handle(child, opts.port);
}

export const SYSTEMS: Record<string, SystemDef> = {
  bulwark: {
    name: 'bulwark',
    protocol: 'bulwark',
    describe: 'Bulwark (dist/src/cli/main.js serve), default defences, SQLite history, JWT auth frame',
    start: startBulwark,
  },
  'bulwark-socketio': {
    name: 'bulwark-socketio',
    protocol: 'bulwark-socketio',
    describe: 'the same Bulwark server driven over its Socket.IO transport (/socket.io/, WebSocket only, token in CONNECT auth)',
    start: startBulwark,
  },
  'raw-ws': {
    name: 'raw-ws',
    protocol: 'raw',
    describe: 'bare ws: JSON echo and a for-of broadcast loop, no checks',
    async start(opts) {
      const child = spawnServer(opts, ['--import', 'tsx', join(BENCH_DIR, 'systems/raw-ws-server.ts'), String(opts.port)]);
      return handle(child, opts.port);
    },
  },
  'socketio-seed': {
    name: 'socketio-seed',
    protocol: 'socketio-seed',
    describe: 'Socket.IO + seed middleware (jsonwebtoken, Map rate limits, joi, sanitize-html), no storage',
    async start(opts) {
      const child = spawnServer(opts, ['--import', 'tsx', join(BENCH_DIR, 'systems/socketio-seed-server.ts'), String(opts.port)], {
        BENCH_JWT_SECRET: opts.secret,
      });
      return handle(child, opts.port);
    },
  },
  'socketio-seed-store': {
    name: 'socketio-seed-store',
    protocol: 'socketio-seed',
    describe: "the same Socket.IO peer plus the seed's saveMessage by hand: one better-sqlite3 INSERT per message (WAL, synchronous = NORMAL) before broadcast and ack",
    // Storage changes nothing but the per-message path: the other scenarios would measure socketio-seed again.
    scenarios: ['echo'],
    async start(opts) {
      mkdirSync(opts.dir, { recursive: true });
      const child = spawnServer(opts, ['--import', 'tsx', join(BENCH_DIR, 'systems/socketio-seed-server.ts'), String(opts.port)], {
        BENCH_JWT_SECRET: opts.secret,
        BENCH_SEED_DB: join(opts.dir, 'seed.db'),
      });
      return handle(child, opts.port);
    },
  },
};
