/**
 * What `npm pack` publishes: the server package holds the compiled code and the built web app and
 * nothing else (no tests, benchmarks or sources), and runs from the unpacked tarball; the client
 * SDK is a package of its own with no runtime dependency — importable in Node with no
 * node_modules at all, bundled for browsers without Node built-ins, and tree-shakable.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CI = process.env.CI === 'true';
const BUILT = existsSync(join(ROOT, 'dist/src/cli/main.js')) && existsSync(join(ROOT, 'web/dist/index.html'));
const notBuilt = BUILT ? false : CI ? false : 'not built (npm run build); CI builds it in npm ci';

interface PackedFile {
  path: string;
}

async function pack(args: string[], cwd = ROOT): Promise<Array<{ name: string; filename: string; files: PackedFile[]; entryCount: number; size: number }>> {
  const { stdout } = await exec('npm', ['pack', '--json', '--loglevel=error', ...args], { cwd, maxBuffer: 32 * 1024 * 1024, timeout: 180_000 });
  return JSON.parse(stdout) as Array<{ name: string; filename: string; files: PackedFile[]; entryCount: number; size: number }>;
}

const dirs: string[] = [];
function temp(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-pack-'));
  dirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('the server package (npm pack)', () => {
  it('holds only what runs: compiled code, the built web app, the docs', async () => {
    const [info] = await pack(['--dry-run', '--ignore-scripts']);
    const paths = info!.files.map((f) => f.path);
    const allowed = /^(dist\/(src|client)\/.+\.(js|d\.ts)|web\/dist\/.+|docs\/.+\.md|package\.json|README\.md|SECURITY\.md|CHANGELOG\.md|LICENSE)$/;
    assert.deepEqual(
      paths.filter((p) => !allowed.test(p)),
      [],
      'nothing but what runs',
    );
    for (const p of paths) assert.doesNotMatch(p, /^(test|bench|src|client|examples|\.ci)\/|\.map$/, p);
  });

  it('contains the CLI, the SDK and the built web app', { skip: notBuilt }, async () => {
    assert.ok(BUILT, 'npm ci (prepare) builds dist/ and web/dist/');
    const [info] = await pack(['--dry-run', '--ignore-scripts']);
    const paths = new Set(info!.files.map((f) => f.path));
    for (const p of [
      'dist/src/cli/main.js',
      'dist/src/index.js',
      'dist/client/index.js',
      'dist/src/embed/index.js',
      'dist/src/server-client/index.js',
      'web/dist/index.html',
      'web/dist/admin.html',
    ])
      assert.ok(paths.has(p), p);
    assert.ok(info!.entryCount < 400, `${info!.entryCount} files`);
  });

  it('serves the web app from the unpacked tarball', { skip: notBuilt }, async () => {
    const dir = temp();
    const [info] = await pack(['--ignore-scripts', '--pack-destination', dir]);
    await exec('tar', ['-xzf', join(dir, info!.filename), '-C', dir]);
    const pkg = join(dir, 'package');
    // Dependencies as an install would provide them.
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
    const child = spawn(process.execPath, [join(pkg, 'dist/src/cli/main.js'), 'serve', '--port', '0', '--data-dir', join(dir, 'data'), '--log-level', 'silent'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`serve exited ${code}`)));
      });
      for (const path of ['/', '/admin']) {
        const res = await fetch(`${url}${path}`);
        assert.equal(res.status, 200, path);
        assert.match(await res.text(), /<script type="module"[^>]+src="\/assets\//, path);
      }
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('the client SDK package (@bulwark/client)', () => {
  let server: TestServer;
  let pkg: string;
  before(async () => {
    server = await startServer();
    const dir = temp();
    const [info] = await pack(['--workspace', 'client', '--pack-destination', dir]);
    assert.equal(info!.name, '@bulwark/client');
    await exec('tar', ['-xzf', join(dir, info!.filename), '-C', dir]);
    pkg = join(dir, 'package');
  });
  after(() => server.stop());

  it('declares no server dependency and ships its README and API reference', () => {
    const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; sideEffects: boolean; type: string };
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}), ['zod'], 'zod for the frame types only');
    assert.equal(manifest.sideEffects, false);
    assert.equal(manifest.type, 'module');
    assert.ok(existsSync(join(pkg, 'README.md')) && existsSync(join(pkg, 'API.md')));
  });

  it('runs in Node with no node_modules at all, and talks to a real server', async () => {
    const lonely = join(temp(), 'app');
    mkdirSync(lonely);
    await exec('cp', ['-r', pkg, join(lonely, 'sdk')]);
    const sdk = (await import(pathToFileURL(join(lonely, 'sdk/dist/client/index.js')).href)) as typeof import('../../client/index.js');
    assert.equal(sdk.SUBPROTOCOL, 'bulwark.v1');
    const client = sdk.connect({ url: server.wsUrl, token: await server.token('packed'), WebSocket, origin: server.origin, reconnect: false });
    try {
      await client.ready();
      await client.request('room.create', { room: 'packed', visibility: 'public' });
      await client.join('packed');
      const got = new Promise<string>((resolve) => client.on('message', ({ message }) => resolve(message.text)));
      await client.send('packed', 'from the packed SDK');
      assert.equal(await got, 'from the packed SDK');
    } finally {
      client.close();
    }
  });

  it('bundles for browsers without Node built-ins, and a bundler keeps only what is imported', async () => {
    const dir = temp();
    const entry = (name: string, code: string): string => {
      const file = join(dir, name);
      writeFileSync(file, code);
      return file;
    };
    const index = join(pkg, 'dist/client/index.js');
    const bundle = async (file: string): Promise<string> => {
      const result = await build({ entryPoints: [file], bundle: true, platform: 'browser', format: 'esm', write: false, minify: true, logLevel: 'silent' });
      return result.outputFiles[0]!.text;
    };
    const whole = await bundle(entry('whole.js', `import { connect } from ${JSON.stringify(index)}; globalThis.c = connect;`));
    const small = await bundle(entry('small.js', `import { fullJitter } from ${JSON.stringify(index)}; globalThis.f = fullJitter;`));
    assert.match(whole, /bulwark\.v1/);
    assert.ok(small.length * 5 < whole.length, `tree-shaken: ${small.length} bytes for one helper, ${whole.length} for the client`);
    assert.doesNotMatch(small, /bulwark\.v1|OUTBOX_FULL/);
  });
});
