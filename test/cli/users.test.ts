/**
 * `bulwark users` and `bulwark revoke --user` as an operator runs them, in real child processes
 * against a running `bulwark serve` on the same data directory: the first admin of a fresh
 * install without touching SQL, roles reaching access tokens, a disable closing the user's
 * connections within about a second, a role taken away ending the tokens that carried it,
 * invitation codes, and signing a token subject out everywhere.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { openSocket, type TestClient } from '../helpers/client.js';
import { closedWithin } from '../core/fixtures.js';
import { login, mint, run, runWithInput, serve, tempDir, terminate, useCli, type Served } from '../core/cli-support.js';

useCli();

const PASSWORD = 'a sturdy admin passphrase';

interface Session {
  status: number;
  body: Record<string, unknown>;
  cookie: string | undefined;
}

async function post(served: Served, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Session> {
  const res = await fetch(`${served.url}/api/auth/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: served.origin, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const cookie = /bulwark_refresh=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, cookie };
}

const claims = (token: string): Record<string, unknown> => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

async function socketWith(served: Served, accessToken: string): Promise<TestClient> {
  return login(served, accessToken);
}

describe('bulwark users against a running server', () => {
  let dataDir: string;
  let served: Served;
  const cli = (...args: string[]): ReturnType<typeof run> => run(['users', ...args, '--data-dir', dataDir]);
  before(async () => {
    dataDir = tempDir();
    served = await serve(['--data-dir', dataDir, '--rateLimits.login', '{"points":1000,"durationMs":60000}']);
  });
  after(async () => {
    await terminate(served);
  });

  it('creates the first admin on a fresh install from standard input; the admin role reaches the access token', async () => {
    const created = await runWithInput(['users', 'create', 'alice', '--admin', '--password-stdin', '--data-dir', dataDir], `${PASSWORD}\n`);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /created acct:alice with roles admin/);
    const session = await post(served, 'login', { username: 'alice', password: PASSWORD });
    assert.equal(session.status, 200);
    assert.deepEqual(session.body.user, { id: 'acct:alice', name: 'alice', roles: ['admin'] });
    assert.deepEqual(claims(session.body.accessToken as string).roles, ['admin']);
    const client = await socketWith(served, session.body.accessToken as string);
    assert.equal((await client.request({ type: 'admin.broadcast', text: 'hello from the first admin' })).type, 'ack');
    client.close();
  });

  it('refuses a weak password, a bad username, a taken name and a missing password, creating nothing', async () => {
    for (const [args, input, pattern] of [
      [['create', 'bob'], 'short\n', /at least 10 characters/],
      [['create', 'Not Valid'], `${PASSWORD}\n`, /username/],
      [['create', 'alice'], `${PASSWORD}\n`, /taken/],
    ] as const) {
      const r = await runWithInput(['users', ...args, '--password-stdin', '--data-dir', dataDir], input);
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stderr, pattern);
    }
    const noTerminal = await run(['users', 'create', 'carol', '--data-dir', dataDir]);
    assert.equal(noTerminal.code, 1);
    assert.match(noTerminal.stderr, /--password-stdin/);
    const list = await cli('list');
    assert.equal(list.code, 0);
    assert.match(list.stdout, /^alice\s+acct:alice\s+active/m);
    assert.match(list.stdout, /1 account\(s\)/);
  });

  it('grants a role (in the next token) and takes it away: tokens that carried it stop working at once', async () => {
    assert.equal((await runWithInput(['users', 'create', 'bob', '--password-stdin', '--data-dir', dataDir], `${PASSWORD}\n`)).code, 0);
    const grant = await cli('grant', 'bob', 'admin');
    assert.equal(grant.code, 0, grant.stderr);
    const session = await post(served, 'login', { username: 'bob', password: PASSWORD });
    assert.deepEqual((session.body.user as { roles: string[] }).roles, ['admin']);
    const live = await socketWith(served, session.body.accessToken as string);

    const revoked = await cli('revoke-role', 'acct:bob', 'admin');
    assert.equal(revoked.code, 0, revoked.stderr);
    const closed = await closedWithin(live, 5000);
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'session revoked');
    // The old access token is refused; the refresh cookie still works and yields a token without the role.
    const again = await openSocket(served);
    again.send({ type: 'auth', token: session.body.accessToken });
    assert.equal((await closedWithin(again)).code, 4401);
    const refreshed = await post(served, 'refresh', {}, { cookie: `bulwark_refresh=${session.cookie!}` });
    assert.equal(refreshed.status, 200);
    assert.deepEqual((refreshed.body.user as { roles: string[] }).roles, []);
    const client = await socketWith(served, refreshed.body.accessToken as string);
    assert.equal((await client.request({ type: 'admin.broadcast', text: 'no longer' })).code, 'FORBIDDEN');
    client.close();
  });

  it('disables a user: live connections close 4403 within about a second, login and refresh are refused; enable lets them back', async () => {
    const session = await post(served, 'login', { username: 'bob', password: PASSWORD });
    const live = await socketWith(served, session.body.accessToken as string);
    const started = Date.now();
    const closedAt = live.closed.then(() => Date.now());
    const disabled = await cli('disable', 'bob');
    const exited = Date.now();
    assert.equal(disabled.code, 0, disabled.stderr);
    const closed = await closedWithin(live, 5000);
    const at = await closedAt;
    console.log(
      `# disable via the CLI: socket closed ${at - started} ms after the command started, ${Math.max(0, at - exited)} ms after it exited (the server polls every 500 ms)`,
    );
    assert.deepEqual([closed.code, closed.reason], [4403, 'account disabled']);
    const refused = await post(served, 'login', { username: 'bob', password: PASSWORD });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.accessToken, undefined);
    assert.equal((await post(served, 'refresh', {}, { cookie: `bulwark_refresh=${session.cookie!}` })).status, 401);
    const again = await openSocket(served);
    again.send({ type: 'auth', token: session.body.accessToken });
    assert.equal((await closedWithin(again)).code, 4403);
    assert.match((await cli('list')).stdout, /^bob\s+acct:bob\s+disabled/m);

    assert.equal((await cli('enable', 'bob')).code, 0);
    const back = await post(served, 'login', { username: 'bob', password: PASSWORD });
    assert.equal(back.status, 200, 'the store is authoritative for logins at once');
    // The running server lifts the disable when it next polls the log (every 500 ms).
    let admitted = false;
    for (let attempt = 0; attempt < 20 && !admitted; attempt++) {
      const client = await openSocket(served);
      client.send({ type: 'auth', token: back.body.accessToken });
      const first = await Promise.race([client.next('welcome').then(() => 'welcome'), client.closed.then(() => 'closed')]).catch(() => 'closed');
      admitted = first === 'welcome';
      client.close();
      if (!admitted) await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(admitted, 'enabled again within a few seconds');
  });

  it('resets a password: the old one stops working and existing sessions are signed out', async () => {
    const session = await post(served, 'login', { username: 'bob', password: PASSWORD });
    const live = await socketWith(served, session.body.accessToken as string);
    const reset = await runWithInput(['users', 'reset-password', 'bob', '--password-stdin', '--data-dir', dataDir], 'an entirely new passphrase\n');
    assert.equal(reset.code, 0, reset.stderr);
    assert.equal((await closedWithin(live, 5000)).code, 4401);
    assert.equal((await post(served, 'login', { username: 'bob', password: PASSWORD })).status, 401);
    assert.equal((await post(served, 'login', { username: 'bob', password: 'an entirely new passphrase' })).status, 200);
    assert.equal((await post(served, 'refresh', {}, { cookie: `bulwark_refresh=${session.cookie!}` })).status, 401);
  });

  it('prints a single-use invitation code that registration accepts once, lists it without the code, and expires unused ones', async () => {
    const invite = await cli('invite', '--for', '1h');
    assert.equal(invite.code, 0, invite.stderr);
    const code = invite.stdout.trim();
    assert.match(code, /^bwi_[A-Za-z0-9_-]{24}$/);
    assert.equal((await post(served, 'register', { username: 'dora', password: PASSWORD, invite: code })).status, 201);
    assert.equal((await post(served, 'register', { username: 'erik', password: PASSWORD, invite: code })).status, 403);
    const spare = (await cli('invite')).stdout.trim();
    const listed = await cli('invites');
    assert.ok(!listed.stdout.includes(code) && !listed.stdout.includes(spare), 'codes are never listed');
    assert.match(listed.stdout, /used\s+created .* by cli, used by acct:dora/);
    const id = /^([0-9a-f]{12})\s+open/m.exec(listed.stdout)?.[1];
    assert.ok(id, listed.stdout);
    assert.equal((await cli('uninvite', id)).code, 0);
    assert.equal((await post(served, 'register', { username: 'erik', password: PASSWORD, invite: spare })).status, 403);
  });

  it('revoke --user signs a token subject out everywhere: its live sockets close 4401 and its older tokens are refused', async () => {
    const token = await mint(dataDir, 'opsbot');
    const live = await login(served, token);
    const revoked = await run(['revoke', '--user', 'opsbot', '--data-dir', dataDir]);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await closedWithin(live, 5000)).code, 4401);
    const again = await openSocket(served);
    again.send({ type: 'auth', token });
    assert.equal((await closedWithin(again)).code, 4401);
    const fresh = await login(served, await mint(dataDir, 'opsbot'));
    assert.equal((fresh.welcome!.user as { id: string }).id, 'opsbot');
    fresh.close();
  });

  it('bulwark token refuses what the server would: a --ttl beyond auth.maxTokenTtlMs, and an acct: subject', async () => {
    const long = await run(['token', '--sub', 'robot', '--ttl', '7d', '--data-dir', dataDir]);
    assert.equal(long.code, 1);
    assert.match(long.stderr, /maxTokenTtlMs/);
    const account = await run(['token', '--sub', 'acct:alice', '--data-dir', dataDir]);
    assert.equal(account.code, 1);
    assert.match(account.stderr, /built-in accounts/);
  });

  it('prints usage for missing arguments, and names the nearest sub-command for an unknown one', async () => {
    for (const args of [[], ['grant', 'bob'], ['disable']]) {
      const r = await cli(...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /usage: bulwark users/);
    }
    const unknown = await cli('frobnicate');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /unknown sub-command "frobnicate"/);
    const typo = await cli('disabel', 'bob');
    assert.equal(typo.code, 1);
    assert.match(typo.stderr, /did you mean "disable"/);
  });
});
