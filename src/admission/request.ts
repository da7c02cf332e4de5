/**
 * The handshake request the guards see, built once per request from Node's `IncomingMessage`:
 * client IP (docs/protocol.md "Client IP"), Origin, header count and size, URL and the offered
 * subprotocols.
 */
import type { IncomingMessage } from 'node:http';
import type { HandshakeRequest } from '../guards/handshake/types.js';
import { clientIp } from '../transport/client-ip.js';

function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (!header) return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

export function describeRequest(req: IncomingMessage, trusted: ReadonlySet<string>): HandshakeRequest {
  const rawHeaders = req.rawHeaders;
  let headerBytes = 0;
  for (const h of rawHeaders) headerBytes += h.length + 2;
  return {
    ip: clientIp(req, trusted),
    origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
    headers: req.headers,
    headerCount: rawHeaders.length / 2,
    headerBytes,
    url: new URL(req.url ?? '/', 'http://localhost'),
    protocols: offeredProtocols(req),
  };
}
