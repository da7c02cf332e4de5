/**
 * Alert webhooks (`alerts.webhooks`, issue 14): alerts reach a receiver on loopback as JSON POSTs
 * signed with HMAC-SHA256 over the timestamp and the body (checked here exactly as docs/admin.md
 * tells receivers to), filtered by `minSeverity`, retried with backoff on failure and timeout,
 * held in a bounded queue that drops the oldest non-critical alert first, and with delivery
 * failures recorded as aggregated `webhook_failed` events, not one per retry.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config/load.js';
import { WebhookSchema } from '../../src/config/schema.js';
import type { SecurityEventRecord } from '../../src/store/store.js';
import { Webhooks } from '../../src/security/webhooks.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus } from '../helpers/client.js';
import { EventRecorder, ROOMY, eventually } from '../handshake/support.js';

const SECRET = 'a webhook secret of some length';

interface Received {
  headers: IncomingMessage['headers'];
  raw: string;
  body: Record<string, unknown>;
}

/** A receiver on loopback; `respond` decides each answer (it may hold the request open). */
class Receiver {
  readonly requests: Received[] = [];
  respond: (req: Received, res: ServerResponse) => void = (_req, res) => res.writeHead(204).end();
  private server!: Server;
  url = '';

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        const received = { headers: req.headers, raw, body: JSON.parse(raw) as Record<string, unknown> };
        this.requests.push(received);
        this.respond(received, res);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks/secret-path-token`;
    return this;
  }

  stop(): void {
    this.server.closeAllConnections();
    this.server.close();
  }
}

/** The receiver-side check of docs/admin.md "Verifying a delivery". */
function verify(req: Received, secret: string, toleranceS = 300): boolean {
  const timestamp = String(req.headers['x-bulwark-timestamp']);
  const sig = String(req.headers['x-bulwark-signature']);
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceS) return false;
  const expected = `v1=${createHmac('sha256', secret).update(`${timestamp}.${req.raw}`).digest('hex')}`;
  return sig.length === expected.length && timingSafeEqual(Buffer.from(sig), Buffer.from(expected));
}

function alert(type: string, severity: SecurityEventRecord['severity'], detail?: Record<string, unknown>): SecurityEventRecord {
  return { ts: Date.now(), type, severity, ...(detail ? { detail } : {}) };
}

describe('alert webhooks through a real server', () => {
  let warnings: Receiver;
  let criticals: Receiver;
  let server: TestServer;
  before(async () => {
    [warnings, criticals] = await Promise.all([new Receiver().start(), new Receiver().start()]);
    server = await startServer({
      config: {
        ...ROOMY,
        alerts: {
          webhooks: [
            { url: warnings.url, secret: SECRET, backoffMs: 10, timeoutMs: 2000 },
            { url: criticals.url, secret: 'the other receiver secret', minSeverity: 'critical' },
          ],
        },
      },
    });
  });
  after(async () => {
    await server.stop();
    warnings.stop();
    criticals.stop();
  });

  it('POSTs a warning alert as signed JSON that the documented check accepts', async () => {
    assert.equal(await handshakeStatus(server, { origin: 'https://evil.example' }), 403);
    assert.ok(await eventually(() => warnings.requests.length >= 1));
    const req = warnings.requests[0]!;
    assert.equal(req.headers['content-type'], 'application/json');
    assert.ok(verify(req, SECRET), 'the signature verifies with the shared secret');
    assert.ok(!verify(req, 'some other secret entirely'), 'and not with another');
    assert.ok(!verify({ ...req, raw: req.raw.replace('origin_rejected', 'origin_rejectex') }, SECRET), 'a changed body fails');
    assert.equal(req.headers['x-bulwark-event'], 'origin_rejected');
    assert.equal(req.body.id, req.headers['x-bulwark-delivery']);
    assert.equal(req.body.source, 'bulwark');
    const event = req.body.event as SecurityEventRecord;
    assert.equal(event.type, 'origin_rejected');
    assert.equal(event.severity, 'warning');
    assert.equal(typeof event.ts, 'number');
  });

  it('sends only alerts of minSeverity or above: the critical receiver got no warning, then gets a critical alert', async () => {
    assert.equal(criticals.requests.length, 0);
    const client = await connect(server, 'carol');
    client.send({ type: 'auth.refresh', id: 'swap', token: await server.token('mallory') });
    await client.closed;
    assert.ok(await eventually(() => criticals.requests.some((r) => r.headers['x-bulwark-event'] === 'refresh_subject_mismatch')));
    const req = criticals.requests.find((r) => r.headers['x-bulwark-event'] === 'refresh_subject_mismatch')!;
    assert.ok(verify(req, 'the other receiver secret'));
    assert.ok(criticals.requests.every((r) => (r.body.event as SecurityEventRecord).severity === 'critical'));
  });

  it('counts deliveries in /metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(text, /bulwark_webhook_deliveries_total\{result="delivered"\} [1-9]/);
  });
});

describe('retries, timeouts and aggregated failure events', () => {
  let receiver: Receiver;
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    receiver = await new Receiver().start();
    server = await startServer({ config: { ...ROOMY, alerts: { webhooks: [{ url: receiver.url, secret: SECRET, backoffMs: 20, timeoutMs: 300, maxAttempts: 3 }] } } });
    recorder = new EventRecorder(server);
  });
  after(async () => {
    await server.stop();
    receiver.stop();
  });

  it('retries a delivery the receiver failed (500, then 503 with Retry-After) and delivers it once, each attempt freshly signed', async () => {
    let calls = 0;
    receiver.respond = (_req, res) => {
      calls++;
      if (calls === 1) res.writeHead(500).end();
      else if (calls === 2) res.writeHead(503, { 'retry-after': '0' }).end();
      else res.writeHead(200).end('ok');
    };
    assert.equal(await handshakeStatus(server, { origin: 'https://retry.example' }), 403);
    assert.ok(await eventually(() => receiver.requests.length >= 3, 5000));
    await new Promise((r) => setTimeout(r, 200));
    const attempts = receiver.requests.filter((r) => r.headers['x-bulwark-event'] === 'origin_rejected');
    assert.equal(attempts.length, 3, 'two failures, one success, nothing more');
    assert.equal(new Set(attempts.map((r) => r.headers['x-bulwark-delivery'])).size, 1, 'one delivery, three attempts');
    for (const attempt of attempts) assert.ok(verify(attempt, SECRET));
    assert.equal(recorder.events.filter((e) => e.type === 'webhook_failed').length, 0, 'a delivery that succeeded in the end is no failure');
  });

  it('gives up after maxAttempts against a receiver that never answers (timeouts), recording one webhook_failed for the whole storm', async () => {
    receiver.requests.length = 0;
    receiver.respond = () => undefined; // holds every request open: each attempt times out
    const mark = recorder.mark();
    for (let i = 0; i < 4; i++) assert.equal(await handshakeStatus(server, { origin: `https://storm-${i}.example` }), 403);
    // 4 alerts x 3 attempts, each cut by the 300 ms timeout.
    assert.ok(await eventually(() => receiver.requests.length >= 12, 20_000), `attempts: ${receiver.requests.length}`);
    await new Promise((r) => setTimeout(r, 500));
    const failures = recorder.since(mark, 'webhook_failed');
    assert.equal(failures.length, 1, 'aggregated: one event, not one per attempt or per delivery');
    assert.equal(failures[0]!.severity, 'error');
    assert.deepEqual(
      { webhook: failures[0]!.detail?.webhook, failed: failures[0]!.detail?.failed, reason: failures[0]!.detail?.reason },
      { webhook: 0, failed: 1, reason: 'timeout' },
    );
    const endpoint = String(failures[0]!.detail?.endpoint);
    assert.ok(!endpoint.includes('secret-path-token'), 'the URL path (often a secret) is not recorded');
  });
});

describe('the bounded queue', () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await new Receiver().start();
  });
  after(() => receiver.stop());

  it('drops the oldest non-critical alert first, keeps critical ones, counts drops and reports them once per window', async () => {
    let release: (() => void) | undefined;
    receiver.respond = (_req, res) => {
      if (receiver.requests.length === 1) release = () => res.writeHead(204).end();
      else res.writeHead(204).end();
    };
    const reports: Array<Record<string, unknown> | undefined> = [];
    const counts: string[] = [];
    const webhooks = new Webhooks([WebhookSchema.parse({ url: receiver.url, secret: SECRET, queueSize: 3 })], {
      report: (input) => reports.push(input.detail),
      count: (result) => counts.push(result),
      reportWindowMs: 60_000,
    });
    try {
      webhooks.offer(alert('w1', 'warning'));
      assert.ok(await eventually(() => receiver.requests.length === 1), 'w1 is in flight and held');
      for (const [type, severity] of [
        ['w2', 'warning'],
        ['c1', 'critical'],
        ['w3', 'error'],
        ['w4', 'warning'],
        ['c2', 'critical'],
        ['w5', 'warning'],
        ['info-never', 'notice'],
      ] as const)
        webhooks.offer(alert(type, severity));
      assert.equal(webhooks.size, 4, 'one in flight and at most queueSize waiting');
      release!();
      assert.ok(await eventually(() => receiver.requests.length === 4));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(
        receiver.requests.map((r) => r.headers['x-bulwark-event']),
        ['w1', 'c1', 'c2', 'w5'],
      );
      assert.equal(counts.filter((c) => c === 'dropped').length, 3);
      assert.equal(reports.length, 1, 'the first drop is reported at once, the others wait for the window');
      assert.equal(reports[0]!.dropped, 1);
    } finally {
      webhooks.close();
    }
  });
});

describe('Slack- and Discord-compatible bodies', () => {
  let receiver: Receiver;
  before(async () => {
    receiver = await new Receiver().start();
  });
  after(() => receiver.stop());

  it('sends a Slack text with its markup characters escaped, and a Discord content that mentions nobody', async () => {
    const webhooks = new Webhooks(
      [WebhookSchema.parse({ url: receiver.url, secret: SECRET, format: 'slack' }), WebhookSchema.parse({ url: receiver.url, secret: SECRET, format: 'discord' })],
      { report: () => undefined },
    );
    try {
      webhooks.offer(alert('origin_rejected', 'warning', { untrusted: { origin: '<!channel> @everyone https://evil.example' } }));
      assert.ok(await eventually(() => receiver.requests.length === 2));
      const slack = receiver.requests.find((r) => 'text' in r.body)!;
      const discord = receiver.requests.find((r) => 'content' in r.body)!;
      assert.match(String(slack.body.text), /^\[warning\] origin_rejected/);
      assert.ok(String(slack.body.text).includes('&lt;!channel&gt;'), 'no Slack mention markup survives');
      assert.ok(!String(slack.body.text).includes('<'));
      assert.deepEqual(discord.body.allowed_mentions, { parse: [] });
      assert.ok(String(discord.body.content).includes('\\@everyone'));
      for (const r of [slack, discord]) assert.ok(verify(r, SECRET), 'signed all the same');
    } finally {
      webhooks.close();
    }
  });
});

describe('alerts.webhooks configuration', () => {
  it('refuses a non-http URL, a short secret and an unknown severity, naming the key', () => {
    const load = (hook: Record<string, unknown>): unknown => loadConfig({ env: {}, overrides: { alerts: { webhooks: [hook] } } });
    assert.throws(() => load({ url: 'ftp://example.com/x', secret: SECRET }), /alerts\.webhooks\.0\.url/);
    assert.throws(() => load({ url: 'javascript:alert(1)', secret: SECRET }), /alerts\.webhooks\.0\.url/);
    assert.throws(() => load({ url: 'https://example.com/x', secret: 'short' }), /alerts\.webhooks\.0\.secret/);
    assert.throws(() => load({ url: 'https://example.com/x', secret: SECRET, minSeverity: 'info' }), /alerts\.webhooks\.0\.minSeverity/);
    const config = loadConfig({ env: {}, overrides: { alerts: { webhooks: [{ url: 'https://example.com/x', secret: SECRET }] } } });
    assert.deepEqual(
      { ...config.alerts.webhooks[0], secret: undefined },
      { url: 'https://example.com/x', secret: undefined, minSeverity: 'warning', format: 'json', timeoutMs: 5000, maxAttempts: 5, backoffMs: 1000, queueSize: 1000 },
    );
  });
});
