/**
 * Runs the real `bulwark` command in child processes for the CLI tests. The command is bundled
 * once per test file with esbuild (the same source `npm start` compiles with tsc; dependencies
 * stay external) so each process starts in a fraction of the time a TypeScript loader needs.
 */
import { after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { loadOrCreateSecret } from '../../src/auth/keys.js';
import { mintToken } from '../../src/auth/jwt.js';
import { AuthSchema } from '../../src/config/schema.js';
import { openSocket, type TestClient } from '../helpers/client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Inside node_modules so the bundle's bare imports resolve to the project's dependencies.
const BUILD_DIR = join(ROOT, 'node_modules', '.cache', `bulwark-cli-test-${process.pid}`);
const MAIN = join(BUILD_DIR, 'main.mjs');

/** The environment without any BULWARK_* variable of the machine running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BULWARK_')) env[k] = v;
  return { ...env, ...extra };
}

function bulwark(args: string[], env: Record<string, string> = {}, cwd = ROOT, input?: string): ChildProcess {
  const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: cleanEnv(env), stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) child.stdin!.end(input);
  return child;
}

const children = new Set<ChildProcess>();

export interface Ran {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function finished(child: ChildProcess, timeoutMs: number): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bulwark did not exit within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs a command to completion (in the repository, or in `cwd`). */
export function run(args: string[], env: Record<string, string> = {}, cwd?: string): Promise<Ran> {
  return finished(bulwark(args, env, cwd), 60_000);
}

export interface Running {
  child: ChildProcess;
  /** Everything printed on stdout so far. */
  stdout(): string;
  /** Resolves once stdout matches. */
  waitFor(pattern: RegExp): Promise<void>;
  exit: Promise<Ran>;
}

/** Starts a long-running command (`events --follow`, …); killed at the end of the file if still running. */
export function start(args: string[], env: Record<string, string> = {}): Running {
  const child = bulwark(args, env);
  children.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = finished(child, 100_000);
  exit.finally(() => children.delete(child)).catch(() => {});
  return {
    child,
    stdout: () => out,
    exit,
    waitFor: (pattern) =>
      new Promise<void>((resolve, reject) => {
        if (pattern.test(out)) return resolve();
        const onData = (): void => {
          if (!pattern.test(out)) return;
          child.stdout!.off('data', onData);
          resolve();
        };
        child.stdout!.on('data', onData);
        void exit.then((r) => reject(new Error(`exited (${r.code}) before printing ${pattern}: ${r.stderr}`)), reject);
      }),
  };
}

/** Runs a command to completion with `input` on its standard input (not a terminal). */
export function runWithInput(args: string[], input: string, env: Record<string, string> = {}): Promise<Ran> {
  return finished(bulwark(args, env, ROOT, input), 60_000);
}

export interface Served {
  url: string;
  wsUrl: string;
  origin: string;
  child: ChildProcess;
  exit: Promise<Ran>;
}

/** Starts `bulwark serve --port 0` and resolves once it prints its address. */
export async function serve(args: string[], env: Record<string, string> = {}, quiet = true): Promise<Served> {
  const child = bulwark(['serve', '--port', '0', ...(quiet ? ['--log-level', 'silent'] : []), ...args], env);
  children.add(child);
  // A serving node lives as long as its test; this bound only stops a hung one.
  const exit = finished(child, 100_000);
  exit.finally(() => children.delete(child)).catch(() => {});
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exit.then((r) => reject(new Error(`serve exited with ${r.code}: ${r.stderr}`)), reject);
  });
  return { url, wsUrl: `${url.replace(/^http/, 'ws')}/ws`, origin: url, child, exit };
}

/** SIGTERM, then the exit code (which must be 0). */
export async function terminate(served: Served): Promise<void> {
  served.child.kill('SIGTERM');
  const exit = await served.exit;
  assert.equal(exit.code, 0, exit.stderr);
}

/** `bulwark token --sub SUB ... --data-dir DIR`. */
export async function mint(dataDir: string, sub: string, extra: string[] = [], env: Record<string, string> = {}): Promise<string> {
  const r = await run(['token', '--sub', sub, ...extra, '--data-dir', dataDir], env);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** A data directory a server has initialised (database, secret, keys), the server stopped again. */
export async function initialised(): Promise<string> {
  const dataDir = tempDir();
  await terminate(await serve(['--data-dir', dataDir]));
  return dataDir;
}

/** A token signed in-process with the secret a server created in `dataDir` (or a new one). */
export async function signed(dataDir: string, sub: string): Promise<string> {
  return mintToken(loadOrCreateSecret(dataDir), AuthSchema.parse({}), { sub, ttlMs: 15 * 60_000 });
}

export async function login(served: Served, token: string): Promise<TestClient> {
  const client = await openSocket(served);
  client.send({ type: 'auth', token });
  client.welcome = await client.next('welcome');
  return client;
}

const dirs: string[] = [];
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
  dirs.push(dir);
  return dir;
}

/** Registers the bundle step and the clean-up in the calling test file. */
export function useCli(): void {
  before(async () => {
    mkdirSync(BUILD_DIR, { recursive: true });
    await build({
      entryPoints: [join(ROOT, 'src', 'cli', 'main.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      // Split like the compiled output: a command loads the server or a database driver only when it runs.
      splitting: true,
      outdir: BUILD_DIR,
      outExtension: { '.js': '.mjs' },
      logLevel: 'silent',
    });
  });
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    rmSync(BUILD_DIR, { recursive: true, force: true });
  });
}
