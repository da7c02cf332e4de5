/**
 * Who may call the server API (docs/protocol.md "Server API"): a missing, malformed, wrong,
 * expired or revoked key is `401` on every route, before the body is even parsed; a key without
 * the route's scope is `403`; each refusal is a typed security event; a key's budget
 * (`rateLimits.api`) ends in `429` with `Retry-After`; an address that keeps presenting refused
 * keys is throttled too.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { API_SCOPES } from '../../src/api/keys.js';
import { API_ROUTES } from '../../src/api/routes.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { eventually, EventRecorder } from '../helpers/events.js';
import { connect } from '../helpers/client.js';
import { call, LOOSE, newKey } from './support.js';

/** A request each route accepts (given a key with its scope) in room `lobby`. */
const SAMPLE: Record<string, { path: string; body?: unknown }> = {
  publish: { path: '/api/v1/rooms/lobby/messages', body: { text: 'hello' } },
  broadcast: { path: '/api/v1/broadcast', body: { text: 'hello all' } },
  history: { path: '/api/v1/rooms/lobby/history' },
  presence: { path: '/api/v1/rooms/lobby/presence' },
  disconnect: { path: '/api/v1/users/nobody/disconnect', body: {} },
};

describe('server API authorization', () => {
  let server: TestServer;
  let events: EventRecorder;
  before(async () => {
    server = await startServer({ config: { rateLimits: { api: LOOSE, handshake: LOOSE, default: LOOSE } } });
    events = new EventRecorder(server);
    const owner = await connect(server, 'owner');
    await owner.ok({ type: 'room.create', room: 'lobby', visibility: 'public' });
    owner.close();
  });
  after(() => server.stop());

  it('has a sample request for every route', () => {
    assert.deepEqual(Object.keys(SAMPLE).sort(), API_ROUTES.map((r) => r.operation).sort());
  });

  it('refuses a missing, malformed or unknown key with 401 on every route and records api_key_refused with the reason', async () => {
    const wrong = `bwk_${'A'.repeat(43)}`;
    for (const route of API_ROUTES) {
      const sample = SAMPLE[route.operation]!;
      for (const [key, reason] of [
        [undefined, 'missing'],
        ['not-a-key', 'malformed'],
        [wrong, 'unknown'],
      ] as const) {
        const mark = events.mark();
        const res = await call(server, route.method, sample.path, { key, body: sample.body });
        assert.equal(res.status, 401, `${route.operation} with ${reason} key`);
        assert.equal(res.body.error, 'UNAUTHENTICATED');
        assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
        const refused = events.since(mark, 'api_key_refused');
        assert.equal(refused.length, 1);
        assert.equal(refused[0]!.detail?.reason, reason);
        assert.equal(refused[0]!.ip, '127.0.0.1');
      }
    }
  });

  it('answers 401 before parsing the body: a bad body without a key is still 401', async () => {
    const res = await call(server, 'POST', '/api/v1/broadcast', { body: '{not json', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 401);
  });

  it('refuses a key lacking the route scope with 403 and a forbidden_action event, on every route', async () => {
    for (const route of API_ROUTES) {
      const { key, record } = await newKey(
        server,
        API_SCOPES.filter((s) => s !== route.scope),
      );
      const sample = SAMPLE[route.operation]!;
      const mark = events.mark();
      const res = await call(server, route.method, sample.path, { key, body: sample.body });
      assert.equal(res.status, 403, route.operation);
      assert.equal(res.body.error, 'FORBIDDEN');
      assert.match(String(res.body.message), new RegExp(route.scope));
      const forbidden = events.since(mark, 'forbidden_action');
      assert.equal(forbidden.length, 1);
      assert.equal(forbidden[0]!.user, `apikey:${record.id}`);
      assert.equal(forbidden[0]!.detail?.action, `api.${route.operation}`);
    }
  });

  it('accepts a key with exactly the route scope', async () => {
    for (const route of API_ROUTES) {
      const { key } = await newKey(server, [route.scope]);
      const sample = SAMPLE[route.operation]!;
      const res = await call(server, route.method, sample.path, { key, body: sample.body });
      assert.ok(res.status >= 200 && res.status < 300, `${route.operation}: ${res.status} ${JSON.stringify(res.body)}`);
    }
  });

  it('refuses an expired key with 401 (reason expired)', async () => {
    const { key } = await newKey(server, ['history'], { ttlMs: 60_000, now: Date.now() - 120_000 });
    const mark = events.mark();
    const res = await call(server, 'GET', '/api/v1/rooms/lobby/history', { key });
    assert.equal(res.status, 401);
    assert.equal(events.since(mark, 'api_key_refused')[0]?.detail?.reason, 'expired');
  });

  it('refuses a revoked key within about a second (reason revoked), while a key that was working keeps working until then', async () => {
    const { key, record } = await newKey(server, ['history']);
    assert.equal((await call(server, 'GET', '/api/v1/rooms/lobby/history', { key })).status, 200);
    assert.equal(await server.bulwark.store.revokeApiKey(record.id, Date.now()), true);
    assert.equal(await server.bulwark.store.revokeApiKey(record.id, Date.now()), false, 'revoking twice reports nothing to revoke');
    const mark = events.mark();
    assert.ok(await eventually(async () => (await call(server, 'GET', '/api/v1/rooms/lobby/history', { key })).status === 401, 3000, 100));
    assert.equal(events.since(mark, 'api_key_refused').at(-1)?.detail?.reason, 'revoked');
  });

  it('never echoes the key and never leaks internals in an error body', async () => {
    const { key } = await newKey(server, ['publish']);
    const res = await call(server, 'POST', '/api/v1/rooms/lobby/messages', { key, body: '{"text": ', headers: { 'content-type': 'application/json' } });
    assert.equal(res.status, 400);
    assert.deepEqual(Object.keys(res.body).sort(), ['error', 'message']);
    assert.doesNotMatch(JSON.stringify(res.body), /bwk_|at .*\.ts|SQL|node_modules/);
  });
});

describe('server API rate limits', () => {
  let server: TestServer;
  let events: EventRecorder;
  before(async () => {
    server = await startServer({ config: { rateLimits: { api: { points: 3, durationMs: 60_000 }, handshake: LOOSE, default: LOOSE } } });
    events = new EventRecorder(server);
    const owner = await connect(server, 'owner');
    await owner.ok({ type: 'room.create', room: 'lobby', visibility: 'public' });
    owner.close();
  });
  after(() => server.stop());

  it('gives each key rateLimits.api calls, then 429 with Retry-After and retryAfterMs, and a rate_limited event', async () => {
    const a = await newKey(server, ['history']);
    const b = await newKey(server, ['history']);
    for (let i = 0; i < 3; i++) assert.equal((await call(server, 'GET', '/api/v1/rooms/lobby/history', { key: a.key })).status, 200);
    const mark = events.mark();
    const limited = await call(server, 'GET', '/api/v1/rooms/lobby/history', { key: a.key });
    assert.equal(limited.status, 429);
    assert.equal(limited.body.error, 'RATE_LIMITED');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.ok(typeof limited.body.retryAfterMs === 'number' && limited.body.retryAfterMs > 0);
    const ev = events.since(mark, 'rate_limited');
    assert.equal(ev.length, 1);
    assert.equal(ev[0]!.user, `apikey:${a.record.id}`);
    assert.equal(ev[0]!.detail?.rule, 'api');
    // Another key has its own budget.
    assert.equal((await call(server, 'GET', '/api/v1/rooms/lobby/history', { key: b.key })).status, 200);
  });

  it('throttles an address that keeps presenting refused keys (10× rateLimits.api), whatever the key', async () => {
    const wrong = `bwk_${'B'.repeat(43)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await call(server, 'GET', '/api/v1/rooms/lobby/history', { key: wrong })).status);
    assert.deepEqual(statuses.slice(0, 30), Array(30).fill(401));
    assert.equal(statuses[30], 429);
  });
});
