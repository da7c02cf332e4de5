/**
 * Bans and mutes people can see (docs/protocol.md "Abuse scoring and bans"): an IP ban closes
 * that IP's live connections 4403 on both transports, a user ban the user's, each with the close
 * reason `banned until <ISO time>`; a banned handshake is answered 403 with `Retry-After`, an
 * `auth` refusal closes with the same reason, `GET /ws` tells a browser until when; a mute is
 * `SPAM` with `retryAfterMs` from the strike that mutes.
 *
 * 127.0.0.1 is a trusted proxy here, so `X-Forwarded-For` picks the client IP.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, openSocket } from '../helpers/client.js';
import { ROOMY, closeOf, eventually, sleep } from '../handshake/support.js';
import WebSocket from 'ws';
import { sioConnect, sioRefused } from '../socketio/support.js';
import { admissionGauges, rawEngine } from './support.js';

const ISO = /^banned until (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$/;

function untilOf(reason: string): number {
  const m = ISO.exec(reason);
  assert.ok(m, `close reason says until when: ${JSON.stringify(reason)}`);
  return Date.parse(m[1]!);
}

const from = (ip: string): { headers: Record<string, string> } => ({ headers: { 'X-Forwarded-For': ip } });

describe('bans people can see', () => {
  let server: TestServer;
  before(async () => {
    // A long auth timeout: a session the ban does not close would stay open for the whole test.
    server = await startServer({ config: { ...ROOMY, trustProxy: ['127.0.0.1'], auth: { timeoutMs: 120_000 } } });
  });
  after(() => server.stop());

  it("closes an IP ban's live connections 4403 `banned until …` on /ws and /socket.io/, authenticated or not, and only that IP's", async () => {
    const ip = '198.51.100.7';
    const authed = await connect(server, 'ip-victim', from(ip));
    const idle = await openSocket(server, from(ip));
    const sio = await sioConnect(server, 'ip-victim-sio', { headers: { 'X-Forwarded-For': ip } });
    const bystander = await connect(server, 'bystander', from('198.51.100.8'));
    const ban = await server.bulwark.bans.ban('ip', ip, 'test', { durationMs: 60_000 });
    for (const c of [authed, idle]) {
      const closed = await closeOf(c);
      assert.equal(closed.code, 4403);
      assert.equal(untilOf(closed.reason), ban.until);
    }
    const sioClosed = await sio.closed;
    assert.equal(sioClosed?.code, 4403);
    assert.equal(untilOf(sioClosed!.reason), ban.until);
    await bystander.ok({ type: 'room.list' });
    bystander.close();
  });

  it("closes an IP ban's engine.io sessions that have not sent CONNECT yet: connect_error FORBIDDEN 4403 `banned until …`, their places given back", async () => {
    const ip = '198.51.100.11';
    const raw = await rawEngine(server, ip);
    assert.equal((await admissionGauges(server, 'socket.io')).pendingAuth, 1);
    const ban = await server.bulwark.bans.ban('ip', ip, 'test', { durationMs: 60_000 });
    // Before the fix only the auth timeout (120 s here) ended such a session.
    await Promise.race([raw.closed, sleep(5000)]);
    assert.equal(raw.ws.readyState, WebSocket.CLOSED, 'the ban closed it');
    const error = raw.packets.find((p) => p.startsWith('44'));
    assert.ok(error, `connect_error sent: ${JSON.stringify(raw.packets)}`);
    const { message, data } = JSON.parse(error.slice(2)) as { message: string; data: unknown };
    assert.deepEqual(data, { code: 'FORBIDDEN', closeCode: 4403 });
    assert.equal(untilOf(message), ban.until);
    assert.ok(await eventually(async () => (await admissionGauges(server, 'socket.io')).pendingAuth === 0));
  });

  it('refuses a banned IP 403 with Retry-After until the ban ends, and GET /ws tells a browser until when', async () => {
    const ip = '198.51.100.9';
    const ban = await server.bulwark.bans.ban('ip', ip, 'test', { durationMs: 90_000 });
    const refused = await openSocket(server, from(ip)).then(
      () => assert.fail('opened'),
      (e: { status: number; headers: Record<string, string> }) => e,
    );
    assert.equal(refused.status, 403);
    const seconds = Number(refused.headers['retry-after']);
    assert.ok(seconds > 80 && seconds <= 90, `Retry-After ${seconds}`);
    const sio = await sioRefused(server, { token: await server.token('x'), headers: { 'X-Forwarded-For': ip } });
    assert.match(sio.description, /403/);

    const res = await fetch(`${server.url}/ws`, { headers: { 'X-Forwarded-For': ip } });
    assert.equal(res.status, 403);
    assert.ok(Number(res.headers.get('retry-after')) > 80);
    assert.ok(res.headers.get('content-security-policy'), 'security headers');
    const body = (await res.json()) as { error: string; message: string; until: number };
    assert.equal(body.error, 'FORBIDDEN');
    assert.equal(body.until, ban.until);
    assert.equal(untilOf(body.message), ban.until);
    const clean = await fetch(`${server.url}/ws`, { headers: { 'X-Forwarded-For': '198.51.100.10' } });
    assert.equal(clean.status, 426);
    await clean.arrayBuffer();
  });

  it("closes a user ban's live connections 4403 `banned until …`, refuses the user at auth with the same reason, and GET /ws names it for their token", async () => {
    const user = 'user-victim';
    const live = await connect(server, user, from('198.51.100.20'));
    const sio = await sioConnect(server, user, { headers: { 'X-Forwarded-For': '198.51.100.21' } });
    const ban = await server.bulwark.bans.ban('user', user, 'test', { durationMs: 60_000 });
    const closed = await closeOf(live);
    assert.equal(closed.code, 4403);
    assert.equal(untilOf(closed.reason), ban.until);
    assert.equal(untilOf((await sio.closed)!.reason), ban.until);

    const again = await openSocket(server, from('198.51.100.22'));
    const reply = await again.request({ type: 'auth', token: await server.token(user) });
    assert.equal(reply.code, 'FORBIDDEN');
    assert.equal(untilOf(String(reply.message)), ban.until);
    assert.ok((reply.retryAfterMs as number) > 50_000 && (reply.retryAfterMs as number) <= 60_000);
    const refused = await closeOf(again);
    assert.equal(refused.code, 4403);
    assert.equal(untilOf(refused.reason), ban.until);

    const sioRefusal = await sioRefused(server, { token: await server.token(user), headers: { 'X-Forwarded-For': '198.51.100.23' } });
    assert.equal(untilOf(sioRefusal.message), ban.until);
    assert.deepEqual(sioRefusal.data, { code: 'FORBIDDEN', closeCode: 4403 });

    const probe = await fetch(`${server.url}/ws`, { headers: { 'X-Forwarded-For': '198.51.100.24', Authorization: `Bearer ${await server.token(user)}` } });
    assert.equal(probe.status, 403);
    assert.equal(((await probe.json()) as { until: number }).until, ban.until);
  });
});

describe('mutes people can see', () => {
  it('answers the strike that mutes, and every send while muted, SPAM with retryAfterMs and the seconds in the message', async () => {
    const server = await startServer({
      config: { ...ROOMY, spam: { muteAfter: 2, muteMs: 30_000 }, rateLimits: { ...ROOMY.rateLimits, 'chat.send': { points: 1000, durationMs: 10_000 } } },
    });
    try {
      const c = await connect(server, 'noisy');
      await c.ok({ type: 'room.create', room: 'm', visibility: 'public' });
      await c.ok({ type: 'room.join', room: 'm' });
      const first = await c.request({ type: 'chat.send', room: 'm', text: 'buy now' });
      assert.equal(first.code, 'SPAM');
      assert.equal(first.retryAfterMs, undefined, 'one strike is not a mute');
      const muting = await c.request({ type: 'chat.send', room: 'm', text: 'buy now again' });
      assert.equal(muting.code, 'SPAM');
      assert.equal(muting.retryAfterMs, 30_000, 'the muting strike says for how long');
      assert.equal(muting.message, 'You are muted for 30 s.');
      const later = await c.request({ type: 'chat.send', room: 'm', text: 'a perfectly fine message' });
      assert.equal(later.code, 'SPAM');
      assert.ok((later.retryAfterMs as number) > 25_000 && (later.retryAfterMs as number) <= 30_000);
      assert.match(String(later.message), /^You are muted for \d+ s\.$/);
      c.close();
    } finally {
      await server.stop();
    }
  });
});
