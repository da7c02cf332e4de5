/** What an outsider can read or do without credentials: `/metrics` and account registration. */
import type { Probe } from './probe.js';
import type { CheckResult } from './types.js';

export async function checkMetrics(probe: Probe): Promise<CheckResult> {
  const id = 'metrics';
  const title = '/metrics not public';
  const r = await probe.http('GET', '/metrics');
  const exposed = r.status === 200 && /^# (HELP|TYPE) /m.test(r.body);
  const evidence = `GET /metrics without a token → ${r.status}${exposed ? ' with Prometheus text' : ''}`;
  if (!exposed) return { id, title, status: 'pass', evidence, fix: '' };
  const fix =
    'Scrape with metrics.token (Authorization: Bearer) from other hosts, keep trustProxy to your proxies only, and have the proxy forward X-Forwarded-For (or deny /metrics there).';
  if (!probe.target.public) {
    return {
      id,
      title,
      status: 'warn',
      evidence: `${evidence}, to this machine (loopback): intended for a local scraper. Run the audit from another host, or with --assume-public, to see what the internet gets`,
      fix,
    };
  }
  return { id, title, status: 'fail', evidence: `${evidence}: load, connection counts and defence activity are public`, fix };
}

export async function checkRegistration(probe: Probe): Promise<CheckResult> {
  const id = 'registration';
  const title = 'Open registration';
  // An empty body is refused by every registration policy, so nothing is ever created.
  const r = await probe.http('POST', '/api/auth/register', { Origin: probe.target.origin }, '{}');
  let body: { error?: string; details?: Array<{ path?: string }> } = {};
  try {
    body = JSON.parse(r.body) as typeof body;
  } catch {
    body = {};
  }
  const fields = (body.details ?? []).map((d) => d.path).filter(Boolean);
  const evidence = `POST /api/auth/register {} → ${r.status}${body.error ? ` ${body.error}` : ''}${fields.length ? ` (asks for ${fields.join(', ')})` : ''}`;
  if (r.status === 404 || r.status === 403 || r.status === 401) return { id, title, status: 'pass', evidence: `${evidence}: not open to anyone`, fix: '' };
  if (fields.some((f) => /invite/i.test(String(f)))) return { id, title, status: 'pass', evidence: `${evidence}: invitation required`, fix: '' };
  if (r.status === 400 || r.status === 429) {
    return {
      id,
      title,
      status: 'warn',
      evidence: `${evidence}: anyone can create an account`,
      fix: 'If this is not a public community, set accounts.registration to "invite" or "closed" and create users with `bulwark users`.',
    };
  }
  return { id, title, status: 'warn', evidence: `${evidence} (unexpected)`, fix: 'Check what answers /api/auth/register.' };
}
