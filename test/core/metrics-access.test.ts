/**
 * Who may read `/metrics` (contract section 1): loopback and `trustProxy` peers by default — and
 * through a trusted proxy only when the client it forwards for is itself local — or anyone with
 * `metrics.token` as a bearer token. Everyone else gets 404 (403 for a wrong token) and a
 * `metrics_refused` event.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { startServer, type TestServer } from '../helpers/server.js';
import { EventRecorder } from '../helpers/events.js';
import { metricsAccess } from '../../src/transport/metrics-access.js';

const TOKEN = 'a-metrics-token-of-at-least-32-characters';

async function scrape(server: TestServer, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  const res = await fetch(`${server.url}/metrics`, { headers });
  return { status: res.status, text: await res.text() };
}

describe('/metrics access (default: no token)', () => {
  let server: TestServer;
  let events: EventRecorder;
  before(async () => {
    server = await startServer({ config: { trustProxy: ['127.0.0.1'] } });
    events = new EventRecorder(server);
  });
  after(() => server.stop());

  it('serves a scraper on this machine', async () => {
    const r = await scrape(server);
    assert.equal(r.status, 200);
    assert.match(r.text, /bulwark_open_connections/);
  });

  it('refuses 404 an outside client forwarded by the trusted proxy, and records metrics_refused', async () => {
    const mark = events.mark();
    const r = await scrape(server, { 'X-Forwarded-For': '203.0.113.7' });
    assert.equal(r.status, 404);
    assert.doesNotMatch(r.text, /bulwark_/);
    const refused = events.since(mark).filter((e) => e.type === 'metrics_refused');
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.ip, '203.0.113.7');
  });

  it('serves a local client forwarded by the trusted proxy', async () => {
    assert.equal((await scrape(server, { 'X-Forwarded-For': '127.0.0.1' })).status, 200);
  });

  it('refuses 403 a bearer token when none is configured', async () => {
    assert.equal((await scrape(server, { Authorization: `Bearer ${TOKEN}` })).status, 403);
  });
});

describe('/metrics access with metrics.token', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { trustProxy: ['127.0.0.1'], metrics: { token: TOKEN } } });
  });
  after(() => server.stop());

  it('serves an outside client that presents the token', async () => {
    const r = await scrape(server, { 'X-Forwarded-For': '203.0.113.8', Authorization: `Bearer ${TOKEN}` });
    assert.equal(r.status, 200);
    assert.match(r.text, /bulwark_open_connections/);
  });

  it('refuses 403 a wrong token, even from loopback, and 404 an outside client without one', async () => {
    assert.equal((await scrape(server, { Authorization: `Bearer ${TOKEN.slice(0, -1)}x` })).status, 403);
    assert.equal((await scrape(server, { Authorization: 'Bearer short' })).status, 403);
    assert.equal((await scrape(server, { 'X-Forwarded-For': '203.0.113.8' })).status, 404);
  });
});

describe('metricsAccess for peers a loopback test cannot be', () => {
  const req = (remoteAddress: string, headers: Record<string, string> = {}): IncomingMessage => ({ socket: { remoteAddress }, headers }) as unknown as IncomingMessage;

  it('refuses a non-loopback peer that is not a trusted proxy, and accepts a trusted proxy itself', () => {
    const allowed = metricsAccess({ token: undefined, trustProxy: ['10.0.0.2'] });
    assert.deepEqual(allowed(req('198.51.100.4')), { ok: false, status: 404, reason: 'peer' });
    assert.deepEqual(allowed(req('::ffff:198.51.100.4')), { ok: false, status: 404, reason: 'peer' });
    assert.deepEqual(allowed(req('10.0.0.2')), { ok: true });
    assert.deepEqual(allowed(req('10.0.0.2', { 'x-forwarded-for': '198.51.100.4' })), { ok: false, status: 404, reason: 'peer' });
    assert.deepEqual(allowed(req('::1')), { ok: true });
    assert.deepEqual(allowed(req('::ffff:127.0.0.1')), { ok: true });
  });

  it('does not believe X-Forwarded-For from an untrusted peer', () => {
    const allowed = metricsAccess({ token: undefined, trustProxy: [] });
    assert.deepEqual(allowed(req('198.51.100.4', { 'x-forwarded-for': '127.0.0.1' })), { ok: false, status: 404, reason: 'peer' });
  });

  it('accepts the token from any peer', () => {
    const allowed = metricsAccess({ token: TOKEN, trustProxy: [] });
    assert.deepEqual(allowed(req('198.51.100.4', { authorization: `Bearer ${TOKEN}` })), { ok: true });
    assert.deepEqual(allowed(req('198.51.100.4', { authorization: `bearer  ${TOKEN} ` })), { ok: true });
  });
});
