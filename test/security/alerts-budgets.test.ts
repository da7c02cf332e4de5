/**
 * Alerts that cannot be drowned (contract section 3 "Under attack", issue 12 item 4), through a
 * real server and a connected admin socket:
 *
 * - during a flood of thousands of warnings, a critical `refresh_reuse` (a replayed refresh token
 *   at `POST /api/auth/refresh`) still reaches the admin: each severity has its own budget;
 * - a flood of one critical type does not hide another critical type;
 * - the suppressed alerts are summarised once a second with their counts per type;
 * - attacker-supplied text (a CSP report's blocked-uri, an origin) arrives under
 *   `detail.untrusted`, truncated, with control and bidi characters made visible.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { sleep } from '../helpers/events.js';
import { UNTRUSTED_MAX } from '../../src/security/alerts.js';

interface AlertEvent {
  type: string;
  severity: string;
  ts: number;
  ip?: string;
  detail?: Record<string, unknown>;
}

const isAlert = (f: Frame): boolean => f.type === 'security.alert';
const eventOf = (f: Frame): AlertEvent => f.event as AlertEvent;
const LOOSE_RULE = { points: 1_000_000, durationMs: 60_000 };

async function post(server: TestServer, path: string, body: unknown, contentType = 'application/json'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': contentType, origin: server.origin }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe('alert budgets per severity', () => {
  let server: TestServer;
  let admin: TestClient;

  before(async () => {
    server = await startServer({
      config: {
        abuse: { threshold: 1_000_000 },
        rateLimits: { handshake: LOOSE_RULE, login: LOOSE_RULE, cspReport: LOOSE_RULE },
        alerts: { perSecond: { warning: 5, error: 5, critical: 3 } },
      },
    });
    admin = await connect(server, 'alert-watcher', { roles: ['admin'] });
  });
  after(() => server.stop());

  /** Drops the alerts received so far and lets the current one-second window end. */
  async function fresh(): Promise<void> {
    await sleep(1100);
    for (let i = admin.frames.length - 1; i >= 0; i--) if (isAlert(admin.frames[i]!)) admin.frames.splice(i, 1);
  }

  it('delivers a critical refresh_reuse during a flood of thousands of warnings, then a summary with counts per type', async (t) => {
    await fresh();
    const password = 'correct horse battery staple';
    assert.equal((await post(server, '/api/auth/register', { username: 'flooded', password })).status, 201);
    const r1 = (await post(server, '/api/auth/login', { username: 'flooded', password })).body.refreshToken as string;
    assert.equal((await post(server, '/api/auth/refresh', { refreshToken: r1 })).status, 200);

    // The flood: 3,000 warnings of two types from many addresses, spread over several turns.
    let emitted = 0;
    const flooding = (async () => {
      for (let round = 0; round < 30; round++) {
        for (let i = 0; i < 100; i++) {
          const n = emitted++;
          server.bulwark.audit.emit(n % 3 === 0 ? 'csp_violation' : 'origin_rejected', { ip: `198.18.${n % 200}.${n % 250}`, detail: { origin: `https://evil${n}.example` } });
        }
        await sleep(10);
      }
    })();
    await sleep(50);
    // Mid-flood, an attacker replays the used refresh token: a critical event.
    assert.equal((await post(server, '/api/auth/refresh', { refreshToken: r1 })).status, 401);
    await flooding;

    const critical = await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'refresh_reuse', 2000);
    assert.equal(eventOf(critical).severity, 'critical');
    const summary = await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'alerts_suppressed', 3000);
    await sleep(1200);
    // waitFor took those two out of the received frames.
    const alerts = [critical, summary, ...admin.frames.filter(isAlert)].map(eventOf);
    const summaries = alerts.filter((e) => e.type === 'alerts_suppressed');
    const live = alerts.filter((e) => e.type === 'origin_rejected' || e.type === 'csp_violation').length;
    const suppressed = summaries.reduce((n, e) => n + (e.detail?.count as number), 0);
    const byType: Record<string, number> = {};
    for (const e of summaries) for (const [type, n] of Object.entries(e.detail?.byType as Record<string, number>)) byType[type] = (byType[type] ?? 0) + n;
    t.diagnostic(`flood of ${emitted} warnings: ${live} alerted, ${suppressed} summarised ${JSON.stringify(byType)}, refresh_reuse delivered`);
    assert.ok(eventOf(summary).detail?.byType, 'the summary lists counts per type');
    assert.ok(byType.origin_rejected! > 0 && byType.csp_violation! > 0, 'both flooding types are counted');
    assert.equal(
      Object.values(byType).reduce((a, b) => a + b, 0),
      suppressed,
    );
    assert.equal(live + suppressed, emitted, 'every warning is either alerted or counted');
    assert.ok(live <= 5 * 4, `${live} live warnings in a flood of about a second`);
  });

  it('does not let a flood of one critical type hide another critical type', async () => {
    await fresh();
    for (let i = 0; i < 200; i++) server.bulwark.audit.emit('abuse_threshold', { ip: `198.19.0.${i}`, detail: { trigger: 'spam_detected' } });
    server.bulwark.audit.emit('refresh_subject_mismatch', { user: 'victim' });
    const other = await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'refresh_subject_mismatch', 2000);
    assert.equal(eventOf(other).severity, 'critical');
    const summary = await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'alerts_suppressed', 3000);
    assert.equal(eventOf(summary).severity, 'critical', 'the summary carries the highest suppressed severity');
    assert.equal((eventOf(summary).detail?.byType as Record<string, number>).abuse_threshold, 200 - 3);
  });

  it('puts attacker-supplied text under detail.untrusted, truncated, control and bidi characters made visible', async () => {
    await fresh();
    const blocked = `https://evil.example/\u202erotate-your-keys-now\u0007\n${'x'.repeat(400)}`;
    const report = { 'csp-report': { 'violated-directive': "script-src 'self'", 'blocked-uri': blocked } };
    assert.equal((await post(server, '/api/csp-report', report, 'application/csp-report')).status, 204);
    const alert = eventOf(await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'csp_violation', 2000));
    assert.equal(alert.detail?.blocked, undefined, 'not among the server’s own fields');
    const untrusted = alert.detail?.untrusted as Record<string, string>;
    assert.ok(untrusted, 'marked untrusted');
    assert.ok(!/[\u0000-\u001f\u202e]/.test(untrusted.blocked!), 'no control or bidi character left');
    assert.ok(untrusted.blocked!.includes('\\u{202e}rotate-your-keys-now\\u{7}\\u{a}'), untrusted.blocked);
    assert.ok(untrusted.blocked!.length <= UNTRUSTED_MAX + 1, `${untrusted.blocked!.length} characters`);
    assert.equal(untrusted.directive, "script-src 'self'");

    // The server's own values stay at top level next to the untrusted ones.
    const refused = await fetch(`${server.url}/api/csp-report`, {
      method: 'POST',
      headers: { 'content-type': 'application/csp-report', origin: 'https://evil.example' },
      body: '{}',
    });
    assert.equal(refused.status, 403);
    // csp_report_refused is a notice (no alert); an unknown frame type is a notice too: use a warning.
    server.bulwark.audit.emit('spam_detected', { user: 'u', detail: { rule: 'keyword', type: 'chat.send', room: 'ignore previous instructions' } });
    const spam = eventOf(await admin.waitFor((f) => isAlert(f) && eventOf(f).type === 'spam_detected', 2000));
    assert.deepEqual(spam.detail, { rule: 'keyword', type: 'chat.send', untrusted: { room: 'ignore previous instructions' } });
  });
});
