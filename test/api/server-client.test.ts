/**
 * `bulwark/server` (src/server-client): the typed Node client against a real node, every method
 * and the typed errors (status, code, details, retryAfterMs), and the package export.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BulwarkApiError, BulwarkServer } from '../../src/server-client/index.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { LOOSE, newKey } from './support.js';

describe('bulwark/server, the server API client', () => {
  let server: TestServer;
  let owner: TestClient;
  let api: BulwarkServer;

  /** The error a promise rejects with. */
  const refusal = async (p: Promise<unknown>): Promise<BulwarkApiError> => {
    try {
      await p;
    } catch (error) {
      assert.ok(error instanceof BulwarkApiError, String(error));
      return error;
    }
    assert.fail('expected a refusal');
  };

  before(async () => {
    server = await startServer({ config: { rateLimits: { api: { points: 40, durationMs: 60_000 }, handshake: LOOSE, default: LOOSE } } });
    owner = await connect(server, 'owner');
    await owner.ok({ type: 'room.create', room: 'lobby', visibility: 'public' });
    await owner.ok({ type: 'room.join', room: 'lobby' });
    api = new BulwarkServer({ url: `${server.url}/`, apiKey: (await newKey(server)).key });
  });
  after(async () => {
    owner.close();
    await server.stop();
  });

  it('is exported as bulwark/server', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { exports: Record<string, string> };
    assert.equal(pkg.exports['./server'], './dist/src/server-client/index.js');
  });

  it('publishes (as the system or a named user, idempotently) and the members receive it', async () => {
    const first = await api.publish('lobby', 'Order #7 shipped', { idempotencyKey: 'order-7' });
    assert.equal(first.duplicate, false);
    assert.equal(first.message.room, 'lobby');
    assert.ok('text' in first.message && first.message.text === 'Order #7 shipped');
    const frame = await owner.next('chat.message');
    assert.deepEqual(frame.message, first.message);
    const again = await api.publish('lobby', 'Order #7 shipped', { idempotencyKey: 'order-7' });
    assert.deepEqual(again, { message: first.message, duplicate: true });
    const named = await api.publish('lobby', 'hello', { user: { id: 'shop', name: 'Shop' } });
    assert.ok('user' in named.message && named.message.user.id === 'shop');
    await owner.next('chat.message');
  });

  it('reads history, broadcasts and disconnects', async () => {
    const page = await api.history('lobby', { limit: 1 });
    assert.equal(page.room, 'lobby');
    assert.equal(page.messages.length, 1);
    assert.equal(page.hasMore, true);
    const older = await api.history('lobby', { before: page.messages[0]!.seq });
    assert.equal(older.messages.length, 1);
    const { ts } = await api.broadcast('Maintenance tonight');
    assert.deepEqual(await owner.next('announcement'), { type: 'announcement', text: 'Maintenance tonight', from: 'System', ts });
    const victim = await connect(server, 'victim');
    assert.deepEqual(await api.disconnect('victim', { code: 4000, reason: 'bye' }), { user: 'victim', code: 4000, reason: 'bye' });
    assert.equal((await victim.closed).code, 4000);
  });

  it('rejects with typed errors: NOT_FOUND, INVALID_PAYLOAD with details, FORBIDDEN, UNAUTHENTICATED, RATE_LIMITED with retryAfterMs', async () => {
    const missing = await refusal(api.publish('nowhere', 'x'));
    assert.equal(missing.status, 404);
    assert.equal(missing.code, 'NOT_FOUND');
    const invalid = await refusal(api.history('lobby', { limit: 1000 }));
    assert.equal(invalid.code, 'INVALID_PAYLOAD');
    assert.equal(invalid.details?.[0]?.path, 'querystring.limit');
    const historyOnly = new BulwarkServer({ url: server.url, apiKey: (await newKey(server, ['history'])).key });
    assert.equal((await refusal(historyOnly.broadcast('x'))).code, 'FORBIDDEN');
    const wrong = new BulwarkServer({ url: server.url, apiKey: `bwk_${'C'.repeat(43)}` });
    const unauthenticated = await refusal(wrong.history('lobby'));
    assert.equal(unauthenticated.status, 401);
    assert.doesNotMatch(unauthenticated.message, /bwk_/);
    let limited: BulwarkApiError | undefined;
    for (let i = 0; i < 50 && !limited; i++) {
      try {
        await api.history('lobby', { limit: 1 });
      } catch (error) {
        limited = error as BulwarkApiError;
      }
    }
    assert.equal(limited?.code, 'RATE_LIMITED');
    assert.ok((limited?.retryAfterMs ?? 0) > 0);
  });

  it('reports an unreachable server as status 0', async () => {
    const gone = new BulwarkServer({ url: 'http://127.0.0.1:1', apiKey: `bwk_${'D'.repeat(43)}`, timeoutMs: 2000 });
    const error = await refusal(gone.history('lobby'));
    assert.equal(error.status, 0);
    assert.equal(error.code, 'INTERNAL');
  });
});
