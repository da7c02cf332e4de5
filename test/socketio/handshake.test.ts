/**
 * Handshake defences (contract section 2) observed from the real `socket.io-client` on
 * `/socket.io/`: the same refusals as `/ws`, and token refusals as `connect_error` with
 * `data: { code, closeCode }`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { hmacSecret } from '../../src/auth/keys.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { EventRecorder, ROOMY } from '../handshake/support.js';
import { sioConnect, sioRefused, statusOf, sleep, type SioClient } from './support.js';

/** A token of this server's key that expired two minutes ago (beyond the clock skew). */
function expiredToken(server: TestServer, sub: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(sub)
    .setIssuedAt(now - 600)
    .setExpirationTime(now - 120)
    .sign(hmacSecret(server.config));
}

describe('the Socket.IO handshake', () => {
  let server: TestServer;
  let events: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 2 } } });
    events = new EventRecorder(server);
  });
  after(() => server.stop());

  it('connects with a valid token in auth.token and no bulwark.v1 subprotocol, and sends welcome', async () => {
    const client = await sioConnect(server, 'alice');
    assert.equal((client.welcome!.user as { id: string }).id, 'alice');
    assert.equal(typeof client.welcome!.connectionId, 'string');
    client.close();
  });

  it('refuses a forged Origin with 403 before the transport opens, and records origin_rejected', async () => {
    const mark = events.mark();
    const refused = await sioRefused(server, { token: await server.token('mallory'), origin: 'http://evil.example' });
    assert.equal(statusOf(refused), 403);
    assert.equal(refused.data, undefined, 'no Socket.IO session was opened');
    assert.equal((await events.waitFor(mark, 'origin_rejected')).length, 1);
  });

  it('refuses an Origin that only shares a prefix with an allowed one', async () => {
    const refused = await sioRefused(server, { token: await server.token('mallory'), origin: `${server.origin}.evil.example` });
    assert.equal(statusOf(refused), 403);
  });

  it('refuses a missing Origin (origins.allowMissing is false)', async () => {
    const refused = await sioRefused(server, { token: await server.token('mallory'), origin: null });
    assert.equal(statusOf(refused), 403);
  });

  it('refuses a bad token with connect_error data {UNAUTHENTICATED, 4401}', async () => {
    const mark = events.mark();
    const refused = await sioRefused(server, { token: 'not-a-jwt' });
    assert.deepEqual(refused.data, { code: 'UNAUTHENTICATED', closeCode: 4401 });
    assert.equal((await events.waitFor(mark, 'auth_failed')).length, 1);
  });

  it('refuses a token signed with another key', async () => {
    const [h, p] = (await server.token('alice')).split('.');
    const refused = await sioRefused(server, { token: `${h}.${p}.${'A'.repeat(43)}` });
    assert.deepEqual(refused.data, { code: 'UNAUTHENTICATED', closeCode: 4401 });
  });

  it('refuses an expired token with connect_error data {UNAUTHENTICATED, 4401}', async () => {
    const mark = events.mark();
    const refused = await sioRefused(server, { token: await expiredToken(server, 'alice') });
    assert.deepEqual(refused.data, { code: 'UNAUTHENTICATED', closeCode: 4401 });
    assert.match(refused.message, /expired/);
    assert.equal((await events.waitFor(mark, 'token_expired')).length, 1);
  });

  it('refuses a connection without a token', async () => {
    const refused = await sioRefused(server, {});
    assert.deepEqual(refused.data, { code: 'UNAUTHENTICATED', closeCode: 4401 });
  });

  it('refuses a user over limits.maxConnectionsPerUser with {RATE_LIMITED, 4429}', async () => {
    const a = await sioConnect(server, 'capped');
    const b = await connect(server, 'capped'); // the raw transport's connection counts too
    const refused = await sioRefused(server, { token: await server.token('capped') });
    assert.deepEqual(refused.data, { code: 'RATE_LIMITED', closeCode: 4429 });
    a.close();
    b.close();
  });

  it('refuses a banned user with {FORBIDDEN, 4403}', async () => {
    await server.bulwark.bans.ban('user', 'banned-user', 'test');
    const refused = await sioRefused(server, { token: await server.token('banned-user') });
    assert.deepEqual(refused.data, { code: 'FORBIDDEN', closeCode: 4403 });
  });

  it('refuses long-polling with 400 (socketio.polling is off)', async () => {
    const refused = await sioRefused(server, { token: await server.token('alice'), transports: ['polling'] });
    assert.equal(statusOf(refused), 400);
  });

  it('closes a live session with close {4401} when the token expires, after auth.refresh_required', async () => {
    const client = await sioConnect(server, 'short', { token: await server.token('short', { ttlMs: 1500 }) });
    const required = await client.next('auth.refresh_required', 3000);
    assert.equal(typeof required.expiresAt, 'number');
    assert.deepEqual(await client.closed, { code: 4401, reason: 'token expired' });
  });

  it('keeps a live session past expiry when auth.refresh brings a new token for the same user', async () => {
    const client = await sioConnect(server, 'fresh', { token: await server.token('fresh', { ttlMs: 1500 }) });
    const required = await client.next('auth.refresh_required', 3000);
    const ack = await client.ok({ type: 'auth.refresh', token: await server.token('fresh') });
    assert.equal(typeof ack.expiresAt, 'number');
    await sleep(Math.max(0, (required.expiresAt as number) - Date.now()) + 500);
    assert.equal(client.socket.connected, true);
    client.close();
  });
});

describe('Socket.IO handshake rate and caps', () => {
  let server: TestServer;
  const open: SioClient[] = [];
  before(async () => {
    server = await startServer({ config: { rateLimits: { handshake: { points: 4, durationMs: 60_000 } }, limits: { maxConnectionsPerIp: 3 } } });
  });
  after(async () => {
    for (const c of open) c.close();
    await server.stop();
  });

  it('counts both transports against limits.maxConnectionsPerIp (429), then the handshake rate (429)', async () => {
    open.push(await sioConnect(server, 'a'));
    const raw = await connect(server, 'b');
    open.push(await sioConnect(server, 'c'));
    // Three open (two Socket.IO, one raw): the fourth is over the per-IP cap.
    const capped = await sioRefused(server, { token: await server.token('d') });
    assert.equal(statusOf(capped), 429);
    raw.close();
    await raw.closed;
    await sleep(50);
    // A slot is free again, but this IP has used its 4 handshakes in the window.
    const limited = await sioRefused(server, { token: await server.token('d') });
    assert.equal(statusOf(limited), 429);
  });
});

describe('Socket.IO node capacity', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, limits: { maxConnections: 2, maxConnectionsPerIp: 1000 } } });
  });
  after(() => server.stop());

  it('refuses past limits.maxConnections with 503', async () => {
    const a = await sioConnect(server, 'a');
    const b = await sioConnect(server, 'b');
    const refused = await sioRefused(server, { token: await server.token('c') });
    assert.equal(statusOf(refused), 503);
    a.close();
    b.close();
  });
});

describe('Socket.IO IP bans', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: ROOMY });
  });
  after(() => server.stop());

  it('refuses a banned IP with 403 at the handshake', async () => {
    await server.bulwark.bans.ban('ip', '127.0.0.1', 'test');
    const refused = await sioRefused(server, { token: await server.token('alice') });
    assert.equal(statusOf(refused), 403);
  });
});

describe('Socket.IO long-polling when configured', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, socketio: { polling: true } } });
  });
  after(() => server.stop());

  it('connects over polling with the same frames', async () => {
    const client = await sioConnect(server, 'poller', { transports: ['polling'] });
    const ack = await client.ok({ type: 'room.list' });
    assert.deepEqual(ack.rooms, []);
    client.close();
  });

  it('still refuses a forged Origin over polling (403)', async () => {
    const refused = await sioRefused(server, { token: await server.token('mallory'), origin: 'http://evil.example', transports: ['polling'] });
    assert.equal(statusOf(refused), 403);
  });
});
