/**
 * Who may read `/metrics` (docs/protocol.md, "Endpoints"). The numbers say how loaded the node is,
 * which defences fire and how often: useful to an attacker tuning a flood, so by default only a
 * scraper on this machine or a trusted proxy's own requests get them. Through a trusted proxy,
 * the request counts as the client the proxy forwards for: an outside browser reaching
 * `/metrics` via nginx is an outside client. With `metrics.token`, any peer presenting
 * `Authorization: Bearer <token>` may scrape (a Prometheus on another host).
 *
 * Without a token header the answer is 404, as if there were no such path; a wrong token is 403.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { clientIp } from './client-ip.js';

export type MetricsVerdict = { ok: true } | { ok: false; status: 403 | 404; reason: 'token' | 'peer' };

function canonical(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || /^127\.\d+\.\d+\.\d+$/.test(ip);
}

/** Compares digests, so neither the content nor the length of the token leaks through timing. */
function sameSecret(given: string, expected: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(given).digest(), expected);
}

export function metricsAccess(options: { token: string | undefined; trustProxy: readonly string[] }): (req: IncomingMessage) => MetricsVerdict {
  const trusted = new Set(options.trustProxy);
  const expected = options.token === undefined ? undefined : createHash('sha256').update(options.token).digest();
  const local = (ip: string): boolean => isLoopback(ip) || trusted.has(ip);
  return function metricsAllowed(req) {
    const header = req.headers.authorization;
    if (typeof header === 'string' && /^Bearer\s+/i.test(header)) {
      if (expected && sameSecret(header.replace(/^Bearer\s+/i, '').trim(), expected)) return { ok: true };
      return { ok: false, status: 403, reason: 'token' };
    }
    const peer = canonical(req.socket.remoteAddress ?? '');
    if (local(peer) && local(clientIp(req, trusted))) return { ok: true };
    return { ok: false, status: 404, reason: 'peer' };
  };
}
