/**
 * The handshake guard order of contract section 2 — origin, handshake rate, capacity (node, then
 * per IP), subprotocol, early token — each refusal with its status, its headers and exactly one
 * security event and one `bulwark_handshake_refusals_total` increment; early tokens that work
 * and are never echoed, logged or stored; `trustProxy`; and bounded handshake headers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { loadConfig } from '../../src/config/load.js';
import { hmacSecret } from '../../src/auth/keys.js';
import { mintToken } from '../../src/auth/jwt.js';
import { createBulwark } from '../../src/server.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { handshakeStatus, openSocket, type ConnectOptions, type TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY, epoch, eventually, metricValue, rawRequest, signHs, storedEvents, upgradeRequest } from './support.js';

interface Refusal {
  status: number;
  headers: Record<string, string | string[] | undefined>;
}

/** Attempts a handshake that must be refused; returns its status and response headers. */
async function refusal(server: TestServer, options: ConnectOptions = {}): Promise<Refusal> {
  try {
    const client = await openSocket(server, options);
    client.close();
  } catch (error) {
    const e = error as { status?: number; headers?: Record<string, string> };
    if (e.status === undefined) throw error;
    return { status: e.status, headers: e.headers ?? {} };
  }
  assert.fail('the handshake was accepted');
}

/**
 * Asserts one refused handshake: its status, exactly one security event of `event`, and one
 * more `bulwark_handshake_refusals_total` (any reason, and the given reason).
 */
async function expectRefused(server: TestServer, recorder: EventRecorder, options: ConnectOptions, status: number, event: string, reason: string): Promise<Refusal> {
  const mark = recorder.mark();
  const total = await metricValue(server, 'bulwark_handshake_refusals_total');
  const byReason = await metricValue(server, 'bulwark_handshake_refusals_total', { reason });
  const result = await refusal(server, options);
  assert.equal(result.status, status, `status for ${event}`);
  const events = recorder.since(mark);
  assert.deepEqual(
    events.map((e) => e.type),
    [event],
    `exactly one ${event} event`,
  );
  assert.equal(events[0]!.detail?.status, status);
  assert.equal(await metricValue(server, 'bulwark_handshake_refusals_total'), total + 1);
  assert.equal(await metricValue(server, 'bulwark_handshake_refusals_total', { reason }), byReason + 1);
  return result;
}

function retryAfterSeconds(r: Refusal): number {
  const value = r.headers['retry-after'];
  assert.equal(typeof value, 'string', 'Retry-After is present');
  const seconds = Number(value);
  assert.ok(Number.isInteger(seconds) && seconds >= 1, `Retry-After is whole seconds: ${String(value)}`);
  return seconds;
}

/** Opens sockets until one is refused (at most `bound` attempts). */
async function openUntilRefused(
  server: TestServer,
  options: (i: number) => ConnectOptions,
  bound: number,
): Promise<{ clients: TestClient[]; refused: Refusal | undefined; attempts: number }> {
  const clients: TestClient[] = [];
  for (let i = 0; i < bound; i++) {
    try {
      clients.push(await openSocket(server, options(i)));
    } catch (error) {
      const e = error as { status?: number; headers?: Record<string, string> };
      if (e.status === undefined) throw error;
      return { clients, refused: { status: e.status, headers: e.headers ?? {} }, attempts: i + 1 };
    }
  }
  return { clients, refused: undefined, attempts: bound };
}

async function closeAll(server: TestServer, clients: TestClient[]): Promise<void> {
  const target = server.bulwark.hub.openCount - clients.length;
  for (const c of clients) c.close();
  await Promise.all(clients.map((c) => c.closed));
  assert.ok(await eventually(() => server.bulwark.hub.openCount <= target), 'the server saw the closes');
}

describe('handshake guard order', () => {
  it('checks origin first: a forged origin with no subprotocol and a bad token gets 403, not 400 or 401', async () => {
    const server = await startServer({ config: { ...ROOMY } });
    try {
      const recorder = new EventRecorder(server);
      await expectRefused(
        server,
        recorder,
        { origin: 'https://evil.example.com', protocols: ['chat'], headers: { Authorization: 'Bearer not.a.jwt' } },
        403,
        'origin_rejected',
        'origin',
      );
      await expectRefused(server, recorder, { origin: 'https://evil.example.com', protocols: ['bulwark.v1', 'bulwark.bearer.garbage'] }, 403, 'origin_rejected', 'origin');
    } finally {
      await server.stop();
    }
  });

  it('does not spend the handshake rate on forged origins (origin before rate), then limits with 429 + Retry-After', async () => {
    const server = await startServer({ config: { rateLimits: { handshake: { points: 3, durationMs: 60_000 } } } });
    try {
      const recorder = new EventRecorder(server);
      for (let i = 0; i < 5; i++) assert.equal(await handshakeStatus(server, { origin: 'http://evil.example.com' }), 403);
      for (let i = 0; i < 3; i++) assert.equal(await handshakeStatus(server), 101, `handshake ${i + 1} of 3`);
      const limited = await expectRefused(server, recorder, {}, 429, 'handshake_rate_limited', 'rate');
      const seconds = retryAfterSeconds(limited);
      assert.ok(seconds <= 60, `Retry-After within the window: ${seconds}`);
      // The limit holds for every later attempt in the window, valid token or not.
      assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${await server.token('alice')}` } }), 429);
      // A forged origin is still answered 403: origin comes first even when the IP is limited.
      assert.equal(await handshakeStatus(server, { origin: 'http://evil.example.com' }), 403);
    } finally {
      await server.stop();
    }
  });

  it('checks the handshake rate before capacity: over both, the answer is 429 not 503', async () => {
    const server = await startServer({ config: { rateLimits: { handshake: { points: 4, durationMs: 60_000 } }, limits: { maxConnections: 2 } } });
    try {
      const recorder = new EventRecorder(server);
      const { clients, refused, attempts } = await openUntilRefused(server, () => ({}), 4);
      assert.equal(refused?.status, 503, 'the node is full first');
      let tries = attempts;
      const statuses: number[] = [];
      while (tries < 4) {
        statuses.push((await refusal(server)).status);
        tries++;
      }
      assert.ok(
        statuses.every((s) => s === 503),
        `still full: ${JSON.stringify(statuses)}`,
      );
      // The fifth handshake is over the rate limit as well as over capacity: rate wins.
      await expectRefused(server, recorder, {}, 429, 'handshake_rate_limited', 'rate');
      await closeAll(server, clients);
    } finally {
      await server.stop();
    }
  });

  it('refuses past limits.maxConnections with 503 + Retry-After, before subprotocol and token, and admits again once a slot frees', async () => {
    const server = await startServer({ config: { ...ROOMY, limits: { maxConnections: 3 } } });
    try {
      const recorder = new EventRecorder(server);
      const mark = recorder.mark();
      const { clients, refused } = await openUntilRefused(server, () => ({}), 10);
      assert.ok(clients.length <= 3 && clients.length >= 2, `opened ${clients.length} of 3`);
      assert.equal(refused?.status, 503);
      retryAfterSeconds(refused!);
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.scope]),
        [['capacity_refused', 'node']],
      );
      await expectRefused(server, recorder, {}, 503, 'capacity_refused', 'capacity');
      await expectRefused(server, recorder, { protocols: ['chat'] }, 503, 'capacity_refused', 'capacity');
      await expectRefused(server, recorder, { headers: { Authorization: 'Bearer bad' } }, 503, 'capacity_refused', 'capacity');
      await closeAll(server, clients.splice(0, 1));
      const again = await openSocket(server);
      await closeAll(server, [again, ...clients]);
    } finally {
      await server.stop();
    }
  });

  it('admits exactly limits.maxConnections connections (N open, the N+1th refused)', async () => {
    const server = await startServer({ config: { ...ROOMY, limits: { maxConnections: 3 } } });
    try {
      const { clients, refused } = await openUntilRefused(server, () => ({}), 10);
      assert.equal(clients.length, 3);
      assert.equal(refused?.status, 503);
      await closeAll(server, clients);
    } finally {
      await server.stop();
    }
  });

  it('refuses past limits.maxConnectionsPerIp with 429 + Retry-After (per-IP cap), before subprotocol and token', async () => {
    const server = await startServer({ config: { ...ROOMY, limits: { maxConnectionsPerIp: 3 } } });
    try {
      const recorder = new EventRecorder(server);
      const mark = recorder.mark();
      const { clients, refused } = await openUntilRefused(server, () => ({}), 10);
      assert.ok(clients.length <= 3 && clients.length >= 2, `opened ${clients.length} of 3`);
      assert.equal(refused?.status, 429);
      retryAfterSeconds(refused!);
      const events = recorder.since(mark);
      assert.deepEqual(
        events.map((e) => [e.type, e.detail?.scope, e.ip]),
        [['capacity_refused', 'ip', '127.0.0.1']],
      );
      await expectRefused(server, recorder, {}, 429, 'capacity_refused', 'ip_cap');
      await expectRefused(server, recorder, { protocols: ['chat'] }, 429, 'capacity_refused', 'ip_cap');
      await expectRefused(server, recorder, { headers: { Authorization: 'Bearer bad' } }, 429, 'capacity_refused', 'ip_cap');
      await closeAll(server, clients);
      assert.equal(await handshakeStatus(server), 101);
    } finally {
      await server.stop();
    }
  });

  it('admits exactly limits.maxConnectionsPerIp connections from one IP', async () => {
    const server = await startServer({ config: { ...ROOMY, limits: { maxConnectionsPerIp: 3 } } });
    try {
      const { clients, refused } = await openUntilRefused(server, () => ({}), 10);
      assert.equal(clients.length, 3);
      assert.equal(refused?.status, 429);
      await closeAll(server, clients);
    } finally {
      await server.stop();
    }
  });

  it('counts handshakes still in flight against the caps: a burst of 20 slow-to-verify handshakes cannot overshoot a cap of 5', async () => {
    // Early tokens verified against a JWKS that answers slowly keep every handshake in flight
    // past the capacity step at once; only in-flight counting stops them all from opening.
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const jwks = createHttpServer((_req, res) => {
      setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })), 400);
    });
    await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    const server = await startServer({ config: { ...ROOMY, auth: { algorithms: ['RS256'], jwksUrl }, limits: { maxConnectionsPerIp: 5 } } });
    try {
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('burst').setExpirationTime('10m').sign(privateKey);
      const results = await Promise.allSettled(Array.from({ length: 20 }, () => openSocket(server, { headers: { Authorization: `Bearer ${token}` } })));
      const opened = results.filter((r): r is PromiseFulfilledResult<TestClient> => r.status === 'fulfilled').map((r) => r.value);
      const statuses = results.filter((r) => r.status === 'rejected').map((r) => (r.reason as { status?: number }).status);
      assert.ok(opened.length >= 1 && opened.length <= 5, `opened ${opened.length} of a cap of 5`);
      assert.ok(
        statuses.every((s) => s === 429),
        JSON.stringify(statuses),
      );
      await closeAll(server, opened);
    } finally {
      await server.stop();
      jwks.closeAllConnections();
      jwks.close();
    }
  });
});

describe('subprotocol and early token', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('refuses a handshake that does not offer bulwark.v1 with 400 (none, another, or a future version)', async () => {
    for (const protocols of [[], ['chat'], ['bulwark.v2'], ['BULWARK.V1'], ['bulwark.v1x']]) {
      await expectRefused(server, recorder, { protocols }, 400, 'subprotocol_refused', 'subprotocol');
    }
  });

  it('checks the subprotocol before the token: no bulwark.v1 and a bad bearer gets 400, not 401', async () => {
    await expectRefused(server, recorder, { protocols: ['bulwark.bearer.garbage'] }, 400, 'subprotocol_refused', 'subprotocol');
    await expectRefused(server, recorder, { protocols: ['chat'], headers: { Authorization: 'Bearer garbage' } }, 400, 'subprotocol_refused', 'subprotocol');
  });

  it('accepts an early token in Authorization: Bearer — welcome arrives without an auth frame', async () => {
    const token = await server.token('alice', { name: 'Alice' });
    const client = await openSocket(server, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(client.ws.protocol, 'bulwark.v1');
    const welcome = await client.next('welcome');
    assert.deepEqual(welcome.user, { id: 'alice', name: 'Alice', roles: [] });
    client.close();
  });

  it('accepts an early token as a second subprotocol bulwark.bearer.<jwt> and selects exactly bulwark.v1', async () => {
    const token = await server.token('bob');
    const client = await openSocket(server, { protocols: ['bulwark.v1', `bulwark.bearer.${token}`] });
    assert.equal(client.ws.protocol, 'bulwark.v1');
    const welcome = await client.next('welcome');
    assert.equal((welcome.user as { id: string }).id, 'bob');
    client.close();
    // Offered in the other order, the server still selects bulwark.v1, never the bearer entry.
    const reversed = await openSocket(server, { protocols: [`bulwark.bearer.${token}`, 'bulwark.v1'] });
    assert.equal(reversed.ws.protocol, 'bulwark.v1');
    await reversed.next('welcome');
    reversed.close();
  });

  it('never echoes the bearer entry in the 101 response', async () => {
    const token = await server.token('carol');
    const response = await rawRequest(
      server,
      upgradeRequest(server, []).replace('Sec-WebSocket-Protocol: bulwark.v1', `Sec-WebSocket-Protocol: bulwark.v1, bulwark.bearer.${token}`),
    );
    assert.equal(response.status, 101);
    assert.equal(response.headers['sec-websocket-protocol'], 'bulwark.v1');
    assert.ok(!JSON.stringify(response).includes(token));
  });

  const badTokens: Array<[string, (s: TestServer) => Promise<string>, string]> = [
    ['a garbage token', async () => 'garbage', 'auth_failed'],
    [
      'a token signed with another key',
      async () => {
        return new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('eve')
          .setExpirationTime('10m')
          .sign(new TextEncoder().encode('x'.repeat(40)));
      },
      'auth_failed',
    ],
    ['an expired token', (s) => signHs(s, { sub: 'alice', exp: epoch(-600) }), 'token_expired'],
  ];
  for (const [what, make, event] of badTokens) {
    it(`refuses ${what} as an early token with 401 (header and subprotocol), with ${event}`, async () => {
      const token = await make(server);
      await expectRefused(server, recorder, { headers: { Authorization: `Bearer ${token}` } }, 401, event, 'token');
      assert.equal(recorder.events.at(-1)!.detail?.via, 'header');
      await expectRefused(server, recorder, { protocols: ['bulwark.v1', `bulwark.bearer.${token}`] }, 401, event, 'token');
      assert.equal(recorder.events.at(-1)!.detail?.via, 'subprotocol');
    });
  }

  it('refuses a token in the query string with 400 even when it is valid (?token= and ?access_token=)', async () => {
    const token = await server.token('alice');
    for (const param of ['token', 'access_token']) {
      await expectRefused(server, recorder, { path: `/ws?${param}=${token}` }, 400, 'query_token_refused', 'query_token');
    }
  });

  it('never stores an early or query token in a security event', async () => {
    const valid = await server.token('dave');
    const expired = await signHs(server, { sub: 'dave', exp: epoch(-600) });
    assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${expired}` } }), 401);
    assert.equal(await handshakeStatus(server, { protocols: ['bulwark.v1', `bulwark.bearer.${expired}`] }), 401);
    assert.equal(await handshakeStatus(server, { path: `/ws?token=${valid}` }), 400);
    assert.equal(await handshakeStatus(server, { origin: 'http://evil.example.com', headers: { Authorization: `Bearer ${valid}` } }), 403);
    const rows = JSON.stringify(await storedEvents(server));
    for (const token of [valid, expired]) {
      assert.ok(!rows.includes(token), 'no token in the stored events');
      assert.ok(!rows.includes(token.split('.')[2]!), 'not even its signature');
    }
  });

  it('still admits a well-behaved client after the refusals', async () => {
    const client = await openSocket(server);
    client.send({ type: 'auth', token: await server.token('erin') });
    await client.next('welcome');
    client.close();
  });
});

describe('query-string token when enabled', () => {
  it('is accepted only with auth.allowQueryToken, and an invalid one is refused 401', async () => {
    const server = await startServer({ config: { ...ROOMY, auth: { allowQueryToken: true } } });
    try {
      const token = await server.token('alice');
      const client = await openSocket(server, { path: `/ws?token=${encodeURIComponent(token)}` });
      assert.equal(client.ws.protocol, 'bulwark.v1');
      await client.next('welcome');
      client.close();
      assert.equal(await handshakeStatus(server, { path: '/ws?token=garbage' }), 401);
    } finally {
      await server.stop();
    }
  });
});

describe('tokens are never logged', () => {
  it('writes no early, bearer-subprotocol or query token into any log line', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const dataDir = mkdtempSync(join(tmpdir(), 'bulwark-logs-'));
    const config = loadConfig({ env: {}, overrides: { host: '127.0.0.1', port: 0, dataDir, logLevel: 'trace', ...ROOMY } });
    const bulwark = await createBulwark(config, { logger: pino({ level: 'trace' }, sink) });
    const url = await bulwark.start();
    const server = { url, wsUrl: `${url.replace(/^http/, 'ws')}/ws`, origin: url };
    try {
      const secret = hmacSecret(config);
      const valid = await mintToken(secret, config.auth, { sub: 'alice', ttlMs: 60_000 });
      const expired = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('alice').setExpirationTime(epoch(-600)).sign(secret);
      assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${expired}` } }), 401);
      assert.equal(await handshakeStatus(server, { protocols: ['bulwark.v1', `bulwark.bearer.${expired}`] }), 401);
      assert.equal(await handshakeStatus(server, { path: `/ws?token=${valid}` }), 400);
      assert.equal(await handshakeStatus(server, { origin: 'http://evil.example.com', path: `/ws?token=${valid}` }), 403);
      const ok = await openSocket(server, { headers: { Authorization: `Bearer ${valid}` } });
      await ok.next('welcome');
      ok.close();
      await ok.closed;
      assert.ok(
        lines.some((l) => l.includes('security event')),
        'the security events were logged',
      );
      const all = lines.join('');
      for (const token of [valid, expired]) {
        assert.ok(!all.includes(token), 'no token in the log');
        assert.ok(!all.includes(token.split('.')[2]!), 'no token signature in the log');
      }
    } finally {
      await bulwark.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('client IP and trustProxy', () => {
  it('ignores X-Forwarded-For from a client that is not a trusted proxy: the per-IP cap counts its real address', async () => {
    const server = await startServer({ config: { ...ROOMY, limits: { maxConnectionsPerIp: 3 } } });
    try {
      const recorder = new EventRecorder(server);
      const mark = recorder.mark();
      // Each handshake claims a different address; all count against 127.0.0.1.
      const { clients, refused } = await openUntilRefused(server, (i) => ({ headers: { 'X-Forwarded-For': `203.0.113.${i + 1}` } }), 10);
      assert.ok(clients.length <= 3, `opened ${clients.length}`);
      assert.equal(refused?.status, 429);
      assert.equal(recorder.since(mark, 'capacity_refused')[0]!.ip, '127.0.0.1', 'the event names the real peer');
      await closeAll(server, clients);
    } finally {
      await server.stop();
    }
  });

  it("does not let an untrusted client claim another address to escape an IP ban or wear someone else's", async () => {
    const server = await startServer({ config: { ...ROOMY } });
    try {
      await server.bulwark.bans.ban('ip', '203.0.113.9', 'test', { durationMs: 60_000 });
      // Claiming a banned address does not get this client refused (its IP is its own)...
      assert.equal(await handshakeStatus(server, { headers: { 'X-Forwarded-For': '203.0.113.9' } }), 101);
      // ...and once its real address is banned, claiming another one does not help.
      await server.bulwark.bans.ban('ip', '127.0.0.1', 'test', { durationMs: 60_000 });
      assert.equal(await handshakeStatus(server, { headers: { 'X-Forwarded-For': '198.51.100.7' } }), 403);
    } finally {
      await server.stop();
    }
  });

  it('honours X-Forwarded-For from a trusted proxy (right-most untrusted hop) for bans, caps and events', async () => {
    const server = await startServer({ config: { ...ROOMY, trustProxy: ['127.0.0.1'], limits: { maxConnectionsPerIp: 3 } } });
    try {
      const recorder = new EventRecorder(server);
      await server.bulwark.bans.ban('ip', '203.0.113.9', 'test', { durationMs: 60_000 });
      let mark = recorder.mark();
      assert.equal(await handshakeStatus(server, { headers: { 'X-Forwarded-For': '203.0.113.9' } }), 403);
      assert.equal(recorder.since(mark, 'banned_refused')[0]?.ip, '203.0.113.9');
      // A spoofed left-most entry does not help: the proxy appended the real client last.
      assert.equal(await handshakeStatus(server, { headers: { 'X-Forwarded-For': '192.0.2.1, 203.0.113.9' } }), 403);
      assert.equal(await handshakeStatus(server, { headers: { 'X-Forwarded-For': '203.0.113.9, 192.0.2.1' } }), 101);

      // Per-IP caps count the forwarded client, not the proxy.
      const other = await openSocket(server, { headers: { 'X-Forwarded-For': '203.0.113.2' } });
      mark = recorder.mark();
      const { clients, refused } = await openUntilRefused(server, () => ({ headers: { 'X-Forwarded-For': '203.0.113.1' } }), 10);
      assert.ok(clients.length >= 2 && clients.length <= 3, `opened ${clients.length}`);
      assert.equal(refused?.status, 429);
      assert.equal(recorder.since(mark, 'capacity_refused')[0]!.ip, '203.0.113.1');
      // Another client behind the same proxy still gets in.
      const second = await openSocket(server, { headers: { 'X-Forwarded-For': '203.0.113.2' } });
      await closeAll(server, [other, second, ...clients]);
    } finally {
      await server.stop();
    }
  });
});

describe('handshake header bounds', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('refuses a handshake with thousands of headers with 431, cheaply', async () => {
    const extra = Array.from({ length: 5000 }, (_, i) => `X-Flood-${i}: v`);
    const started = process.hrtime.bigint();
    const response = await rawRequest(server, upgradeRequest(server, extra));
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(response.status, 431);
    assert.ok(ms < 2000, `refused in ${ms} ms`);
    assert.equal(server.bulwark.hub.openCount, 0);
  });

  it('refuses more headers than limits.maxHeaderCount even when their bytes are small (431, headers_too_large)', async () => {
    const mark = recorder.mark();
    const response = await rawRequest(
      server,
      upgradeRequest(
        server,
        Array.from({ length: 200 }, (_, i) => `X-${i}: v`),
      ),
    );
    assert.equal(response.status, 431);
    assert.deepEqual(
      recorder.since(mark).map((e) => e.type),
      ['headers_too_large'],
    );
  });

  it('refuses a single oversized header with 431', async () => {
    const response = await rawRequest(server, upgradeRequest(server, [`X-Big: ${'a'.repeat(16_000)}`]));
    assert.equal(response.status, 431);
  });

  it('records a headers_too_large event and sends the security headers when the HTTP parser itself refuses the header block', async () => {
    const mark = recorder.mark();
    const response = await rawRequest(
      server,
      upgradeRequest(
        server,
        Array.from({ length: 5000 }, (_, i) => `X-Flood-${i}: v`),
      ),
    );
    assert.equal(response.status, 431);
    assert.deepEqual(
      recorder.since(mark).map((e) => e.type),
      ['headers_too_large'],
    );
    assert.equal(response.headers['x-content-type-options'], 'nosniff');
  });

  it('still serves a well-behaved client after the header floods', async () => {
    const client = await openSocket(server);
    client.send({ type: 'auth', token: await server.token('alice') });
    await client.next('welcome');
    client.close();
  });
});
