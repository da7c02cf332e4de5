/**
 * `POST /api/csp-report` is an anonymous write path, bounded (contract section 3 "Under attack",
 * issue 12 item 3): same-origin reports only (the page's `Origin`, or none), a body of at most
 * `limits.maxCspReportBytes` (413 over it, before it is read), `rateLimits.cspReport` per IP (429),
 * and abuse weight, so a flooder is banned (403). Through a real server; client IPs are chosen
 * through a trusted proxy (`X-Forwarded-For` from 127.0.0.1).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startServer, type TestServer } from '../helpers/server.js';
import { EventRecorder, eventually, storedEvents } from '../helpers/events.js';

interface Answer {
  status: number;
  retryAfter: string | undefined;
}

interface ReportOptions {
  ip: string;
  origin?: string | null;
  body?: string;
  contentType?: string;
  /** Send the body without Content-Length (chunked). */
  chunked?: boolean;
}

const REPORT = JSON.stringify({
  'csp-report': { 'document-uri': 'http://127.0.0.1/', 'violated-directive': "script-src 'self'", 'blocked-uri': 'inline' },
});

function post(server: TestServer, options: ReportOptions): Promise<Answer> {
  const url = new URL('/api/csp-report', server.url);
  const body = options.body ?? REPORT;
  const headers: Record<string, string> = { 'Content-Type': options.contentType ?? 'application/csp-report', 'X-Forwarded-For': options.ip };
  if (options.origin !== null) headers.Origin = options.origin ?? server.origin;
  if (!options.chunked) headers['Content-Length'] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] as string | undefined }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    if (options.chunked) {
      // Written in pieces so the server sees the size only while reading.
      for (let i = 0; i < body.length; i += 1024) req.write(body.slice(i, i + 1024));
      req.end();
    } else req.end(body);
  });
}

/** Sends n reports, at most `parallel` at a time; returns the statuses in order. */
async function flood(server: TestServer, n: number, options: ReportOptions, parallel = 16): Promise<number[]> {
  const statuses: number[] = new Array<number>(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let i = next++; i < n; i = next++) statuses[i] = (await post(server, options)).status;
    }),
  );
  return statuses;
}

const tally = (statuses: number[]): Record<number, number> => statuses.reduce<Record<number, number>>((t, s) => ((t[s] = (t[s] ?? 0) + 1), t), {});

describe('CSP report endpoint under attack', () => {
  let server: TestServer;
  let recorder: EventRecorder;

  before(async () => {
    server = await startServer({ config: { trustProxy: ['127.0.0.1'], rateLimits: { handshake: { points: 1_000_000, durationMs: 60_000 } } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('accepts a same-origin report, or one without Origin, as csp_violation (204)', async () => {
    const mark = recorder.mark();
    assert.equal((await post(server, { ip: '192.0.2.1' })).status, 204);
    assert.equal(
      (
        await post(server, {
          ip: '192.0.2.1',
          origin: null,
          contentType: 'application/reports+json',
          body: JSON.stringify([{ type: 'csp-violation', body: { effectiveDirective: 'img-src', blockedURL: 'https://x.example/a.png' } }]),
        })
      ).status,
      204,
    );
    const events = recorder.since(mark, 'csp_violation');
    assert.equal(events.length, 2);
    assert.deepEqual(events[0]!.detail, { directive: "script-src 'self'", blocked: 'inline' });
    assert.deepEqual(events[1]!.detail, { directive: 'img-src', blocked: 'https://x.example/a.png' });
  });

  it('refuses 1,500 cross-origin reports without storing them 1,500 times', async (t) => {
    const ip = '198.51.100.40';
    const mark = recorder.mark();
    const statuses = await flood(server, 1500, { ip, origin: 'https://evil.example' });
    t.diagnostic(`cross-origin flood: ${JSON.stringify(tally(statuses))}`);
    assert.ok(!statuses.includes(204), 'none accepted');
    assert.ok(
      statuses.every((s) => s === 403 || s === 429),
      'refused 403 (cross-origin, then banned) or 429 (over the rate)',
    );
    assert.deepEqual(recorder.since(mark, 'csp_violation'), [], 'no violation recorded');
    assert.ok(recorder.since(mark, 'csp_report_refused').some((e) => e.detail?.reason === 'cross_origin' && e.detail.origin === 'https://evil.example'));
    const rows = (await storedEvents(server)).filter((r) => r.ip === ip);
    t.diagnostic(`cross-origin flood: ${rows.length} stored rows for 1500 requests`);
    assert.ok(rows.length <= 6, `${rows.length} rows`);
    const refusals = rows.filter((r) => r.type === 'csp_report_refused' || r.type === 'banned_refused').reduce((n, r) => n + r.count!, 0);
    assert.equal(refusals, 1500, 'every refusal is counted');
    assert.ok(server.bulwark.bans.active('ip', ip), 'the flooder is banned');
  });

  it('answers a same-origin flood 429 past rateLimits.cspReport, and the abuse score bans the IP', async (t) => {
    const ip = '198.51.100.41';
    const budget = server.config.rateLimits.cspReport!.points;
    const statuses: number[] = [];
    for (let i = 0; i < budget; i++) statuses.push((await post(server, { ip })).status);
    assert.deepEqual(statuses, new Array<number>(budget).fill(204), `the first ${budget} are accepted`);
    const over = await post(server, { ip });
    assert.equal(over.status, 429);
    assert.ok(Number(over.retryAfter) >= 1, 'with Retry-After');
    const rest = await flood(server, 300, { ip });
    t.diagnostic(`same-origin flood: ${JSON.stringify(tally([...statuses, over.status, ...rest]))}`);
    assert.ok(await eventually(() => server.bulwark.bans.active('ip', ip) !== undefined), 'banned by its abuse score');
    assert.equal(rest.at(-1), 403, 'then refused as banned');
    const rows = (await storedEvents(server)).filter((r) => r.ip === ip);
    assert.ok(rows.length <= 6, `${rows.length} rows for ${budget + 301} requests`);
    assert.equal(
      rows.filter((r) => r.type === 'csp_violation').reduce((n, r) => n + r.count!, 0),
      budget,
    );
  });

  it('refuses a body over limits.maxCspReportBytes with 413, declared or chunked', async () => {
    const mark = recorder.mark();
    const big = JSON.stringify({ 'csp-report': { 'blocked-uri': 'x'.repeat(server.config.limits.maxCspReportBytes) } });
    assert.equal((await post(server, { ip: '192.0.2.50', body: big })).status, 413);
    assert.equal((await post(server, { ip: '192.0.2.51', body: big, chunked: true })).status, 413);
    const refused = await recorder.waitFor(mark, 'csp_report_refused', 2);
    assert.deepEqual(
      refused.map((e) => e.detail?.reason),
      ['too_large', 'too_large'],
    );
    assert.deepEqual(recorder.since(mark, 'csp_violation'), []);
  });
});
