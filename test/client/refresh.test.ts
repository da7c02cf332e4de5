import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { nextEvent, sdk, sleep } from './sdk.js';

// Tokens live 4 s; the server asks for a new one 3 s before expiry, i.e. about 1 s in.
const TTL_MS = 4000;
const config = { auth: { refreshLeadMs: 3000 } };

describe('client SDK: token expiry and refresh', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config });
  });
  after(() => server.stop());

  it('answers auth.refresh_required with a fresh token from the provider and stays connected past exp', async () => {
    const reasons: string[] = [];
    const client = sdk(server, {
      token: async ({ reason }) => {
        reasons.push(reason);
        return server.token('fresh', { ttlMs: TTL_MS });
      },
    });
    const closed: number[] = [];
    client.on('closed', ({ code }) => closed.push(code));
    client.on('reconnecting', ({ code }) => closed.push(code));
    await client.ready();
    const first = await nextEvent(client, 'refreshed', () => true, TTL_MS + 2000);
    assert.ok(first.expiresAt > Date.now());
    // Two token lifetimes later the same connection is still open: each refresh extended it.
    await sleep(2 * TTL_MS);
    assert.deepEqual(closed, [], 'the connection was never closed');
    assert.equal(client.state, 'open');
    assert.ok(reasons.filter((r) => r === 'refresh').length >= 2, `provider asked: ${reasons.join(',')}`);
    assert.deepEqual(
      reasons.filter((r) => r !== 'refresh'),
      ['connect'],
    );
    client.close();
  });

  it('is closed 4401 at exp with a fixed token, and does not reconnect', async () => {
    const client = sdk(server, { token: await server.token('fixed', { ttlMs: TTL_MS }), reconnect: { baseMs: 10 } });
    let reconnects = 0;
    client.on('reconnecting', () => reconnects++);
    await client.ready();
    const closed = await nextEvent(client, 'closed', () => true, TTL_MS + 3000);
    assert.equal(closed.code, 4401);
    assert.match(closed.reason, /expired/);
    assert.equal(reconnects, 0);
  });

  it('reconnects after an expiry close when the provider yields a new token', async () => {
    let issued = 0;
    const client = sdk(server, {
      reconnect: { baseMs: 10 },
      token: async ({ reason }) => {
        issued++;
        // Ignore refresh requests (as a provider with a momentary outage would); after the 4401
        // the provider can mint again.
        if (reason === 'refresh') throw new Error('token service unavailable');
        return server.token('later', { ttlMs: reason === 'rejected' ? 60_000 : TTL_MS });
      },
    });
    const errors: string[] = [];
    client.on('error', (e) => errors.push(e.code));
    await client.ready();
    const reconnecting = await nextEvent(client, 'reconnecting', () => true, TTL_MS + 3000);
    assert.equal(reconnecting.code, 4401);
    const reopened = await nextEvent(client, 'open', () => true, 5000);
    assert.equal(reopened.resumed, true);
    assert.ok(errors.includes('TOKEN'), 'the failed refresh was reported');
    assert.ok(issued >= 3);
    client.close();
  });
});
