/**
 * Refusals admission makes itself (docs/protocol.md "Handshake"): invalid upgrades (400/426)
 * and other paths (404) answered with the security headers and an `upgrade_invalid` event,
 * before any slot and after the handshake rate; long-polling while off rate-limited before it is
 * recorded; a failing check answered 503 with `handshake_error`; an upgrade that hangs answered
 * 503 with `handshake_timeout`; an early token whose `jti`, session or user's earlier tokens are
 * revoked, or whose account is disabled, refused 401.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import type { AdmissionCounts, SlotVerdict } from '../../src/admission/slots.js';
import { LocalCounts } from '../../src/admission/slots.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { handshakeStatus, openSocket } from '../helpers/client.js';
import { EventRecorder, ROOMY, eventually, rawRequest, storedEvents, upgradeRequest } from '../handshake/support.js';
import { sioRefused, statusOf } from '../socketio/support.js';
import { admissionGauges } from './support.js';

const SECURITY_HEADERS = ['content-security-policy', 'x-content-type-options', 'referrer-policy', 'x-frame-options'];

function assertSecurityHeaders(headers: Record<string, string>): void {
  for (const h of SECURITY_HEADERS) assert.ok(headers[h], `${h} missing: ${JSON.stringify(headers)}`);
  assert.match(headers['content-security-policy']!, /frame-ancestors 'none'/);
}

/** A valid upgrade for `/ws` with its first line and key replaced as asked. */
function upgrade(server: TestServer, options: { line?: string; version?: string; key?: string | null; extra?: string[]; path?: string } = {}): string {
  const lines = upgradeRequest(server, options.extra ?? [], options.path ?? '/ws')
    .split('\r\n')
    .filter((l) => !(options.key !== undefined && l.startsWith('Sec-WebSocket-Key:')))
    .map((l) => (options.version !== undefined && l.startsWith('Sec-WebSocket-Version:') ? `Sec-WebSocket-Version: ${options.version}` : l));
  if (options.line) lines[0] = options.line;
  if (options.key) lines.splice(1, 0, `Sec-WebSocket-Key: ${options.key}`);
  return lines.join('\r\n');
}

describe('invalid upgrades and other paths', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('answers an upgrade on another path 404 with the security headers, and records upgrade_invalid', async () => {
    const mark = recorder.mark();
    const res = await rawRequest(server, upgrade(server, { path: '/chat?x=1' }));
    assert.equal(res.status, 404);
    assertSecurityHeaders(res.headers);
    const events = recorder.since(mark);
    assert.deepEqual(
      events.map((e) => [e.type, e.detail?.status, e.detail?.problem, e.detail?.path]),
      [['upgrade_invalid', 404, 'path', '/chat']],
    );
  });

  const cases: Array<{ name: string; request: (s: TestServer) => string; status: number; problem: string }> = [
    { name: 'HTTP/1.0', request: (s) => upgrade(s, { line: 'GET /ws HTTP/1.0' }), status: 400, problem: 'http_version' },
    { name: 'no Sec-WebSocket-Key', request: (s) => upgrade(s, { key: null }), status: 400, problem: 'key' },
    { name: 'a key that is not base64 of 16 bytes', request: (s) => upgrade(s, { key: 'c2hvcnQ=' }), status: 400, problem: 'key' },
    { name: 'a duplicated Sec-WebSocket-Key', request: (s) => upgrade(s, { extra: ['Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=='] }), status: 400, problem: 'duplicate_header' },
    { name: 'a duplicated Origin', request: (s) => upgrade(s, { extra: [`Origin: ${s.origin}`] }), status: 400, problem: 'duplicate_header' },
    { name: 'Upgrade: h2c', request: (s) => upgrade(s).replace('Upgrade: websocket', 'Upgrade: h2c'), status: 400, problem: 'upgrade_header' },
    { name: 'Sec-WebSocket-Version: 12', request: (s) => upgrade(s, { version: '12' }), status: 426, problem: 'version' },
    { name: 'Sec-WebSocket-Version: 8', request: (s) => upgrade(s, { version: '8' }), status: 426, problem: 'version' },
  ];
  for (const c of cases) {
    it(`refuses ${c.name} with ${c.status} and one upgrade_invalid event, before any slot (/ws and /socket.io/)`, async () => {
      for (const path of ['/ws', '/socket.io/?EIO=4&transport=websocket']) {
        const mark = recorder.mark();
        const request = c.request(server).replace('GET /ws ', `GET ${path} `);
        const res = await rawRequest(server, request);
        assert.equal(res.status, c.status, `${path}: ${c.name}`);
        assertSecurityHeaders(res.headers);
        if (c.status === 426) assert.equal(res.headers['sec-websocket-version'], '13');
        const events = recorder.since(mark);
        assert.deepEqual(
          events.map((e) => [e.type, e.detail?.status, e.detail?.problem]),
          [['upgrade_invalid', c.status, c.problem]],
          path,
        );
      }
      assert.deepEqual(await admissionGauges(server), { handshakes: 0, pendingAuth: 0, authenticated: 0 });
    });
  }
});

describe('anonymous refusals spend the handshake rate first', () => {
  it('answers invalid upgrades 429 once the handshake rate is spent, recording upgrade_invalid only within it', async () => {
    const server = await startServer({ config: { rateLimits: { handshake: { points: 5, durationMs: 60_000 } } } });
    try {
      const recorder = new EventRecorder(server);
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) statuses.push((await rawRequest(server, upgrade(server, { version: '12' }))).status);
      assert.deepEqual(statuses, [426, 426, 426, 426, 426, 429, 429, 429]);
      assert.equal(recorder.events.filter((e) => e.type === 'upgrade_invalid').length, 5);
      assert.equal(recorder.events.filter((e) => e.type === 'handshake_rate_limited').length, 3);
      assert.equal(await handshakeStatus(server), 429, 'a real handshake from the flooding IP is limited too');
    } finally {
      await server.stop();
    }
  });

  it('rate-limits GET /socket.io/?transport=polling (polling off) before recording: 60 requests, 20 refusals recorded, then 429', async () => {
    const server = await startServer({ config: { rateLimits: { handshake: { points: 20, durationMs: 60_000 } } } });
    try {
      const statuses = new Map<number, number>();
      for (let i = 0; i < 60; i++) {
        const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&t=${i}`, { headers: { Origin: server.origin } });
        await res.arrayBuffer();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (i === 59) assert.ok(res.headers.get('retry-after'), 'the 429 says when');
      }
      assert.deepEqual(Object.fromEntries(statuses), { 400: 20, 429: 40 });
      // Stored aggregated (one row per type and source per minute): 20 refusals counted, not 60.
      const rows = await storedEvents(server, 'subprotocol_refused');
      assert.equal(
        rows.reduce((n, r) => n + (r.count ?? 1), 0),
        20,
      );
    } finally {
      await server.stop();
    }
  });
});

/** Counts whose store can be broken on demand, as a cluster-wide store would break. */
class BreakableCounts implements AdmissionCounts {
  broken = false;
  private readonly inner = new LocalCounts({ max: 100, maxPerIp: 100 });
  tryAcquire(ip: string): SlotVerdict {
    if (this.broken) throw new Error('counter store unreachable');
    return this.inner.tryAcquire(ip);
  }
  release(ip: string): void {
    this.inner.release(ip);
  }
  total(): number {
    return this.inner.total();
  }
  perIp(ip: string): number {
    return this.inner.perIp(ip);
  }
}

describe('a failing check', () => {
  it('answers 503 + Retry-After with a handshake_error event on /ws and /socket.io/, gives nothing away, and recovers', async () => {
    const counts = new BreakableCounts();
    const server = await startServer({ config: { ...ROOMY }, bulwark: { admissionCounts: { connections: counts } } });
    try {
      const recorder = new EventRecorder(server);
      counts.broken = true;
      let mark = recorder.mark();
      const res = await rawRequest(server, upgradeRequest(server));
      assert.equal(res.status, 503);
      assert.equal(res.headers['retry-after'], '5');
      assertSecurityHeaders(res.headers);
      assert.doesNotMatch(res.text, /unreachable|Error/, 'no internal detail reaches the client');
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.severity, e.detail?.status]),
        [['handshake_error', 'error', 503]],
      );
      mark = recorder.mark();
      assert.equal(statusOf(await sioRefused(server, { token: await server.token('alice') })), 503);
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.transport]),
        [['handshake_error', 'socket.io']],
      );
      counts.broken = false;
      const client = await openSocket(server);
      client.close();
      await client.closed;
      assert.ok(await eventually(() => counts.total() === 0), 'the slot came back');
    } finally {
      await server.stop();
    }
  });
});

describe('upgrade timeout', () => {
  let hang: Server;
  const held: Socket[] = [];
  before(async () => {
    // A JWKS endpoint that accepts and never answers: the early-token check hangs.
    hang = createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
  });
  after(() => {
    for (const s of held) s.destroy();
    hang.close();
  });

  it('answers 503 with handshake_timeout when the checks do not finish within limits.upgradeTimeoutMs, and gives the slot back', async () => {
    const port = (hang.address() as { port: number }).port;
    const server = await startServer({
      config: { ...ROOMY, auth: { algorithms: ['RS256'], jwksUrl: `http://127.0.0.1:${port}/jwks.json` }, limits: { ...ROOMY.limits, upgradeTimeoutMs: 300 } },
    });
    try {
      const recorder = new EventRecorder(server);
      const { privateKey } = await generateKeyPair('RS256');
      const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('5m').setIssuedAt().sign(privateKey);
      const res = await rawRequest(server, upgradeRequest(server, [`Authorization: Bearer ${token}`]), 3000);
      assert.equal(res.status, 503);
      assert.deepEqual(
        recorder.events.map((e) => [e.type, e.detail?.status]),
        [['handshake_timeout', 503]],
      );
      assert.ok(await eventually(async () => (await admissionGauges(server)).handshakes === 0, 8000), 'no handshake left pending');
      // The hung check finishing later changes nothing: no second answer, no slot kept.
      assert.equal(await handshakeStatus(server), 101);
    } finally {
      await server.stop();
    }
  });
});

describe('revoked early token', () => {
  it('refuses an early token whose jti is revoked with 401 (token_revoked) at the handshake, header and subprotocol', async () => {
    const server = await startServer({ config: { ...ROOMY } });
    try {
      const recorder = new EventRecorder(server);
      const token = await server.token('alice', { jti: 'revoked-jti' });
      await server.bulwark.revocations.revoke('revoked-jti', Date.now() + 60_000);
      const mark = recorder.mark();
      assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${token}` } }), 401);
      assert.equal(await handshakeStatus(server, { protocols: ['bulwark.v1', `bulwark.bearer.${token}`] }), 401);
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.user, e.detail?.status]),
        [
          ['token_revoked', 'alice', 401],
          ['token_revoked', 'alice', 401],
        ],
      );
      assert.equal(server.bulwark.hub.openCount, 0, 'no socket was opened');
      const fresh = await server.token('alice', { jti: 'fresh-jti' });
      assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${fresh}` } }), 101);
    } finally {
      await server.stop();
    }
  });
});

describe('revoked session, revoked user and disabled account, early token', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  /** The handshake status of `token` as `Authorization: Bearer` and as the bearer subprotocol. */
  const statuses = async (token: string): Promise<number[]> => [
    await handshakeStatus(server, { headers: { Authorization: `Bearer ${token}` } }),
    await handshakeStatus(server, { protocols: ['bulwark.v1', `bulwark.bearer.${token}`] }),
  ];

  it('refuses an early token whose session (sid) is revoked with 401 (token_revoked, scope session); another session is admitted', async () => {
    const token = await server.token('acct:sam', { sid: 'family-1' });
    await server.bulwark.revocations.revokeSession('family-1', Date.now() + 60_000);
    const mark = recorder.mark();
    assert.deepEqual(await statuses(token), [401, 401]);
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.user, e.detail?.status, e.detail?.scope]),
      [
        ['token_revoked', 'acct:sam', 401, 'session'],
        ['token_revoked', 'acct:sam', 401, 'session'],
      ],
    );
    assert.equal(server.bulwark.hub.openCount, 0, 'no socket was opened');
    assert.deepEqual(await statuses(await server.token('acct:sam', { sid: 'family-2' })), [101, 101]);
  });

  it("refuses an early token issued before its user's sessions were revoked with 401 (scope user); a later token is admitted", async () => {
    const earlier = await server.token('ursula');
    await server.bulwark.revocations.revokeUser('ursula', Date.now() + 60_000);
    const mark = recorder.mark();
    assert.deepEqual(await statuses(earlier), [401, 401]);
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.user, e.detail?.scope]),
      [
        ['token_revoked', 'ursula', 'user'],
        ['token_revoked', 'ursula', 'user'],
      ],
    );
    assert.deepEqual(await statuses(await server.token('ursula')), [101, 101]);
  });

  it('refuses an early token of a disabled account with 401 (disabled_refused) until it is enabled again', async () => {
    const token = await server.token('acct:dana');
    await server.bulwark.revocations.setDisabled('acct:dana', true);
    const mark = recorder.mark();
    assert.deepEqual(await statuses(token), [401, 401]);
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.user, e.detail?.status]),
      [
        ['disabled_refused', 'acct:dana', 401],
        ['disabled_refused', 'acct:dana', 401],
      ],
    );
    assert.equal(server.bulwark.hub.openCount, 0, 'no socket was opened');
    await server.bulwark.revocations.setDisabled('acct:dana', false);
    assert.deepEqual(await statuses(token), [101, 101]);
  });
});
