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

  it('locks a username after 5 consecutive failures: 429 + Retry-After and login_locked, even for the right password', async () => {
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
    assert.equal(events[0]!.detail?.scope, 'username');
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
  before(async () => {
    server = await startServer({ config: LOTS });
    recorder = new EventRecorder(server);
    assert.equal((await post(server, 'register', { username: 'judy', password })).status, 201);
  });
  after(() => server.stop());

  it('rotates on every use: a new refresh token and access token; the old refresh token is refused afterwards', async () => {
    const login = await post(server, 'login', { username: 'judy', password });
    const r1 = refreshCookieValue(login);
    const rotated = await post(server, 'refresh', {}, { cookie: `bulwark_refresh=${encodeURIComponent(r1)}` });
    assert.equal(rotated.status, 200, rotated.text);
    const r2 = refreshCookieValue(rotated);
    assert.notEqual(r2, r1);
    assert.equal(rotated.body.refreshToken, r2);
    assert.equal(typeof rotated.body.accessToken, 'string');
    const client = await openSocket(server);
    client.send({ type: 'auth', token: rotated.body.accessToken });
    await client.next('welcome');
    client.close();
    // r2 works once, through the JSON body as well.
    const r3reply = await post(server, 'refresh', { refreshToken: r2 });
    assert.equal(r3reply.status, 200);
    // Used tokens are spent.
    assert.equal((await post(server, 'refresh', {}, { cookie: `bulwark_refresh=${encodeURIComponent(r1)}` })).status, 401);
    assert.equal((await post(server, 'refresh', { refreshToken: r2 })).status, 401);
  });

  it('detects reuse: presenting a used token revokes the whole family, so the newest token stops working too (refresh_reuse)', async () => {
    const login = await post(server, 'login', { username: 'judy', password });
    const r1 = login.body.refreshToken as string;
    const r2 = (await post(server, 'refresh', { refreshToken: r1 })).body.refreshToken as string;
    const r3 = (await post(server, 'refresh', { refreshToken: r2 })).body.refreshToken as string;
    assert.equal(typeof r3, 'string');
    // An attacker replays a stolen, already used token.
    const mark = recorder.mark();
    const replay = await post(server, 'refresh', { refreshToken: r1 });
    assert.equal(replay.status, 401);
    assert.equal(replay.body.accessToken, undefined);
    assert.deepEqual(
      recorder.since(mark).map((e) => e.type),
      ['refresh_reuse'],
    );
    // The legitimate holder's newest token is dead as well: the family is revoked.
    assert.equal((await post(server, 'refresh', { refreshToken: r3 })).status, 401);
    // Another session (another family) of the same user is unaffected.
    const other = await post(server, 'login', { username: 'judy', password });
    assert.equal((await post(server, 'refresh', { refreshToken: other.body.refreshToken })).status, 200);
  });

  it('refuses missing, malformed and made-up refresh tokens with 401', async () => {
    for (const body of [{}, { refreshToken: '' }, { refreshToken: 'x' }, { refreshToken: 'A'.repeat(43) }, { refreshToken: 'A'.repeat(5000) }, { refreshToken: 42 }]) {
      assert.equal((await post(server, 'refresh', body)).status, 401, JSON.stringify(body).slice(0, 60));
    }
  });

  it('logout revokes the refresh family and clears the cookie', async () => {
    const login = await post(server, 'login', { username: 'judy', password });
    const r1 = refreshCookieValue(login);
    const r2 = (await post(server, 'refresh', { refreshToken: r1 })).body.refreshToken as string;
    const out = await post(server, 'logout', {}, { cookie: `bulwark_refresh=${encodeURIComponent(r2)}`, authorization: `Bearer ${login.body.accessToken as string}` });
    assert.equal(out.status, 204);
    assert.match(cookieOf(out), /bulwark_refresh=;.*Max-Age=0/i);
    assert.equal((await post(server, 'refresh', { refreshToken: r2 })).status, 401);
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
    tokens.push(reg.body.refreshToken as string, reg.body.accessToken as string);
    const login = await post(server, 'login', { username: 'kate', password });
    tokens.push(login.body.refreshToken as string, login.body.accessToken as string);
    const rotated = await post(server, 'refresh', { refreshToken: login.body.refreshToken });
    tokens.push(rotated.body.refreshToken as string);
    // Failures and refusals that mention the password, to see they are not recorded.
    await post(server, 'login', { username: 'kate', password: `${password}-typo` });
    await post(server, 'register', { username: 'kate2', password: 'kate2kate2' });
    await post(server, 'refresh', { refreshToken: login.body.refreshToken });
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
