/**
 * `bulwark audit`: probes a running deployment from the outside, as an attacker would but gently
 * (docs/protocol.md, "Self-audit"). The checks run in a fixed order: the two limit probes last,
 * since they leave the auditing address rate-limited for a while.
 */
import { isIP } from 'node:net';
import { WS_PATH } from '../protocol/constants.js';
import { checkSecurityHeaders } from './headers.js';
import { checkForeignOrigin, checkMissingOrigin, checkQueryToken, checkSubprotocol } from './handshake.js';
import { checkCompression, checkFrameSize } from './frames.js';
import { checkMetrics, checkRegistration } from './exposure.js';
import { checkConnectionCap, checkHandshakeRate } from './limits.js';
import { BudgetExhausted, Probe } from './probe.js';
import { checkTls } from './tls.js';
import type { AuditReport, AuditTarget, CheckResult, CheckStatus } from './types.js';

export interface AuditOptions {
  /** `https://chat.example.com`, `wss://chat.example.com/ws`, `http://127.0.0.1:8080`. */
  url: string;
  /** The origin your web app is served from, when not the target's own. */
  origin?: string;
  /** Treat the target as reachable from the internet even if it is a loopback address. */
  assumePublic?: boolean;
  /** Extra CA certificates (PEM) to trust, for a private CA or a self-signed development certificate. */
  ca?: Buffer;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** Parses the target; throws a plain-language error for anything that is not an http(s)/ws(s) URL. */
export function parseTarget(options: AuditOptions): AuditTarget {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new Error(`not a URL: ${options.url} (e.g. https://chat.example.com)`);
  }
  const scheme = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' }[url.protocol];
  if (!scheme) throw new Error(`unsupported scheme ${url.protocol} (use https://, http://, wss:// or ws://)`);
  const base = new URL(`${scheme}//${url.host}`);
  const wsPath = (url.protocol === 'ws:' || url.protocol === 'wss:') && url.pathname !== '/' ? url.pathname : WS_PATH;
  const ws = new URL(`${scheme === 'https:' ? 'wss:' : 'ws:'}//${url.host}${wsPath}`);
  const origin = options.origin ?? base.origin;
  return { base, ws, origin, public: Boolean(options.assumePublic) || !isLoopback(base.hostname) };
}

type Check = { id: string; title: string; run: (probe: Probe) => Promise<CheckResult> };

export async function runAudit(options: AuditOptions): Promise<AuditReport> {
  const target = parseTarget(options);
  const probe = new Probe(target, options.ca);
  const checks: Check[] = [
    { id: 'tls', title: 'TLS and HSTS', run: (p) => checkTls(p, options.ca) },
    { id: 'security-headers', title: 'Security headers', run: checkSecurityHeaders },
    { id: 'origin-foreign', title: 'Foreign Origin refused', run: checkForeignOrigin },
    { id: 'origin-missing', title: 'Upgrade without Origin refused', run: checkMissingOrigin },
    { id: 'subprotocol', title: 'Subprotocol required', run: checkSubprotocol },
    { id: 'query-token', title: 'Token in the query string refused', run: checkQueryToken },
    { id: 'frame-size', title: 'Frame size limit', run: checkFrameSize },
    { id: 'compression', title: 'Compression off or bounded', run: checkCompression },
    { id: 'metrics', title: '/metrics not public', run: checkMetrics },
    { id: 'registration', title: 'Open registration', run: checkRegistration },
    { id: 'connection-cap', title: 'Connections per client capped', run: checkConnectionCap },
    { id: 'handshake-rate', title: 'Handshake rate limited', run: checkHandshakeRate },
  ];
  const startedAt = new Date().toISOString();
  const results: CheckResult[] = [];
  try {
    for (const check of checks) {
      try {
        results.push(await check.run(probe));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (err instanceof BudgetExhausted) {
          results.push({ id: check.id, title: check.title, status: 'skip', evidence: message, fix: '' });
          continue;
        }
        results.push({
          id: check.id,
          title: check.title,
          status: 'fail',
          evidence: `the probe failed: ${message}`,
          fix: 'Check that the URL is right and the deployment answers.',
        });
      }
    }
  } finally {
    probe.release();
  }
  const summary: Record<CheckStatus, number> = { pass: 0, warn: 0, fail: 0, skip: 0 };
  for (const r of results) summary[r.status]++;
  return { target: target.base.origin, startedAt, checks: results, requests: probe.sent, summary };
}
