/**
 * `bulwark serve` start-up as a process manager sees it (contract section 5): any failure exits 1
 * at once with one line; the data directory and its files are private.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { login, run, serve, signed, start, tempDir, terminate, useCli } from './cli-support.js';

useCli();

describe('bulwark serve start-up failures', () => {
  it('exits 1 at once with one line when the port is in use', async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const r = await run(['serve', '--port', String(port), '--data-dir', tempDir(), '--log-level', 'silent']);
      assert.equal(r.code, 1);
      assert.doesNotMatch(r.stdout, /listening/);
      const lines = r.stderr.trim().split('\n');
      assert.match(lines.at(-1)!, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use`));
      assert.equal(lines.length, 2, `the data directory line and one error line: ${r.stderr}`);
    } finally {
      holder.close();
    }
  });

  it('exits 1 with one line when the data directory cannot be used', async () => {
    const file = join(tempDir(), 'not-a-directory');
    writeFileSync(file, 'x');
    const r = await run(['serve', '--port', '0', '--data-dir', join(file, 'data')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot use .*not-a-directory.*ENOTDIR/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  });

  it('exits 1 naming the file when the TLS certificate cannot be read', async () => {
    const dir = tempDir();
    const r = await run(['serve', '--port', '0', '--data-dir', dir, '--tls.cert', join(dir, 'missing.pem'), '--tls.key', join(dir, 'missing.key')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.pem.*ENOENT/);
  });

  it('stops cleanly (exit 0, not killed) on a SIGTERM that arrives while it starts', async () => {
    const starting = start(['serve', '--port', '0', '--data-dir', tempDir(), '--log-level', 'silent']);
    // The first thing serve prints is the data directory line: by then SIGTERM must be handled.
    await new Promise<void>((resolve) => starting.child.stderr!.once('data', () => resolve()));
    starting.child.kill('SIGTERM');
    const exit = await starting.exit;
    assert.equal(exit.signal, null, 'not killed by the signal');
    assert.equal(exit.code, 0, exit.stderr);
  });

  it('keeps the data directory private: 0700, and every file in it 0600 (database, WAL, SHM, secret, keys)', async () => {
    const dataDir = join(tempDir(), 'fresh');
    const served = await serve(['--data-dir', dataDir]);
    const client = await login(served, await signed(dataDir, 'olga'));
    await client.ok({ type: 'room.create', room: 'modes', visibility: 'public' });
    await client.ok({ type: 'chat.send', room: 'modes', text: 'the WAL holds this' });
    assert.equal(statSync(dataDir).mode & 0o777, 0o700);
    const files = readdirSync(dataDir);
    for (const name of ['bulwark.db', 'bulwark.db-wal', 'bulwark.db-shm', 'jwt-secret', 'keys.json']) assert.ok(files.includes(name), `${name} in ${files.join(', ')}`);
    for (const name of files) assert.equal(statSync(join(dataDir, name)).mode & 0o777, 0o600, name);
    client.close();
    await terminate(served);
  });
});
