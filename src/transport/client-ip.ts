/**
 * The client IP: the socket's peer address, unless that peer is a trusted proxy, in which case
 * the right-most `X-Forwarded-For` entry that is not itself a trusted proxy. A client that is not
 * a trusted proxy cannot choose its own IP by sending the header.
 */
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';

function canonical(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function clientIp(req: IncomingMessage, trusted: ReadonlySet<string>): string {
  const peer = canonical(req.socket.remoteAddress ?? 'unknown');
  if (trusted.size === 0 || !trusted.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const value = Array.isArray(header) ? header.join(',') : header;
  if (!value) return peer;
  const hops = value
    .split(',')
    .map((h) => canonical(h.trim()))
    .filter((h) => isIP(h) !== 0);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trusted.has(hops[i]!)) return hops[i]!;
  }
  return hops[0] ?? peer;
}
