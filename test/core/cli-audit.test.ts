/**
 * `bulwark audit <url>` (contract section 7) through the real CLI against real local servers: the
 * default configuration has no failing check, and each deliberately weakened configuration is
 * reported — TLS off on a public bind (`--assume-public`), `origins.allowMissing`, query tokens,
 * a huge `maxPayloadBytes`, compression without a bound, handshake rate and connection limits
 * off, a public `/metrics`, open registration.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { configKeys } from '../../src/config/keys.js';
import type { AuditReport, CheckStatus } from '../../src/self-audit/types.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { run, useCli } from './cli-support.js';

useCli();

interface Audited {
  code: number | null;
  report: AuditReport;
  status: Record<string, CheckStatus>;
}

async function audit(url: string, ...flags: string[]): Promise<Audited> {
  const r = await run(['audit', url, '--json', ...flags]);
  assert.ok(r.stdout.startsWith('{'), `audit printed no report: ${r.stderr}`);
  const report = JSON.parse(r.stdout) as AuditReport;
  return { code: r.code, report, status: Object.fromEntries(report.checks.map((c) => [c.id, c.status])) };
}

/** Keys other defences may add later (pending-auth caps, registration modes) are set only if they exist. */
function ifKey(path: string, value: unknown): Record<string, unknown> {
  if (!configKeys().has(path)) return {};
  const [head, tail] = path.split('.') as [string, string];
  return { [head]: { [tail]: value } };
}

function merge(...parts: Array<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const part of parts) for (const [k, v] of Object.entries(part)) out[k] = { ...out[k], ...(v as Record<string, unknown>) };
  return out;
}

const ALL_CHECKS = [
  'tls',
  'security-headers',
  'origin-foreign',
  'origin-missing',
  'subprotocol',
  'query-token',
  'frame-size',
  'compression',
  'metrics',
  'registration',
  'connection-cap',
  'handshake-rate',
];

describe('bulwark audit: the default configuration', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: ifKey('accounts.registration', 'open') });
  });
  after(() => server.stop());

  it('fails no check, passes every defence, and stays within its request budget', async () => {
    const { code, report, status } = await audit(server.url);
    assert.equal(code, 0, JSON.stringify(report.checks, null, 2));
    assert.deepEqual(Object.keys(status), ALL_CHECKS);
    assert.equal(report.summary.fail, 0);
    for (const id of ['security-headers', 'origin-foreign', 'origin-missing', 'subprotocol', 'query-token', 'frame-size', 'compression', 'connection-cap', 'handshake-rate']) {
      assert.equal(status[id], 'pass', `${id}: ${report.checks.find((c) => c.id === id)!.evidence}`);
    }
    // Loopback, run on the server itself: plain HTTP and a local /metrics are only warnings.
    assert.equal(status.tls, 'warn');
    assert.equal(status.metrics, 'warn');
    assert.equal(status.registration, 'warn', 'open registration is reported');
    assert.ok(report.requests > 20 && report.requests <= 300, `${report.requests} requests`);
    for (const check of report.checks) assert.ok(check.evidence.length > 0 && (check.status === 'pass' || check.fix.length > 0), check.id);
  });

  it('prints one line per check and exits 0 without --json', async () => {
    const r = await run(['audit', server.url]);
    assert.equal(r.code, 0, r.stderr);
    for (const id of ALL_CHECKS) assert.match(r.stdout, new RegExp(`^(PASS|WARN)  ${id} `, 'm'));
    assert.match(r.stdout, /\d+ pass, \d+ warn, 0 fail/);
  });

  it('with --assume-public, reports plain HTTP and a readable /metrics as failures and exits 1', async () => {
    const { code, status } = await audit(server.url, '--assume-public');
    assert.equal(code, 1);
    assert.equal(status.tls, 'fail');
    assert.equal(status.metrics, 'fail');
  });
});

describe('bulwark audit: weakened configurations', () => {
  it('reports a missing-Origin allowance, query tokens, a huge frame limit, unbounded compression, and no handshake or connection limits', async () => {
    const server = await startServer({
      config: merge(
        { origins: { allowMissing: true }, auth: { allowQueryToken: true }, compression: { enabled: true } },
        { limits: { maxPayloadBytes: 4 * 1024 * 1024, maxConnectionsPerIp: 10_000 }, rateLimits: { handshake: { points: 100_000, durationMs: 1000 } } },
        ifKey('limits.maxPendingAuthPerIp', 10_000),
        ifKey('limits.maxPendingAuth', 10_000),
      ),
    });
    try {
      const { code, report, status } = await audit(server.url);
      const evidence = (id: string): string => report.checks.find((c) => c.id === id)!.evidence;
      assert.equal(code, 1, 'a failing check exits 1');
      assert.equal(status['origin-missing'], 'warn', evidence('origin-missing'));
      assert.equal(status['query-token'], 'fail', evidence('query-token'));
      assert.equal(status['frame-size'], 'fail', evidence('frame-size'));
      assert.equal(status.compression, 'fail', evidence('compression'));
      assert.equal(status['handshake-rate'], 'fail', evidence('handshake-rate'));
      assert.equal(status['connection-cap'], 'fail', evidence('connection-cap'));
      assert.equal(status['origin-foreign'], 'pass', 'the foreign-origin defence still holds');
      assert.ok(report.requests <= 300);
    } finally {
      await server.stop();
    }
  });

  it('tells a bounded compression (warn) and a frame limit between 256 KiB and 1 MiB (warn) apart from the failures', async () => {
    const server = await startServer({ config: { compression: { enabled: true }, limits: { maxPayloadBytes: 512 * 1024 } } });
    try {
      const { code, status, report } = await audit(server.url);
      assert.equal(status.compression, 'warn', JSON.stringify(report.checks.find((c) => c.id === 'compression')));
      assert.equal(status['frame-size'], 'warn');
      assert.equal(code, 0);
    } finally {
      await server.stop();
    }
  });

  it('passes a closed registration', { skip: !configKeys().has('accounts.registration') && 'accounts.registration is not a configuration key yet' }, async () => {
    const server = await startServer({ config: ifKey('accounts.registration', 'closed') });
    try {
      assert.equal((await audit(server.url)).status.registration, 'pass');
    } finally {
      await server.stop();
    }
  });
});

describe('bulwark audit over TLS', () => {
  let pki: Pki;
  let server: TestServer;
  before(async () => {
    pki = makePki(30);
    server = await startServer({ config: { tls: { cert: pki.cert, key: pki.key } } });
  });
  after(async () => {
    await server.stop();
    pki.remove();
  });

  it('passes TLS and HSTS with a trusted certificate, and fails an untrusted one', async () => {
    const trusted = await audit(server.url, '--ca', pki.caPath);
    assert.equal(trusted.status.tls, 'pass', trusted.report.checks[0]!.evidence);
    assert.match(trusted.report.checks[0]!.evidence, /TLSv1\.[23].*max-age=/);
    assert.equal(trusted.report.summary.fail, 0, JSON.stringify(trusted.report.checks.filter((c) => c.status === 'fail')));
    const untrusted = await audit(server.url);
    assert.equal(untrusted.status.tls, 'fail');
    assert.equal(untrusted.code, 1);
  });
});
