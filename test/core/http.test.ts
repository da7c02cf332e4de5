/**
 * The one HTTP server (contract section 1): `/healthz`, `/readyz` (checks storage), `/metrics`
 * (Prometheus text with the metrics operators need), security headers on every response, and
 * `GET /ws` upgraded only after the handshake checks, with `bulwark.v1` selected.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus, openSocket } from '../helpers/client.js';
import { LOOSE_LIMITS, get } from './fixtures.js';

/** The value of one sample line `name{labels} value` in Prometheus text, or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(labels ? `${name}{${labels}} ` : `${name} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Polls the open-connections gauge until it reads `expected` (or 3 s pass); returns the last value. */
async function openGauge(server: TestServer, expected: number): Promise<number | undefined> {
  const deadline = Date.now() + 3000;
  let value: number | undefined;
  do {
    value = sample((await get(`${server.url}/metrics`)).text, 'bulwark_open_connections');
    if (value === expected) return value;
    await new Promise((r) => setTimeout(r, 20));
  } while (Date.now() < deadline);
  return value;
}

function assertSecurityHeaders(headers: Headers): void {
  const csp = headers.get('content-security-policy') ?? '';
  assert.match(csp, /connect-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.match(csp, /script-src 'self'(;|$)/, 'no inline script');
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(headers.get('x-content-type-options'), 'nosniff');
  assert.equal(headers.get('referrer-policy'), 'no-referrer');
  assert.equal(headers.get('strict-transport-security'), null, 'no HSTS without TLS');
}

describe('HTTP endpoints', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: LOOSE_LIMITS });
  });
  after(() => server.stop());

  it('GET /healthz answers 200 with security headers', async () => {
    const res = await get(`${server.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.text), { status: 'ok' });
    assertSecurityHeaders(res.headers);
  });

  it('GET /readyz answers 200 while storage is reachable', async () => {
    const res = await get(`${server.url}/readyz`);
    assert.equal(res.status, 200);
    assertSecurityHeaders(res.headers);
  });

  it('answers an unknown path with 404, security headers and no internals', async () => {
    const res = await get(`${server.url}/no/such/thing`);
    assert.equal(res.status, 404);
    assertSecurityHeaders(res.headers);
    assert.doesNotMatch(res.text, /\bat \w|node_modules|\.ts\b/);
  });

  it('upgrades GET /ws with the bulwark.v1 subprotocol', async () => {
    const client = await openSocket(server);
    assert.equal(client.ws.protocol, 'bulwark.v1');
    client.close();
  });

  it('refuses an upgrade on any other path without opening a socket', async () => {
    assert.equal(await handshakeStatus(server, { path: '/socket' }), 404);
    assert.equal(await handshakeStatus(server, { path: '/ws/extra' }), 404);
  });

  it('runs the handshake checks before accepting: a foreign origin or a missing subprotocol never opens', async () => {
    assert.equal(await handshakeStatus(server, { origin: 'https://evil.example' }), 403);
    assert.equal(await handshakeStatus(server, { protocols: ['chat'] }), 400);
    assert.equal(await handshakeStatus(server), 101);
  });

  it('GET /metrics exposes connections, frames in and out by type, errors by code and handshake refusals by reason', async () => {
    // Sockets of earlier tests close asynchronously on the server: start from an idle node.
    const openBefore = 0;
    assert.equal(await openGauge(server, openBefore), openBefore);
    const a = await connect(server, 'metered');
    const b = await connect(server, 'metered-too');
    await a.ok({ type: 'room.create', room: 'metrics-room', visibility: 'public' });
    await a.ok({ type: 'room.join', room: 'metrics-room' });
    await a.ok({ type: 'chat.send', room: 'metrics-room', text: 'count me' });
    await b.request({ type: 'room.delete', room: 'metrics-room' }); // FORBIDDEN
    await handshakeStatus(server, { origin: 'https://elsewhere.example' });

    const res = await get(`${server.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    assertSecurityHeaders(res.headers);
    const text = res.text;
    assert.equal(sample(text, 'bulwark_open_connections'), openBefore + 2);
    assert.ok((sample(text, 'bulwark_frames_in_total', 'type="chat.send"') ?? 0) >= 1);
    assert.ok((sample(text, 'bulwark_frames_in_total', 'type="room.create"') ?? 0) >= 1);
    assert.ok((sample(text, 'bulwark_frames_out_total', 'type="ack"') ?? 0) >= 3);
    assert.ok((sample(text, 'bulwark_frames_out_total', 'type="welcome"') ?? 0) >= 2);
    assert.ok((sample(text, 'bulwark_errors_total', 'code="FORBIDDEN"') ?? 0) >= 1);
    assert.ok((sample(text, 'bulwark_handshake_refusals_total', 'reason="origin"') ?? 0) >= 1);
    assert.doesNotMatch(text, /count me|metered/, 'no message text or user id in label values');

    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
    assert.equal(await openGauge(server, openBefore), openBefore, 'the gauge goes back down when sockets close');
  });

  it('GET /metrics counts frames delivered through the bus (chat.message, announcement) in frames out', async () => {
    const admin = await connect(server, 'counted', { roles: ['admin'] });
    await admin.ok({ type: 'room.create', room: 'fanout-room', visibility: 'public' });
    await admin.ok({ type: 'room.join', room: 'fanout-room' });
    await admin.ok({ type: 'chat.send', room: 'fanout-room', text: 'count my delivery' });
    await admin.ok({ type: 'admin.broadcast', text: 'count my announcement' });
    await admin.next('announcement');
    const text = (await get(`${server.url}/metrics`)).text;
    assert.ok((sample(text, 'bulwark_frames_out_total', 'type="chat.message"') ?? 0) >= 1);
    assert.ok((sample(text, 'bulwark_frames_out_total', 'type="announcement"') ?? 0) >= 1);
    admin.close();
  });

  it('GET /metrics exposes the store latency histogram with observations', async () => {
    const client = await connect(server, 'latency');
    await client.ok({ type: 'room.create', room: 'latency-room', visibility: 'public' });
    await client.ok({ type: 'chat.send', room: 'latency-room', text: 'time me' });
    const text = (await get(`${server.url}/metrics`)).text;
    const counts = text.split('\n').filter((l) => l.startsWith('bulwark_store_latency_seconds_count'));
    const total = counts.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    assert.ok(total >= 2, `store writes observed: ${counts.join(', ')}`);
    client.close();
  });
});

describe('readiness with broken storage', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('GET /readyz answers 503 once storage is unreachable, while /healthz stays 200', async () => {
    assert.equal((await get(`${server.url}/readyz`)).status, 200);
    await server.bulwark.store.close();
    const ready = await get(`${server.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.doesNotMatch(ready.text, /database|sqlite|\/tmp|\bat /i, 'no internals in the answer');
    assert.equal((await get(`${server.url}/healthz`)).status, 200);
  });
});
