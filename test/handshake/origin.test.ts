/**
 * Cross-site WebSocket hijacking (contract section 2, step 1): only the allowed origins open a
 * socket; every forged origin is refused 403 before the upgrade, with one `origin_rejected`
 * event each. State-changing account requests from a foreign origin are refused the same way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { handshakeStatus, openSocket } from '../helpers/client.js';
import { EventRecorder, ROOMY, eventually, storedEvents } from './support.js';

describe("origin allowlist (default: the server's own origins)", () => {
  let server: TestServer;
  let recorder: EventRecorder;
  let port: number;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
    recorder = new EventRecorder(server);
    port = Number(new URL(server.url).port);
  });
  after(() => server.stop());

  it("opens a socket for the server's own origin (127.0.0.1 and localhost)", async () => {
    assert.equal(await handshakeStatus(server), 101);
    assert.equal(await handshakeStatus(server, { origin: `http://localhost:${port}` }), 101);
  });

  const forged: Array<[string, (port: number) => string]> = [
    ['another host', () => 'http://evil.example.com'],
    ['another host on the same port', (p) => `http://evil.example.com:${p}`],
    ['the same host on another port', (p) => `http://127.0.0.1:${p === 65535 ? p - 1 : p + 1}`],
    ['the same host and port over another scheme', (p) => `https://127.0.0.1:${p}`],
    ['the same host with the default port', () => 'http://127.0.0.1'],
    ['a suffix look-alike (own origin as a subdomain prefix)', (p) => `http://127.0.0.1:${p}.evil.com`],
    ['a path look-alike (own origin inside the path)', (p) => `http://evil.com/http://127.0.0.1:${p}`],
    ['a userinfo look-alike', (p) => `http://127.0.0.1:${p}@evil.com`],
    ['the own origin with a trailing path', (p) => `http://127.0.0.1:${p}/chat`],
    ['a prefix look-alike', (p) => `http://x127.0.0.1:${p}`],
    ['the literal null origin (sandboxed iframe, file:)', () => 'null'],
    ['a non-http scheme', (p) => `ws://127.0.0.1:${p}`],
    ['a file: origin', () => 'file://'],
    ['garbage', () => 'not an origin at all'],
  ];

  for (const [what, make] of forged) {
    it(`refuses ${what} with 403 before the upgrade and records one origin_rejected event`, async () => {
      const origin = make(port);
      assert.ok(await eventually(() => server.bulwark.hub.openCount === 0), 'earlier sockets closed');
      const mark = recorder.mark();
      const status = await handshakeStatus(server, { origin });
      assert.equal(status, 403, `origin ${origin}`);
      const events = recorder.since(mark);
      assert.equal(events.length, 1, `exactly one event: ${JSON.stringify(events)}`);
      assert.equal(events[0]!.type, 'origin_rejected');
      assert.equal(events[0]!.ip, '127.0.0.1');
      assert.equal(server.bulwark.hub.openCount, 0, 'no socket was opened');
    });
  }

  it('refuses a missing Origin header with 403 by default', async () => {
    const mark = recorder.mark();
    assert.equal(await handshakeStatus(server, { origin: null }), 403);
    assert.deepEqual(
      recorder.since(mark).map((e) => e.type),
      ['origin_rejected'],
    );
  });

  it('stores each refusal as an origin_rejected row carrying the offered origin, not a secret', async () => {
    // Repeats from one IP within a minute share one row with a count (docs/protocol.md "Security events").
    const counted = (rows: Array<{ count?: number }>): number => rows.reduce((n, r) => n + (r.count ?? 1), 0);
    const before = counted(await storedEvents(server, 'origin_rejected'));
    const mark = recorder.mark();
    const token = await server.token('mallory');
    assert.equal(await handshakeStatus(server, { origin: 'https://attacker.example', headers: { Authorization: `Bearer ${token}` } }), 403);
    const rows = await storedEvents(server, 'origin_rejected');
    assert.equal(counted(rows), before + 1);
    assert.ok(
      rows.every((r) => typeof r.detail?.origin === 'string' && r.detail.status === 403),
      'each row carries an offered origin',
    );
    assert.equal(recorder.since(mark, 'origin_rejected')[0]?.detail?.origin, 'https://attacker.example');
    assert.ok(!JSON.stringify(rows).includes(token), 'the bearer token never reaches the event');
  });

  it('answers an origin seen before as it did the first time, also after more distinct origins than its cache holds', async () => {
    const own = `HTTP://127.0.0.1:${port}`; // the own origin, spelled non-canonically
    for (let round = 0; round < 2; round++) {
      assert.equal(await handshakeStatus(server, { origin: own }), 101, `round ${round}: accepted`);
      assert.equal(await handshakeStatus(server, { origin: `http://127.0.0.1:${port}@evil.com` }), 403, `round ${round}: refused`);
      // 300 distinct origins: more than the 256 the guard remembers.
      const statuses = await Promise.all(Array.from({ length: 300 }, (_, i) => handshakeStatus(server, { origin: `http://evil-${round}-${i}.example` })));
      assert.deepEqual(new Set(statuses), new Set([403]));
    }
    assert.equal(await handshakeStatus(server, { origin: own }), 101, 'still accepted after the flood');
  });

  it('still opens sockets for the own origin after the attacks', async () => {
    const client = await openSocket(server);
    client.send({ type: 'auth', token: await server.token('alice') });
    await client.next('welcome');
    client.close();
  });
});

describe('origin policy when configured', () => {
  it('accepts a missing Origin only with origins.allowMissing (non-browser clients)', async () => {
    const server = await startServer({ config: { ...ROOMY, origins: { allowMissing: true } } });
    try {
      assert.equal(await handshakeStatus(server, { origin: null }), 101);
      // A forged origin is still refused: allowMissing is not allow-any.
      assert.equal(await handshakeStatus(server, { origin: 'http://evil.example.com' }), 403);
      assert.equal(await handshakeStatus(server, { origin: 'null' }), 403);
    } finally {
      await server.stop();
    }
  });

  it('with origins.allowed, accepts exactly the listed origins and nothing else (not even its own)', async () => {
    const server = await startServer({ config: { ...ROOMY, origins: { allowed: ['https://chat.example.com', 'http://localhost:3000'] } } });
    try {
      const recorder = new EventRecorder(server);
      assert.equal(await handshakeStatus(server, { origin: 'https://chat.example.com' }), 101);
      assert.equal(await handshakeStatus(server, { origin: 'http://localhost:3000' }), 101);
      const mark = recorder.mark();
      for (const origin of [
        server.origin,
        'http://chat.example.com',
        'https://chat.example.com:8443',
        'https://evil.chat.example.com',
        'https://chat.example.com.evil.com',
        'http://localhost:3001',
        'null',
      ]) {
        assert.equal(await handshakeStatus(server, { origin }), 403, origin);
      }
      assert.equal(await handshakeStatus(server, { origin: null }), 403, 'missing');
      assert.equal(recorder.since(mark, 'origin_rejected').length, 8);
      assert.equal(recorder.since(mark).length, 8);
    } finally {
      await server.stop();
    }
  });
});

describe('cross-site requests to the account API (CSRF)', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  const creds = { username: 'victim', password: 'correct horse battery' };
  before(async () => {
    server = await startServer({ config: { ...ROOMY, accounts: { registration: 'open' }, rateLimits: { ...ROOMY.rateLimits, login: { points: 1000, durationMs: 60_000 } } } });
    recorder = new EventRecorder(server);
    const res = await fetch(`${server.url}/api/auth/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin },
      body: JSON.stringify(creds),
    });
    assert.equal(res.status, 201);
  });
  after(() => server.stop());

  const post = (path: string, origin: string, body: unknown): Promise<Response> =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify(body) });

  it('refuses a cross-origin POST /api/auth/login with 403 even with the right password, and records origin_rejected', async () => {
    const mark = recorder.mark();
    const res = await post('/api/auth/login', 'https://evil.example.com', creds);
    assert.equal(res.status, 403);
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.accessToken, undefined);
    assert.equal(res.headers.get('set-cookie'), null, 'no session cookie is set');
    const events = recorder.since(mark);
    assert.deepEqual(
      events.map((e) => e.type),
      ['origin_rejected'],
    );
  });

  it('refuses cross-origin register, refresh and logout with 403', async () => {
    for (const path of ['/api/auth/register', '/api/auth/refresh', '/api/auth/logout']) {
      const res = await post(path, `http://127.0.0.1:${Number(new URL(server.url).port) + 1}`, { username: 'newbie', password: 'another fine password' });
      assert.equal(res.status, 403, path);
      await res.arrayBuffer();
    }
  });

  it('accepts the same login from the own origin', async () => {
    const res = await post('/api/auth/login', server.origin, creds);
    assert.equal(res.status, 200);
    assert.equal(typeof ((await res.json()) as { accessToken?: unknown }).accessToken, 'string');
  });
});
