/**
 * Contract section 3, authentication v1: the `auth` frame, `welcome`, the auth timeout (4408),
 * a non-auth first frame (4401), `auth.refresh` and live expiry, the per-user connection cap.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { hmacSecret } from '../../src/auth/keys.js';
import { startServer, type TestServer } from '../helpers/server.js';
import WebSocket from 'ws';
import { TestClient, connect, openSocket } from '../helpers/client.js';
import { closedWithin, LOOSE_LIMITS } from './fixtures.js';

describe('authentication', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      config: { ...LOOSE_LIMITS, auth: { timeoutMs: 400, refreshLeadMs: 1500 }, limits: { maxConnectionsPerUser: 2 }, heartbeatMs: 5000 },
    });
  });
  after(() => server.stop());

  it('answers a valid auth frame with welcome {user, connectionId, heartbeatMs, limits}', async () => {
    const client = await openSocket(server);
    client.send({ type: 'auth', token: await server.token('ada', { name: 'Ada Lovelace', roles: ['admin', 'ops'] }) });
    const welcome = await client.next('welcome');
    assert.deepEqual(welcome.user, { id: 'ada', name: 'Ada Lovelace', roles: ['admin', 'ops'] });
    assert.equal(typeof welcome.connectionId, 'string');
    assert.ok((welcome.connectionId as string).length > 0);
    assert.equal(welcome.heartbeatMs, 5000);
    const limits = welcome.limits as Record<string, unknown>;
    assert.equal(limits.maxPayloadBytes, server.config.limits.maxPayloadBytes);
    assert.equal(limits.maxMessageChars, server.config.limits.maxMessageChars);
    client.close();
  });

  it('defaults the display name to the subject and the roles to none', async () => {
    const client = await connect(server, 'plain');
    assert.deepEqual(client.welcome!.user, { id: 'plain', name: 'plain', roles: [] });
    client.close();
  });

  it('gives every connection its own connectionId', async () => {
    const a = await connect(server, 'twin');
    const b = await connect(server, 'twin');
    assert.notEqual(a.welcome!.connectionId, b.welcome!.connectionId);
    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
  });

  it('closes 4408 when no auth frame arrives within auth.timeoutMs', async () => {
    const client = await openSocket(server);
    const { code } = await closedWithin(client);
    assert.equal(code, 4408);
    assert.equal(client.frames.length, 0, 'nothing is sent to an unauthenticated socket');
  });

  it('closes 4401 when the first frame is not auth', async () => {
    const client = await openSocket(server);
    client.send({ type: 'room.list', id: 'early' });
    const { code } = await closedWithin(client);
    assert.equal(code, 4401);
    // Every frame with an id gets exactly one reply (docs/protocol.md "Frames"), then the close.
    assert.deepEqual(
      client.frames.map((f) => [f.type, f.id, f.code]),
      [['error', 'early', 'UNAUTHENTICATED']],
    );
  });

  it('closes 4401 when the first frame is not JSON', async () => {
    const client = await openSocket(server);
    client.sendRaw('hello');
    assert.equal((await closedWithin(client)).code, 4401);
  });

  it('closes 4401 for an auth frame with a token signed by another key', async () => {
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setExpirationTime('10m')
      .sign(new TextEncoder().encode('x'.repeat(32)));
    const client = await openSocket(server);
    client.send({ type: 'auth', token: forged });
    assert.equal((await closedWithin(client)).code, 4401);
    assert.equal(client.frames.length, 0);
  });

  it('closes 4401 "token expired" for an auth frame with a token that expired an hour ago', async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('late')
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(hmacSecret(server.config));
    const client = await openSocket(server);
    client.send({ type: 'auth', token: old });
    const closed = await closedWithin(client);
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'token expired');
  });

  it('closes 4401 for an auth frame that breaks its schema', async () => {
    const client = await openSocket(server);
    client.send({ type: 'auth', token: await server.token('x'), extra: true });
    assert.equal((await closedWithin(client)).code, 4401);
  });

  it('refuses a second auth on an authenticated connection with BAD_REQUEST and keeps it open', async () => {
    const client = await connect(server, 'again');
    const reply = await client.request({ type: 'auth', token: await server.token('someone-else') });
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'BAD_REQUEST');
    const list = await client.request({ type: 'room.list' });
    assert.equal(list.type, 'ack', 'the connection still works');
    client.close();
  });

  it('closes 4429 past limits.maxConnectionsPerUser live connections for one sub', async () => {
    const a = await connect(server, 'capped');
    const b = await connect(server, 'capped');
    const c = await openSocket(server);
    c.send({ type: 'auth', token: await server.token('capped') });
    assert.equal((await closedWithin(c)).code, 4429);
    // The first two are untouched, and a slot frees up when one closes.
    assert.equal((await a.request({ type: 'room.list' })).type, 'ack');
    b.close();
    await closedWithin(b);
    await waitUntil(() => server.bulwark.hub.userCount('capped') < 2);
    const d = await connect(server, 'capped');
    assert.equal((await d.request({ type: 'room.list' })).type, 'ack');
    a.close();
    d.close();
  });

  it('answers auth.refresh with ack {id, expiresAt} for a new token of the same sub', async () => {
    const client = await connect(server, 'refresher');
    const fresh = await server.token('refresher', { ttlMs: 60 * 60_000 });
    const reply = await client.request({ type: 'auth.refresh', token: fresh });
    assert.equal(reply.type, 'ack');
    const payload = JSON.parse(Buffer.from(fresh.split('.')[1]!, 'base64url').toString()) as { exp: number };
    assert.equal(reply.expiresAt, payload.exp * 1000);
    client.close();
  });

  it('answers auth.refresh with an invalid token with UNAUTHENTICATED', async () => {
    const client = await connect(server, 'badrefresh');
    const reply = await client.request({ type: 'auth.refresh', token: 'not.a.jwt' });
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'UNAUTHENTICATED');
    client.close();
  });

  it('closes 4403 when auth.refresh carries a token for another sub', async () => {
    const client = await connect(server, 'victim');
    client.send({ type: 'auth.refresh', id: 'swap', token: await server.token('intruder') });
    assert.equal((await closedWithin(client)).code, 4403);
  });

  it('sends auth.refresh_required before exp and closes 4401 "token expired" at exp without a refresh', async () => {
    const client = await connect(server, 'shortlived', { token: await server.token('shortlived', { ttlMs: 2000 }) });
    const notice = await client.next('auth.refresh_required', 4000);
    assert.equal(typeof notice.expiresAt, 'number');
    const closed = await Promise.race([client.closed, delay(6000).then(() => ({ code: -1, reason: 'still open' }))]);
    assert.equal(closed.code, 4401);
    assert.equal(closed.reason, 'token expired');
  });

  it('keeps a connection open past the old exp once auth.refresh succeeded', async () => {
    const client = await connect(server, 'renewed', { token: await server.token('renewed', { ttlMs: 2000 }) });
    await client.next('auth.refresh_required', 4000);
    await client.ok({ type: 'auth.refresh', token: await server.token('renewed', { ttlMs: 60 * 60_000 }) });
    const closed = await Promise.race([client.closed, delay(3000).then(() => undefined)]);
    assert.equal(closed, undefined, `closed unexpectedly: ${JSON.stringify(closed)}`);
    assert.equal((await client.request({ type: 'room.list' })).type, 'ack');
    client.close();
  });
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitUntil(predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await delay(10);
  }
}

describe('liveness', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { ...LOOSE_LIMITS, heartbeatMs: 1000 } });
  });
  after(() => server.stop());

  it('terminates a connection that stops answering pings, and keeps one that answers', async () => {
    const healthy = await connect(server, 'awake');
    // A peer that is gone without a FIN: it never answers the server's pings.
    const ws = new WebSocket(server.wsUrl, ['bulwark.v1'], { headers: { Origin: server.origin }, autoPong: false });
    const silent = new TestClient(ws);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    silent.send({ type: 'auth', token: await server.token('asleep') });
    await silent.next('welcome');
    const closed = await closedWithin(silent, 6000);
    assert.equal(closed.code, 1006, 'terminated without a closing handshake');
    assert.equal((await healthy.request({ type: 'room.list' })).type, 'ack', 'the answering peer is still connected');
    healthy.close();
  });
});
