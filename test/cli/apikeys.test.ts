/**
 * `bulwark apikeys create | list | revoke` as an operator runs them, in child processes against a
 * running `bulwark serve` on the same data directory: the key is printed once (and only on
 * stdout), stored only as its SHA-256, works against the server at once, is listed without its
 * secret, and stops working within about a second of `revoke`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../helpers/events.js';
import { login, run, serve, signed, tempDir, terminate, useCli, type Served } from '../core/cli-support.js';

useCli();

describe('bulwark apikeys against a running server', () => {
  let dataDir: string;
  let served: Served;
  const cli = (...args: string[]): ReturnType<typeof run> => run(['apikeys', ...args, '--data-dir', dataDir]);
  const publish = (key: string, text: string): Promise<Response> =>
    fetch(`${served.url}/api/v1/rooms/news/messages`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ text }),
    });

  before(async () => {
    dataDir = tempDir();
    served = await serve(['--data-dir', dataDir]);
    const owner = await login(served, await signed(dataDir, 'owner'));
    await owner.ok({ type: 'room.create', room: 'news', visibility: 'public' });
    owner.close();
  });
  after(async () => {
    await terminate(served);
  });

  it('creates a key, prints it once on stdout, stores only its hash, and the server accepts it at once', async () => {
    const created = await cli('create', '--scopes', 'publish,history', '--name', 'shop backend', '--expires', '30d');
    assert.equal(created.code, 0, created.stderr);
    const key = created.stdout.trim();
    assert.match(key, /^bwk_[A-Za-z0-9_-]{43}$/);
    assert.equal(created.stdout, `${key}\n`, 'stdout holds the key and nothing else');
    assert.match(created.stderr, new RegExp(`data directory ${dataDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(created.stderr, /scopes publish,history, expires \d{4}-/);
    assert.match(created.stderr, /shown only now/);
    const res = await publish(key, 'from the shop');
    assert.equal(res.status, 201, await res.text());
    // The database files hold the hash, never the key.
    const hash = createHash('sha256').update(key).digest('hex');
    const files = readdirSync(dataDir)
      .filter((f) => f.startsWith('bulwark.db'))
      .map((f) => readFileSync(join(dataDir, f)));
    assert.ok(files.length > 0);
    assert.ok(!files.some((b) => b.includes(key)), 'the key is not stored');
    assert.ok(
      files.some((b) => b.includes(hash)),
      'its SHA-256 is',
    );
  });

  it('lists keys with id, state, name, scopes and dates, never the secret; revoke stops the key within a second', async () => {
    const created = await cli('create', '--scopes', 'publish', '--name', 'temporary');
    const key = created.stdout.trim();
    const listed = await cli('list');
    assert.equal(listed.code, 0, listed.stderr);
    assert.doesNotMatch(listed.stdout, /bwk_/);
    const line = listed.stdout.split('\n').find((l) => l.includes('temporary'))!;
    assert.match(line, /^([0-9a-f]{12}) {2}active +temporary +publish +created \d{4}-.* expires - +last used - +uses 0$/);
    const id = line.slice(0, 12);
    assert.match(listed.stdout, /2 api key\(s\)/);
    assert.equal((await publish(key, 'before revoke')).status, 201);
    const revoked = await cli('revoke', id);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(revoked.stdout, new RegExp(`api key ${id} revoked`));
    assert.ok(await eventually(async () => (await publish(key, 'after revoke')).status === 401, 3000, 100));
    const again = await cli('revoke', id);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no unrevoked api key/);
    assert.match((await cli('list')).stdout, new RegExp(`${id} {2}revoked`));
  });

  it('refuses unknown scopes, a missing --scopes and a bad duration with a usage error', async () => {
    for (const args of [['--scopes', 'publish,root'], [], ['--scopes', 'history', '--expires', 'soon']]) {
      const r = await cli('create', ...args);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
    }
    assert.match((await cli('create', '--scopes', 'publish,root')).stderr, /unknown scope "root"/);
  });
});

describe('bulwark apikeys without a server data directory', () => {
  it('says which data directory it used and refuses to create one', async () => {
    const empty = join(tempDir(), 'nothing-here');
    const r = await run(['apikeys', 'list', '--data-dir', empty]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no data directory/);
  });
});
