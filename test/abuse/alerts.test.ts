/**
 * Live admin alerting (issue 4 item 10): every security event of severity warning or higher is
 * pushed as `security.alert {event}` to connected admins, never to other users, and at most
 * `alerts.perSecond` per second; the surplus is counted and reported in one `alerts_suppressed`
 * summary, so an attack cannot flood the people watching it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus, type Frame, type TestClient } from '../helpers/client.js';
import { loose, sleep, uniq } from '../frames/support.js';

const PER_SECOND = 5;

interface AlertEvent {
  type: string;
  severity: string;
  ts: number;
  ip?: string;
  user?: string;
  detail?: Record<string, unknown>;
}

const isAlert = (f: Frame): boolean => f.type === 'security.alert';
const eventOf = (f: Frame): AlertEvent => f.event as AlertEvent;

describe('security alerts to admins', () => {
  let server: TestServer;
  let admin: TestClient;
  let user: TestClient;

  before(async () => {
    server = await startServer({ config: loose({ alerts: { perSecond: PER_SECOND }, spam: { keywords: ['alertword'] } }) });
    admin = await connect(server, uniq('alert-admin'), { roles: ['admin'] });
    user = await connect(server, uniq('alert-user'));
  });
  after(() => server.stop());

  /** Lets the previous test's alert window end and drops what arrived. */
  async function freshWindow(): Promise<void> {
    await sleep(1200);
    for (const c of [admin, user]) for (let i = c.frames.length - 1; i >= 0; i--) if (isAlert(c.frames[i]!)) c.frames.splice(i, 1);
  }

  it('pushes a forged-origin handshake to admins as security.alert {event: origin_rejected}, not to other users', async () => {
    await freshWindow();
    assert.equal(await handshakeStatus(server, { origin: 'https://evil.example' }), 403);
    const alert = await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'origin_rejected');
    const event = eventOf(alert);
    assert.equal(event.severity, 'warning');
    assert.equal(event.ip, '127.0.0.1');
    assert.equal(typeof event.ts, 'number');
    // The offered origin is the client's text: shown under detail.untrusted (docs/protocol.md "Security events").
    assert.deepEqual(event.detail?.untrusted, { origin: 'https://evil.example' });
    assert.ok(await user.quiet(isAlert, 300), 'a non-admin gets no alert');
  });

  it('stops alerting an admin whose refreshed token no longer carries the admin role', async () => {
    await freshWindow();
    const sub = uniq('demoted-admin');
    const demoted = await connect(server, sub, { roles: ['admin'] });
    const refreshed = await demoted.request({ type: 'auth.refresh', token: await server.token(sub, { roles: [] }) });
    assert.equal(refreshed.type, 'ack');
    assert.equal(await handshakeStatus(server, { origin: 'https://evil.example' }), 403);
    await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'origin_rejected');
    assert.ok(await demoted.quiet(isAlert, 300), 'a demoted admin gets no alert');
    demoted.close();
  });

  it('pushes a SPAM refusal (spam_detected, warning) to admins', async () => {
    await freshWindow();
    const room = uniq('alert-room');
    await user.ok({ type: 'room.create', room, visibility: 'public' });
    await user.ok({ type: 'room.join', room });
    assert.equal((await user.request({ type: 'chat.send', room, text: 'alertword here' })).code, 'SPAM');
    const alert = await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'spam_detected');
    assert.equal(eventOf(alert).user, (user.welcome!.user as { id: string }).id);
    assert.ok(await user.quiet(isAlert, 300));
  });

  it('does not push events below warning (an invalid payload is a notice)', async () => {
    await freshWindow();
    assert.equal((await user.request({ type: 'room.list', junk: 1 })).code, 'INVALID_PAYLOAD');
    assert.ok(await admin.quiet(isAlert, 400), 'no alert for a notice');
  });

  it(`turns a burst of 200 warning events into at most ${PER_SECOND} alerts a second plus one alerts_suppressed summary`, async () => {
    await freshWindow();
    const started = Date.now();
    for (let i = 0; i < 200; i++) server.bulwark.audit.emit('origin_rejected', { ip: `198.18.0.${i}`, detail: { origin: `https://evil${i}.example` } });
    const summary = await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'alerts_suppressed', 4000);
    await sleep(300);
    const alerts = [summary, ...admin.frames.filter(isAlert)];
    const live = alerts.filter((f) => eventOf(f).type === 'origin_rejected');
    assert.ok(live.length <= PER_SECOND, `${live.length} live alerts for the burst (<= ${PER_SECOND})`);
    assert.ok(live.length >= 1, 'the first events do get through');
    const suppressed = alerts.filter((f) => eventOf(f).type === 'alerts_suppressed');
    assert.equal(suppressed.length, 1, 'one summary');
    const count = eventOf(suppressed[0]!).detail?.count as number;
    assert.equal(live.length + count, 200, `every event is either alerted or counted (${live.length} + ${count})`);
    assert.ok(Date.now() - started < 4000);
    assert.ok(await user.quiet(isAlert, 200), 'the non-admin saw none of it');
  });

  it('keeps the rate under the cap across a sustained flood (2.5 s of warning events)', async () => {
    await freshWindow();
    const received: number[] = [];
    const before = admin.frames.length;
    const deadline = Date.now() + 2500;
    let n = 0;
    while (Date.now() < deadline) {
      for (let i = 0; i < 20; i++) server.bulwark.audit.emit('origin_rejected', { ip: '198.18.1.1', detail: { n: n++ } });
      await sleep(50);
    }
    await sleep(1200);
    for (const f of admin.frames.slice(before)) if (isAlert(f)) received.push(eventOf(f).ts);
    // In any one-second window: at most perSecond live alerts plus a summary (one more of slack for timer jitter).
    received.sort((a, b) => a - b);
    for (let i = 0; i < received.length; i++) {
      const inWindow = received.filter((t) => t >= received[i]! && t < received[i]! + 1000).length;
      assert.ok(inWindow <= PER_SECOND + 2, `${inWindow} alerts within a second of ${received[i]}`);
    }
    assert.ok(n >= 200, `${n} events emitted`);
    assert.ok(received.length < n / 5, `${received.length} alerts for ${n} events`);
  });
});
