/**
 * The `bulwark` command as an operator runs it (contract section 5), in real child processes:
 * `serve` with configuration from file < environment < flags, start-up refused with the key's
 * name on a bad configuration, `token` minting what the server accepts, SIGTERM closing sockets
 * with 1001 and exiting 0, and an acknowledged message surviving even a SIGKILL.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadOrCreateSecret } from '../../src/auth/keys.js';
import { mintToken } from '../../src/auth/jwt.js';
import { AuthSchema } from '../../src/config/schema.js';
import { openSocket, type TestClient } from '../helpers/client.js';
import { closedWithin, messagesOf, range, seqs } from './fixtures.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

/** The environment without any BULWARK_* variable of the machine running the tests. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BULWARK_')) env[k] = v;
  return { ...env, ...extra };
}

function bulwark(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}

interface Ran {
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

/** Runs a command to completion. */
function run(args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return finished(bulwark(args, env), 60_000);
}

interface Served {
  url: string;
  wsUrl: string;
  origin: string;
  child: ChildProcess;
  exit: Promise<Ran>;
}

const children = new Set<ChildProcess>();

/** Starts `bulwark serve` and resolves once it prints its address. */
async function serve(args: string[], env: Record<string, string> = {}, quiet = true): Promise<Served> {
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

async function mint(dataDir: string, sub: string, extra: string[] = []): Promise<string> {
  const r = await run(['token', '--sub', sub, ...extra, '--data-dir', dataDir]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

/** A token signed in-process with the secret a server created in `dataDir` (or a new one). */
async function signed(dataDir: string, sub: string): Promise<string> {
  return mintToken(loadOrCreateSecret(dataDir), AuthSchema.parse({}), { sub, ttlMs: 15 * 60_000 });
}

async function login(served: Served, token: string): Promise<TestClient> {
  const client = await openSocket(served);
  client.send({ type: 'auth', token });
  client.welcome = await client.next('welcome');
  return client;
}

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-cli-'));
  dirs.push(dir);
  return dir;
}

after(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('bulwark serve and token', () => {
  it('creates a random signing secret with mode 0600 and mints tokens the server accepts', async () => {
    const dataDir = tempDir();
    const served = await serve(['--data-dir', dataDir]);
    assert.equal(statSync(join(dataDir, 'jwt-secret')).mode & 0o777, 0o600);
    const token = await mint(dataDir, 'alice', ['--name', 'Alice Liddell', '--roles', 'admin,mod', '--ttl', '2h']);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number };
    assert.ok(Math.abs(claims.exp - claims.iat - 7200) <= 1, 'ttl 2h');
    const client = await login(served, token);
    assert.deepEqual(client.welcome!.user, { id: 'alice', name: 'Alice Liddell', roles: ['admin', 'mod'] });
    assert.equal((await client.request({ type: 'admin.broadcast', text: 'the roles work' })).type, 'ack');
    client.close();
    served.child.kill('SIGTERM');
    assert.equal((await served.exit).code, 0);
  });

  it('refuses a token signed with another data directory\'s secret', async () => {
    const served = await serve(['--data-dir', tempDir()]);
    const client = await openSocket(served);
    client.send({ type: 'auth', token: await signed(tempDir(), 'mallory') });
    assert.equal((await closedWithin(client)).code, 4401);
    served.child.kill('SIGTERM');
    assert.equal((await served.exit).code, 0);
  });

  it('prints usage and exits 1 when token has no --sub', async () => {
    const r = await run(['token', '--data-dir', tempDir()]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--sub/);
  });

  it('keeps every acknowledged message through SIGTERM (sockets closed 1001, exit 0) and through SIGKILL', async () => {
    const dataDir = tempDir();
    const served = await serve(['--data-dir', dataDir]);
    const token = await signed(dataDir, 'olga');
    const client = await login(served, token);
    await client.ok({ type: 'room.create', room: 'durable', visibility: 'public' });
    await client.ok({ type: 'room.join', room: 'durable' });
    for (let i = 1; i <= 10; i++) await client.ok({ type: 'chat.send', room: 'durable', text: `message ${i}` });
    served.child.kill('SIGTERM');
    assert.equal((await closedWithin(client)).code, 1001);
    const exit = await served.exit;
    assert.equal(exit.code, 0, exit.stderr);
    assert.equal(exit.signal, null);

    // Second life: everything is there; then a crash right after a pipelined burst is acknowledged.
    const second = await serve(['--data-dir', dataDir]);
    const back = await login(second, token);
    const join = await back.ok({ type: 'room.join', room: 'durable', since: 0 });
    assert.deepEqual(seqs(messagesOf(join, 'history')), range(1, 10));
    // Pipelined: many writes share a commit; each ack must still mean "committed".
    const acks = await Promise.all(range(11, 35).map((i) => back.request({ type: 'chat.send', id: `burst-${i}`, room: 'durable', text: `message ${i}` })));
    for (const ack of acks) assert.equal(ack.type, 'ack', JSON.stringify(ack));
    second.child.kill('SIGKILL');
    assert.equal((await second.exit).signal, 'SIGKILL');

    const third = await serve(['--data-dir', dataDir]);
    const last = await login(third, token);
    const history = messagesOf(await last.ok({ type: 'chat.history', room: 'durable' }));
    assert.deepEqual(seqs(history), range(1, 35));
    assert.deepEqual(history.map((m) => m.text), range(1, 35).map((i) => `message ${i}`));
    last.close();
    third.child.kill('SIGTERM');
    assert.equal((await third.exit).code, 0);
  });
});

describe('bulwark serve configuration', () => {
  it('stops start-up on an unknown key in the JSON file, naming the key', async () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'config.json');
    writeFileSync(file, JSON.stringify({ limits: { maxPayloadByts: 1024 } }));
    const r = await run(['serve', '--config', file, '--data-dir', dataDir, '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /limits\.maxPayloadByts/);
    assert.doesNotMatch(r.stdout, /listening/);
  });

  it('stops start-up on a bad value, naming the key, from the file, the environment or a flag', async () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'config.json');
    writeFileSync(file, JSON.stringify({ auth: { timeoutMs: -5 } }));
    const fromFile = await run(['serve', '--data-dir', dataDir, '--port', '0'], { BULWARK_CONFIG: file });
    assert.equal(fromFile.code, 1);
    assert.match(fromFile.stderr, /auth\.timeoutMs/);
    const fromEnv = await run(['serve', '--data-dir', dataDir], { BULWARK_PORT: 'eighty' });
    assert.equal(fromEnv.code, 1);
    assert.match(fromEnv.stderr, /\bport\b/);
    const fromFlag = await run(['serve', '--data-dir', dataDir, '--port', '0', '--heartbeatMs', '10']);
    assert.equal(fromFlag.code, 1);
    assert.match(fromFlag.stderr, /heartbeatMs/);
  });

  it('layers the sources: the environment overrides the file and a flag overrides the environment', async () => {
    const dataDir = tempDir();
    const file = join(dataDir, 'config.json');
    // Each bad value is hidden by a higher source; start-up only succeeds if the layering is right.
    writeFileSync(file, JSON.stringify({ logLevel: 'chatty', limits: { maxMessageChars: 10 } }));
    const served = await serve(['--config', file, '--data-dir', dataDir, '--limits.maxMessageChars', '25'], { BULWARK_LOG_LEVEL: 'silent', BULWARK_PORT: '1' }, false);
    // BULWARK_LOG_LEVEL (the environment) beat "chatty" (the file), or start-up would have failed.
    // --port 0 (a flag) beat BULWARK_PORT=1 (the environment): the node is on an ephemeral port.
    assert.notEqual(new URL(served.url).port, '1');
    const client = await login(served, await signed(dataDir, 'olga'));
    assert.equal((client.welcome!.limits as { maxMessageChars: number }).maxMessageChars, 25, 'the flag beat the file');
    client.close();
    served.child.kill('SIGTERM');
    assert.equal((await served.exit).code, 0);
  });
});
