/**
 * Built-in accounts (`POST /api/auth/register|login|refresh|logout`) under attack: username and
 * password policy, no user enumeration, brute force per username and per IP, refresh-token
 * rotation with reuse detection that revokes the family, logout, and secrets at rest (scrypt
 * hashes, hashed refresh tokens, nothing secret in the security events).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, type TestServer } from '../helpers/server.js';
import { openSocket } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf, storedEvents } from '../handshake/support.js';

interface AuthReply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
  text: string;
}

async function post(server: TestServer, path: string, body: unknown, headers: Record<string, string> = {}): Promise<AuthReply> {
  const res = await fetch(`${server.url}/api/auth/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.origin, ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: res.headers, text };
}

function cookieOf(reply: AuthReply): string {
  const cookie = reply.headers.get('set-cookie');
  assert.ok(cookie, 'a Set-Cookie header');
  return cookie;
}

function refreshCookieValue(reply: AuthReply): string {
  const m = /bulwark_refresh=([^;]*)/.exec(cookieOf(reply));
  assert.ok(m, 'the bulwark_refresh cookie');
  return decodeURIComponent(m[1]!);
}

const LOTS = { ...ROOMY, accounts: { registration: 'open' }, rateLimits: { ...ROOMY.rateLimits, login: { points: 10_000, durationMs: 60_000 } } };

describe('registration', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: LOTS });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('creates an account (201) with an access token and an HttpOnly, SameSite=Strict refresh cookie scoped to /api/auth', async () => {
    const reply = await post(server, 'register', { username: 'alice', password: 'tangerine-harbour-42' });
    assert.equal(reply.status, 201, reply.text);
    assert.deepEqual(reply.body.user, { id: 'acct:alice', name: 'alice', roles: [] });
    const cookie = cookieOf(reply);
    assert.match(cookie, /(^|;\s*)HttpOnly(;|$)/i);
    assert.match(cookie, /(^|;\s*)SameSite=Strict(;|$)/i);
    assert.match(cookie, /(^|;\s*)Path=\/api\/auth(;|$)/i);
    assert.equal(reply.headers.get('cache-control'), 'no-store');
    // The access token opens a session.
    const client = await openSocket(server);
    client.send({ type: 'auth', token: reply.body.accessToken });
    const welcome = await client.next('welcome');
    assert.equal((welcome.user as { id: string }).id, 'acct:alice');
    client.close();
  });

  it('refuses a taken username with 409, case-insensitively, without touching the existing account', async () => {
    for (const username of ['alice', 'ALICE', ' Alice ']) {
      const reply = await post(server, 'register', { username, password: 'a different passphrase' });
      assert.equal(reply.status, 409, username);
      assert.equal(reply.body.accessToken, undefined);
    }
    assert.equal((await post(server, 'login', { username: 'alice', password: 'tangerine-harbour-42' })).status, 200);
  });

  it('refuses invalid usernames with 400 and details naming the field', async () => {
    for (const username of ['ab', 'a'.repeat(33), 'has space', '<script>', '../etc', '.dot', '-dash', 'émile', 'a\u0000b', '', 42, null]) {
      const reply = await post(server, 'register', { username, password: 'a perfectly fine passphrase' });
      assert.equal(reply.status, 400, JSON.stringify(username));
      assert.equal(reply.body.error, 'INVALID_PAYLOAD');
      const details = reply.body.details as Array<{ path: string; message: string }>;
      assert.ok(
        details.some((d) => d.path === 'username'),
        JSON.stringify(details),
      );
    }
  });

  it('refuses weak passwords with 400 and details: too short, too long, common, containing the username, too few distinct characters', async () => {
    for (const password of ['short1!', 'x'.repeat(129), 'password123', 'Password123', 'bob-the-builder', 'aaaaaaaaaaaa', 'abababababab', '', 12345678901]) {
      const reply = await post(server, 'register', { username: 'bob-the', password });
      assert.equal(reply.status, 400, JSON.stringify(password));
      const details = reply.body.details as Array<{ path: string; message: string }>;
      assert.ok(
        details.some((d) => d.path === 'password'),
        JSON.stringify(details),
      );
    }
    // Nothing was created on the way.
    assert.equal(await server.bulwark.store.getUser('acct:bob-the'), undefined);
  });

  it('records register_refused events without the password', async () => {
    const mark = recorder.mark();
    await post(server, 'register', { username: 'carol', password: 'carol-carol' });
    const events = recorder.since(mark);
    assert.deepEqual(
      events.map((e) => e.type),
      ['register_refused'],
    );
    assert.ok(!JSON.stringify(events).includes('carol-carol'));
  });
});

describe('login', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  const password = 'correct horse battery staple';
  before(async () => {
    server = await startServer({ config: LOTS });
    recorder = new EventRecorder(server);
    for (const username of ['dave', 'erin', 'frank']) assert.equal((await post(server, 'register', { username, password })).status, 201);
  });
  after(() => server.stop());

  it('logs in with the right password (200, access token, refresh cookie)', async () => {
    const reply = await post(server, 'login', { username: 'dave', password });
    assert.equal(reply.status, 200);
    assert.equal(typeof reply.body.accessToken, 'string');
    assert.ok(refreshCookieValue(reply).length >= 20);
  });

  it('answers a wrong password and an unknown username with the same 401 and the same body (no user enumeration)', async () => {
    const wrong = await post(server, 'login', { username: 'erin', password: 'not the password at all' });
    const unknown = await post(server, 'login', { username: 'nobody-here', password: 'not the password at all' });
    const invalid = await post(server, 'login', { username: '<bad name>', password: 'not the password at all' });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(invalid.status, 401);
    assert.equal(wrong.text, unknown.text);
    assert.equal(wrong.text, invalid.text);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.equal(unknown.headers.get('set-cookie'), null);
    assert.equal(recorder.events.filter((e) => e.type === 'login_failed').length >= 3, true);
    // The right password still works (two failures are below the lock).
    assert.equal((await post(server, 'login', { username: 'erin', password })).status, 200);
  });

  it('locks a username for an IP after 5 consecutive failures from it: 429 + Retry-After and login_locked, even for the right password', async () => {
    for (let i = 0; i < 5; i++) {
      assert.equal((await post(server, 'login', { username: 'frank', password: `guess number ${i} wrong` })).status, 401, `failure ${i + 1}`);
    }
    const mark = recorder.mark();
    const locked = await post(server, 'login', { username: 'frank', password });
    assert.equal(locked.status, 429);
    assert.equal(locked.body.accessToken, undefined);
    const retryAfter = Number(locked.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter >= 1, `Retry-After: ${locked.headers.get('retry-after')}`);
    const events = recorder.since(mark);
    assert.deepEqual(
      events.map((e) => e.type),
      ['login_locked'],
    );
    assert.equal(events[0]!.detail?.scope, 'username_ip');
    // Still locked on the next try, and case or spacing does not dodge the lock.
    assert.equal((await post(server, 'login', { username: 'FRANK ', password })).status, 429);
  });

  it('locks only that username: another account on the same IP still logs in', async () => {
    assert.equal((await post(server, 'login', { username: 'dave', password })).status, 200);
  });

  it('locks an unknown username the same way (the lock does not reveal existence either)', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await post(server, 'login', { username: 'ghost-user', password: `guess ${i} is wrong` })).status, 401);
    assert.equal((await post(server, 'login', { username: 'ghost-user', password: 'guess 6 is wrong' })).status, 429);
  });
});

describe('lockout an attacker cannot turn against the owner (OWASP: per username+IP lock, per-username progressive delay)', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  const password = 'correct horse battery staple 7';
  // The test client is 127.0.0.1 for every request: as a trusted proxy it says whom it forwards for.
  const from = (ip: string): Record<string, string> => ({ 'x-forwarded-for': ip });
  const login = (ip: string, pw: string): Promise<AuthReply> => post(server, 'login', { username: 'owner', password: pw }, from(ip));
  before(async () => {
    server = await startServer({ config: { ...LOTS, trustProxy: ['127.0.0.1'] } });
    recorder = new EventRecorder(server);
    assert.equal((await post(server, 'register', { username: 'owner', password }, from('198.51.100.7'))).status, 201);
    // The owner's usual address: signed in from there before.
    assert.equal((await login('198.51.100.7', password)).status, 200);
  });
  after(() => server.stop());

  it("an attacker's failures lock the attacker's address, not the owner's: the right password from the owner's address still signs in", async () => {
    for (let i = 0; i < 5; i++) assert.equal((await login('203.0.113.66', `wrong guess ${i}`)).status, 401);
    const mark = recorder.mark();
    const attacker = await login('203.0.113.66', password);
    assert.equal(attacker.status, 429, 'the attacking address is locked, even with the right password');
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.detail?.scope]),
      [['login_locked', 'username_ip']],
    );
    assert.equal((await login('198.51.100.7', password)).status, 200, "the owner's usual address");
    assert.equal((await login('192.0.2.55', password)).status, 200, 'a new address of the owner after 5 failures elsewhere');
  });

  it('a distributed guesser is slowed down by a per-username delay that is bounded and that the known address skips', async () => {
    // Many addresses, a few guesses each: past 10 failures for the username, each one adds a wait.
    let delayed: AuthReply | undefined;
    for (let n = 1; n <= 8 && !delayed; n++) {
      for (let i = 0; i < 4; i++) {
        const reply = await login(`203.0.113.${n}`, `distributed guess ${n}-${i}`);
        if (reply.status === 429) {
          delayed = reply;
          break;
        }
        assert.equal(reply.status, 401);
      }
    }
    assert.ok(delayed, 'the progressive delay engaged');
    assert.equal(delayed.body.error, 'RATE_LIMITED');
    const retry = Number(delayed.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `a delay of at most a minute, not a lock (Retry-After: ${retry})`);
    assert.ok(recorder.events.some((e) => e.type === 'login_locked' && e.detail?.scope === 'username'));
    // Meanwhile the owner's usual address signs in at once.
    assert.equal((await login('198.51.100.7', password)).status, 200);
  });
});

describe('per-IP login limit (rateLimits.login)', () => {
  it('limits login and registration attempts per client IP across usernames: 429 + Retry-After, login_locked scope ip', async () => {
    const server = await startServer({ config: { ...ROOMY, accounts: { registration: 'open' }, rateLimits: { ...ROOMY.rateLimits, login: { points: 4, durationMs: 60_000 } } } });
    try {
      const recorder = new EventRecorder(server);
      assert.equal((await post(server, 'register', { username: 'henry', password: 'a quiet sunday morning' })).status, 201);
      for (const username of ['u-one', 'u-two', 'u-three']) {
        assert.equal((await post(server, 'login', { username, password: 'whatever it is here' })).status, 401);
      }
      const mark = recorder.mark();
      const limited = await post(server, 'login', { username: 'henry', password: 'a quiet sunday morning' });
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.scope]),
        [['login_locked', 'ip']],
      );
      assert.equal((await post(server, 'register', { username: 'ivy', password: 'another fine passphrase' })).status, 429);
    } finally {
      await server.stop();
    }
  });
});

describe('refresh tokens', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  const password = 'rotating refresh tokens';
  const cookie = (token: string): Record<string, string> => ({ cookie: `bulwark_refresh=${encodeURIComponent(token)}` });
  const refresh = (token: string): Promise<AuthReply> => post(server, 'refresh', {}, cookie(token));
  before(async () => {
    server = await startServer({ config: LOTS });
    recorder = new EventRecorder(server);
    assert.equal((await post(server, 'register', { username: 'judy', password })).status, 201);
  });
  after(() => server.stop());

  it('keeps the refresh token out of every JSON body: only the HttpOnly cookie carries it', async () => {
    const login = await post(server, 'login', { username: 'judy', password });
    const r1 = refreshCookieValue(login);
    assert.equal(login.body.refreshToken, undefined);
    assert.ok(!login.text.includes(r1), 'the login body does not contain the refresh token');
    const rotated = await refresh(r1);
    assert.equal(rotated.status, 200);
    assert.equal(rotated.body.refreshToken, undefined);
    assert.ok(!rotated.text.includes(refreshCookieValue(rotated)));
    const reg = await post(server, 'register', { username: 'judy-two', password });
    assert.equal(reg.body.refreshToken, undefined);
    assert.ok(!reg.text.includes(refreshCookieValue(reg)));
    // A refresh token sent in the body is not read: it must come back as the cookie.
    assert.equal((await post(server, 'refresh', { refreshToken: refreshCookieValue(rotated) })).status, 401);
    assert.equal((await refresh(refreshCookieValue(rotated))).status, 200, 'the token was not spent by the body attempt');
  });

  it('rotates on every use: a new refresh token and access token; the old refresh token is refused afterwards', async () => {
    const login = await post(server, 'login', { username: 'judy', password });
    const r1 = refreshCookieValue(login);
    const rotated = await refresh(r1);
    assert.equal(rotated.status, 200, rotated.text);
    const r2 = refreshCookieValue(rotated);
    assert.notEqual(r2, r1);
    assert.equal(typeof rotated.body.accessToken, 'string');
    const client = await openSocket(server);
    client.send({ type: 'auth', token: rotated.body.accessToken });
    await client.next('welcome');
    client.close();
    const r3reply = await refresh(r2);
    assert.equal(r3reply.status, 200);
    // Used tokens are spent (and presenting one again is reuse: the family dies).
    assert.equal((await refresh(r1)).status, 401);
    assert.equal((await refresh(r2)).status, 401);
  });

  it('detects reuse: presenting a used token revokes the whole family, so the newest token stops working too (refresh_reuse)', async () => {
    const login = await post(server, 'login', { username: 'judy', password });
    const r1 = refreshCookieValue(login);
    const r2 = refreshCookieValue(await refresh(r1));
    const r3 = refreshCookieValue(await refresh(r2));
    // An attacker replays a stolen, already used token.
    const mark = recorder.mark();
    const replay = await refresh(r1);
    assert.equal(replay.status, 401);
    assert.equal(replay.body.accessToken, undefined);
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.detail?.scope]),
      [
        ['refresh_reuse', undefined],
        ['token_revoked', 'session'],
      ],
    );
    // The legitimate holder's newest token is dead as well: the family is revoked.
    assert.equal((await refresh(r3)).status, 401);
    // Another session (another family) of the same user is unaffected.
    const other = await post(server, 'login', { username: 'judy', password });
    assert.equal((await refresh(refreshCookieValue(other))).status, 200);
  });

  it('refuses missing, malformed and made-up refresh tokens with 401', async () => {
    for (const headers of [{}, cookie(''), cookie('x'), cookie('A'.repeat(43)), cookie('A'.repeat(5000))]) {
      assert.equal((await post(server, 'refresh', {}, headers)).status, 401, JSON.stringify(headers).slice(0, 60));
    }
  });

  it('logout revokes the refresh family and clears the cookie', async () => {
    const login = await post(server, 'login', { username: 'judy', password });
    const r1 = refreshCookieValue(login);
    const r2 = refreshCookieValue(await refresh(r1));
    const out = await post(server, 'logout', {}, { ...cookie(r2), authorization: `Bearer ${login.body.accessToken as string}` });
    assert.equal(out.status, 204);
    assert.match(cookieOf(out), /bulwark_refresh=;.*Max-Age=0/i);
    assert.equal((await refresh(r2)).status, 401);
    // The access token of the session is revoked as well.
    const client = await openSocket(server);
    client.send({ type: 'auth', token: login.body.accessToken });
    assert.equal((await closeOf(client)).code, 4401);
  });
});

describe('secrets at rest', () => {
  let server: TestServer;
  const password = 'plaintext-must-never-be-stored';
  const tokens: string[] = [];
  before(async () => {
    server = await startServer({ config: LOTS });
    const reg = await post(server, 'register', { username: 'kate', password });
    assert.equal(reg.status, 201);
    tokens.push(refreshCookieValue(reg), reg.body.accessToken as string);
    const login = await post(server, 'login', { username: 'kate', password });
    tokens.push(refreshCookieValue(login), login.body.accessToken as string);
    const rotated = await post(server, 'refresh', {}, { cookie: `bulwark_refresh=${encodeURIComponent(refreshCookieValue(login))}` });
    tokens.push(refreshCookieValue(rotated));
    // Failures and refusals that mention the password, to see they are not recorded.
    await post(server, 'login', { username: 'kate', password: `${password}-typo` });
    await post(server, 'register', { username: 'kate2', password: 'kate2kate2' });
    await post(server, 'refresh', {}, { cookie: `bulwark_refresh=${encodeURIComponent(refreshCookieValue(login))}` });
    await server.bulwark.store.flush();
  });
  after(() => server.stop());

  it('stores the password only as an scrypt hash', async () => {
    const user = await server.bulwark.store.getUser('acct:kate');
    assert.ok(user);
    assert.match(user.passwordHash, /^scrypt\$/);
    assert.ok(!user.passwordHash.includes(password));
  });

  it('writes neither the password nor any refresh token in plain text to the database files', async () => {
    const files = ['bulwark.db', 'bulwark.db-wal'].map((f) => join(server.dataDir, f)).filter((f) => existsSync(f));
    assert.ok(files.length > 0);
    const bytes = Buffer.concat(files.map((f) => readFileSync(f)));
    assert.ok(bytes.includes(Buffer.from('scrypt$')), 'the hash is there, so the files were read');
    assert.ok(!bytes.includes(Buffer.from(password)), 'the password is not stored');
    for (const refresh of tokens.filter((_, i) => i % 2 === 0 || i === 4)) {
      assert.ok(!bytes.includes(Buffer.from(refresh)), 'a refresh token is stored hashed');
    }
  });

  it('puts no password or token in the security_events rows', async () => {
    const rows = JSON.stringify(await storedEvents(server));
    assert.ok(rows.includes('login_failed') && rows.includes('refresh_reuse'), 'the events were stored');
    assert.ok(!rows.includes(password));
    assert.ok(!rows.includes('kate2kate2'));
    for (const token of tokens) assert.ok(!rows.includes(token));
  });
});
