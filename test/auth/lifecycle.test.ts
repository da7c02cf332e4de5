/**
 * Token lifecycle (issue 14): a token's lifetime is bounded by `auth.maxTokenTtlMs` (`exp: 1e308`
 * is refused), an expiry farther than one Node timer can hold is still enforced, and a built-in
 * account's access tokens carry their session (`sid`): revoking the refresh family — on reuse or
 * at logout — closes every socket its tokens opened and refuses those tokens afterwards.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { handshakeStatus, openSocket, type TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf, epoch, signHs } from '../handshake/support.js';

const DAY_S = 86_400;

/** Waits up to `max` event-loop turns (not timers, which are faked here) for `done`. */
async function turns(done: () => boolean, max = 5000): Promise<boolean> {
  for (let i = 0; i < max; i++) {
    if (done()) return true;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return done();
}

async function authenticate(server: TestServer, token: string): Promise<TestClient> {
  const client = await openSocket(server);
  client.send({ type: 'auth', token });
  client.welcome = await client.next('welcome');
  return client;
}

describe('auth.maxTokenTtlMs: a bounded token lifetime', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('defaults to 24 hours', () => {
    assert.equal(server.config.auth.maxTokenTtlMs, 24 * 3600_000);
  });

  it('refuses exp: 1e308 and other far expiries, with or without iat, at auth (4401) and as an early token (401)', async () => {
    for (const claims of [
      { sub: 'forever', exp: 1e308 },
      { sub: 'forever', iat: epoch(), exp: 1e308 },
      { sub: 'long', iat: epoch(), exp: epoch(DAY_S + 120) },
      { sub: 'backdated', iat: epoch(-DAY_S), exp: epoch(600) + DAY_S },
      { sub: 'no-iat', exp: epoch(DAY_S + 120) },
    ]) {
      const token = await signHs(server, claims);
      const mark = recorder.mark();
      const client = await openSocket(server);
      client.send({ type: 'auth', token });
      assert.equal((await closeOf(client)).code, 4401, JSON.stringify(claims));
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.reason]),
        [['auth_failed', 'lifetime']],
      );
      assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${token}` } }), 401);
    }
  });

  it('accepts a token that lives up to the bound', async () => {
    for (const claims of [
      { sub: 'day', iat: epoch(), exp: epoch(DAY_S) },
      { sub: 'no-iat-short', exp: epoch(3600) },
    ]) {
      const client = await authenticate(server, await signHs(server, claims));
      client.close();
    }
  });
});

describe('an expiry farther than one Node timer (2^31-1 ms, about 24.8 days)', () => {
  it('is still enforced: refresh_required, then close 4401 at exp', async (t) => {
    const server = await startServer({ config: { ...ROOMY, auth: { maxTokenTtlMs: 60 * DAY_S * 1000, refreshLeadMs: 60_000 } } });
    try {
      const exp = epoch(30 * DAY_S);
      const token = await signHs(server, { sub: 'long-lived', iat: epoch(), exp });
      const client = await openSocket(server);
      // Fake clock from here: the server's expiry timers for this connection are scheduled on it.
      t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() });
      client.send({ type: 'auth', token });
      await client.next('welcome');
      t.mock.timers.tick(30 * DAY_S * 1000 - 90_000);
      assert.equal(await turns(() => client.frames.some((f) => f.type === 'auth.refresh_required'), 200), false, 'nothing fires early');
      t.mock.timers.tick(60_000);
      assert.ok(await turns(() => client.frames.some((f) => f.type === 'auth.refresh_required')), 'auth.refresh_required a minute before exp');
      assert.equal(client.frames.find((f) => f.type === 'auth.refresh_required')?.expiresAt, exp * 1000);
      t.mock.timers.tick(60_000);
      let closed: { code: number; reason: string } | undefined;
      void client.closed.then((c) => (closed = c));
      assert.ok(await turns(() => closed !== undefined), 'closed at exp');
      assert.deepEqual([closed!.code, closed!.reason], [4401, 'token expired']);
    } finally {
      t.mock.timers.reset();
      await server.stop();
    }
  });
});

describe('revoking a refresh family ends the access tokens minted from it', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  const password = 'a family of tokens here';

  async function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; refresh?: string }> {
    const res = await fetch(`${server.url}/api/auth/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin, ...headers },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    const refresh = /bulwark_refresh=([^;]*)/.exec(res.headers.get('set-cookie') ?? '')?.[1];
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, ...(refresh ? { refresh } : {}) };
  }
  const cookie = (value: string): Record<string, string> => ({ cookie: `bulwark_refresh=${value}` });

  before(async () => {
    server = await startServer({ config: { ...ROOMY, accounts: { registration: 'open' }, rateLimits: { ...ROOMY.rateLimits, login: { points: 1000, durationMs: 60_000 } } } });
    recorder = new EventRecorder(server);
    assert.equal((await post('register', { username: 'fay', password })).status, 201);
  });
  after(() => server.stop());

  it('carries the session id in the sid claim of every access token of the family', async () => {
    const login = await post('login', { username: 'fay', password });
    const rotated = await post('refresh', {}, cookie(login.refresh!));
    const sid = (token: unknown): unknown => (JSON.parse(Buffer.from(String(token).split('.')[1]!, 'base64url').toString()) as { sid?: string }).sid;
    assert.equal(typeof sid(login.body.accessToken), 'string');
    assert.equal(sid(rotated.body.accessToken), sid(login.body.accessToken));
    const other = await post('login', { username: 'fay', password });
    assert.notEqual(sid(other.body.accessToken), sid(login.body.accessToken), 'a new sign-in is a new session');
  });

  it('on refresh-token reuse, closes every socket the stolen family authenticated (4401) and refuses its tokens; other sessions live on', async () => {
    const login = await post('login', { username: 'fay', password });
    const first = await authenticate(server, login.body.accessToken as string);
    const rotated = await post('refresh', {}, cookie(login.refresh!));
    // The attacker's copy: an access token minted from the same family, on another socket.
    const second = await authenticate(server, rotated.body.accessToken as string);
    const unrelated = await post('login', { username: 'fay', password });
    const bystander = await authenticate(server, unrelated.body.accessToken as string);

    const mark = recorder.mark();
    assert.equal((await post('refresh', {}, cookie(login.refresh!))).status, 401, 'reuse of a spent refresh token');
    for (const client of [first, second]) assert.deepEqual(Object.values(await closeOf(client)), [4401, 'session revoked']);
    assert.ok(recorder.since(mark, 'refresh_reuse').length === 1);
    for (const token of [login.body.accessToken, rotated.body.accessToken]) {
      const again = await openSocket(server);
      again.send({ type: 'auth', token });
      assert.deepEqual(Object.values(await closeOf(again)), [4401, 'session revoked']);
    }
    assert.equal(bystander.ws.readyState, bystander.ws.OPEN, 'another session of the same user stays connected');
    await bystander.ok({ type: 'room.list' });
    bystander.close();
  });

  it('at logout, closes the sockets of every access token of the session, not only the one presented', async () => {
    const login = await post('login', { username: 'fay', password });
    const rotated = await post('refresh', {}, cookie(login.refresh!));
    const older = await authenticate(server, login.body.accessToken as string);
    const newer = await authenticate(server, rotated.body.accessToken as string);
    const out = await post('logout', {}, { ...cookie(rotated.refresh!), authorization: `Bearer ${rotated.body.accessToken as string}` });
    assert.equal(out.status, 204);
    assert.equal((await closeOf(older)).code, 4401, 'the older token of the same session');
    assert.equal((await closeOf(newer)).code, 4401);
  });
});
