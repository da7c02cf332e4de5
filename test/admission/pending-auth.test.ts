/**
 * Pre-auth budget and shedding (docs/protocol.md "Under attack"): unauthenticated connections
 * are a separate, smaller budget (`limits.maxPendingAuth`, `limits.maxPendingAuthPerIp`); under
 * pressure (`limits.shedAtRatio`) the auth timeout drops to `auth.pressureTimeoutMs` and overdue
 * unauthenticated connections are closed 4408, oldest first, to admit new ones; an
 * authenticated connection is never closed to make room. The same on `/socket.io/`, where an
 * engine.io session whose CONNECT has not authenticated is the unauthenticated connection.
 *
 * 127.0.0.1 is a trusted proxy here, so `X-Forwarded-For` picks the client IP.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus, openSocket, type TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf, eventually, sleep } from '../handshake/support.js';
import { sioConnect, sioRefused, statusOf, type SioClient } from '../socketio/support.js';
import { admissionGauges, rawEngine } from './support.js';

const PRESSURE_MS = 400;

function start(limits: Record<string, unknown>, auth: Record<string, unknown> = {}): Promise<TestServer> {
  return startServer({
    config: {
      ...ROOMY,
      trustProxy: ['127.0.0.1'],
      limits: { ...ROOMY.limits, maxConnectionsPerUser: 100, ...limits },
      auth: { timeoutMs: 30_000, pressureTimeoutMs: PRESSURE_MS, ...auth },
    },
  });
}

const from = (ip: string): { headers: Record<string, string> } => ({ headers: { 'X-Forwarded-For': ip } });

/** Whether a test client's socket is still open (not closing or closed). */
const isOpen = (c: TestClient): boolean => c.ws.readyState === WebSocket.OPEN;

describe('pending-auth budget', () => {
  it('refuses unauthenticated connections over limits.maxPendingAuthPerIp with 429, not authenticated ones, and admits again once one authenticates', async () => {
    const server = await start({ maxPendingAuthPerIp: 3 });
    try {
      const recorder = new EventRecorder(server);
      const idle: TestClient[] = [];
      for (let i = 0; i < 3; i++) idle.push(await openSocket(server, from('198.51.100.1')));
      const mark = recorder.mark();
      assert.equal(await handshakeStatus(server, from('198.51.100.1')), 429);
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.ip, e.detail?.scope, e.detail?.status]),
        [['capacity_refused', '198.51.100.1', 'pending_ip', 429]],
      );
      // Another IP, and an early token from the same IP, need no pending-auth place.
      assert.equal(await handshakeStatus(server, from('198.51.100.2')), 101);
      const early = await openSocket(server, { headers: { 'X-Forwarded-For': '198.51.100.1', Authorization: `Bearer ${await server.token('early')}` } });
      await early.next('welcome');
      assert.deepEqual(await admissionGauges(server, 'ws'), { handshakes: 0, pendingAuth: 3, authenticated: 1 });
      // One of the three authenticates: its place is free.
      idle[0]!.send({ type: 'auth', token: await server.token('late') });
      await idle[0]!.next('welcome');
      const fourth = await openSocket(server, from('198.51.100.1'));
      assert.ok(idle.every(isOpen), 'nobody was shed: none is overdue and the node is not under pressure');
      for (const c of [...idle, early, fourth]) c.close();
    } finally {
      await server.stop();
    }
  });

  it('with limits.maxPendingAuth spent, refuses 503 while no unauthenticated connection is overdue, then closes the oldest 4408 to admit a new one', async () => {
    const server = await start({ maxPendingAuth: 3, maxPendingAuthPerIp: 3 });
    try {
      const recorder = new EventRecorder(server);
      const idle: TestClient[] = [];
      for (let i = 1; i <= 3; i++) idle.push(await openSocket(server, from(`203.0.113.${i}`)));
      // Authenticated by an early token: it never needed a pending-auth place.
      const authed = await openSocket(server, { headers: { 'X-Forwarded-For': '203.0.113.9', Authorization: `Bearer ${await server.token('user-1')}` } });
      await authed.next('welcome');
      let mark = recorder.mark();
      assert.equal(await handshakeStatus(server, from('203.0.113.4')), 503, 'budget spent, the pending ones are still within their time');
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.scope]),
        [['capacity_refused', 'pending_node']],
      );
      await sleep(PRESSURE_MS + 100);
      mark = recorder.mark();
      const newcomer = await openSocket(server, from('203.0.113.4'));
      const shed = await closeOf(idle[0]!);
      assert.deepEqual(shed, { code: 4408, reason: 'authentication timeout' });
      assert.deepEqual(
        recorder.since(mark, 'pending_auth_shed').map((e) => [e.ip, e.detail?.reason]),
        [['203.0.113.1', 'budget']],
        'the oldest, and only it',
      );
      assert.ok(isOpen(idle[1]!) && isOpen(idle[2]!) && isOpen(newcomer));
      assert.ok(isOpen(authed), 'the authenticated connection is untouched');
      await authed.ok({ type: 'room.list' });
      for (const c of [...idle, newcomer, authed]) c.close();
    } finally {
      await server.stop();
    }
  });
});

describe('pressure shedding', () => {
  it('under pressure closes overdue unauthenticated connections 4408 and gives new ones auth.pressureTimeoutMs; never an authenticated one', async () => {
    const server = await start({ maxConnections: 10, shedAtRatio: 0.5 });
    try {
      const recorder = new EventRecorder(server);
      const users: TestClient[] = [];
      for (let i = 0; i < 3; i++) users.push(await connect(server, `user-${i}`, from(`192.0.2.${i + 1}`)));
      // 4 of 10 open, below 5: no pressure, an idle connection keeps auth.timeoutMs (30 s).
      const calm = await openSocket(server, from('192.0.2.10'));
      await sleep(PRESSURE_MS * 2);
      assert.ok(isOpen(calm), 'not shed without pressure');
      const mark = recorder.mark();
      // Two more users: the first of them brings the node to 5 of 10, and the overdue one goes.
      for (let i = 3; i < 5; i++) users.push(await connect(server, `user-${i}`, from(`192.0.2.${i + 1}`)));
      assert.deepEqual(await closeOf(calm, 5000), { code: 4408, reason: 'authentication timeout' });
      assert.deepEqual(
        recorder.since(mark, 'pending_auth_shed').map((e) => [e.ip, e.detail?.reason]),
        [['192.0.2.10', 'pressure']],
      );
      // Still under pressure (5 authenticated): a new idle connection gets auth.pressureTimeoutMs.
      const idle = await openSocket(server, from('192.0.2.11'));
      assert.deepEqual(await closeOf(idle, 5000), { code: 4408, reason: 'authentication timeout' });
      const late = [...recorder.since(mark, 'pending_auth_shed'), ...recorder.since(mark, 'auth_timeout')].filter((e) => e.ip === '192.0.2.11');
      assert.equal(late.length, 1, 'closed after auth.pressureTimeoutMs (auth.timeoutMs is 30 s)');
      for (const u of users) {
        assert.ok(isOpen(u), 'authenticated connections stay');
        await u.ok({ type: 'room.list' });
      }
      assert.ok(await eventually(async () => (await admissionGauges(server, 'ws')).pendingAuth === 0));
      for (const u of users) u.close();
    } finally {
      await server.stop();
    }
  });

  it('at limits.maxConnections closes an overdue unauthenticated connection to admit a new one, and with only authenticated ones refuses 503', async () => {
    const server = await start({ maxConnections: 3, shedAtRatio: 1 });
    try {
      const users = [await connect(server, 'a', from('192.0.2.1')), await connect(server, 'b', from('192.0.2.2'))];
      const idle = await openSocket(server, from('192.0.2.3'));
      assert.equal(await handshakeStatus(server, from('192.0.2.4')), 503, 'the idle one is still within its time');
      await sleep(PRESSURE_MS + 100);
      const newcomer = await openSocket(server, from('192.0.2.4'));
      assert.equal((await closeOf(idle)).code, 4408);
      newcomer.send({ type: 'auth', token: await server.token('c') });
      await newcomer.next('welcome');
      // Now all three are authenticated: nobody is closed to make room.
      await sleep(PRESSURE_MS + 100);
      assert.equal(await handshakeStatus(server, from('192.0.2.5')), 503);
      for (const c of [...users, newcomer]) {
        assert.ok(isOpen(c));
        await c.ok({ type: 'room.list' });
        c.close();
      }
    } finally {
      await server.stop();
    }
  });
});

describe('pending-auth on /socket.io/', () => {
  it('counts an engine.io session without CONNECT as pending-auth: 429 over the IP share, shed 4408 (connect_error) under pressure, authenticated sessions kept', async () => {
    const server = await start({ maxConnections: 6, shedAtRatio: 0.5, maxPendingAuthPerIp: 2 });
    try {
      const recorder = new EventRecorder(server);
      const users: SioClient[] = [];
      for (let i = 0; i < 2; i++) users.push(await sioConnect(server, `sio-${i}`, { headers: { 'X-Forwarded-For': `192.0.2.${i + 1}` } }));
      const a = await rawEngine(server, '192.0.2.50');
      const b = await rawEngine(server, '192.0.2.50');
      assert.deepEqual(await admissionGauges(server, 'socket.io'), { handshakes: 0, pendingAuth: 2, authenticated: 2 });
      const refused = await sioRefused(server, { token: await server.token('x'), headers: { 'X-Forwarded-For': '192.0.2.50' } });
      assert.equal(statusOf(refused), 429, 'the IP share of the pending-auth budget is spent');
      // 4 of 6 open: under pressure, the idle sessions go after auth.pressureTimeoutMs.
      await Promise.race([Promise.all([a.closed, b.closed]), sleep(5000)]);
      for (const raw of [a, b]) {
        assert.equal(raw.ws.readyState, WebSocket.CLOSED);
        const error = raw.packets.find((p) => p.startsWith('44'));
        assert.ok(error, `connect_error sent: ${JSON.stringify(raw.packets)}`);
        assert.deepEqual((JSON.parse(error.slice(2)) as { data: unknown }).data, { code: 'UNAUTHENTICATED', closeCode: 4408 });
      }
      const shed = [...recorder.events.filter((e) => e.type === 'pending_auth_shed' || e.type === 'auth_timeout')];
      assert.ok(shed.length >= 2 && shed.every((e) => e.ip === '192.0.2.50'), JSON.stringify(shed));
      for (const u of users) {
        assert.equal(u.socket.connected, true, 'authenticated sessions stay');
        await u.ok({ type: 'room.list' });
        u.close();
      }
      assert.ok(await eventually(async () => JSON.stringify(await admissionGauges(server)) === JSON.stringify({ handshakes: 0, pendingAuth: 0, authenticated: 0 })));
    } finally {
      await server.stop();
    }
  });
});
