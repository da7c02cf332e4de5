/** Security headers on HTTP responses (docs/protocol.md, "Endpoints"). */
import type { Probe } from './probe.js';
import type { CheckResult } from './types.js';

export async function checkSecurityHeaders(probe: Probe): Promise<CheckResult> {
  const id = 'security-headers';
  const title = 'Security headers';
  const reply = await probe.http('GET', '/');
  const h = reply.headers;
  const csp = String(h['content-security-policy'] ?? '');
  const scriptSrc = /script-src ([^;]*)/.exec(csp)?.[1] ?? /default-src ([^;]*)/.exec(csp)?.[1] ?? '';
  const missing: string[] = [];
  const weak: string[] = [];
  if (!csp) missing.push('Content-Security-Policy');
  else {
    if (/'unsafe-inline'|'unsafe-eval'|\*/.test(scriptSrc)) weak.push(`CSP script-src allows ${scriptSrc.trim()}`);
    if (!/frame-ancestors 'none'|frame-ancestors 'self'/.test(csp) && !h['x-frame-options']) weak.push('no frame-ancestors (clickjacking)');
  }
  if (String(h['x-content-type-options'] ?? '').toLowerCase() !== 'nosniff') missing.push('X-Content-Type-Options: nosniff');
  if (!h['referrer-policy']) missing.push('Referrer-Policy');
  const evidence = `GET / → ${reply.status}; ${missing.length || weak.length ? [...missing.map((m) => `missing ${m}`), ...weak].join('; ') : 'CSP (no inline script, frame-ancestors), nosniff, Referrer-Policy present'}`;
  if (missing.includes('Content-Security-Policy') || weak.some((w) => w.startsWith('CSP'))) {
    return { id, title, status: 'fail', evidence, fix: "Send Bulwark's own headers unchanged: a proxy must not strip or override Content-Security-Policy (docs/deploy.md)." };
  }
  if (missing.length || weak.length)
    return { id, title, status: 'warn', evidence, fix: 'Keep the headers Bulwark sends on every response; check that the proxy passes them through.' };
  return { id, title, status: 'pass', evidence, fix: '' };
}
