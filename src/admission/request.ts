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

/** A handshake request; its URL is parsed only when a guard reads it (a WHATWG parse per handshake is measurable). */
class DescribedRequest implements HandshakeRequest {
  private parsed: URL | undefined;
  identity?: HandshakeRequest['identity'];

  constructor(
    readonly ip: string,
    readonly origin: string | undefined,
    readonly headers: IncomingMessage['headers'],
    readonly headerCount: number,
    readonly headerBytes: number,
    readonly target: string,
    readonly protocols: readonly string[],
  ) {}

  get url(): URL {
    return (this.parsed ??= new URL(this.target, 'http://localhost'));
  }
}

export function describeRequest(req: IncomingMessage, trusted: ReadonlySet<string>): HandshakeRequest {
  const rawHeaders = req.rawHeaders;
  let headerBytes = 0;
  for (const h of rawHeaders) headerBytes += h.length + 2;
  const origin = req.headers.origin;
  return new DescribedRequest(
    clientIp(req, trusted),
    typeof origin === 'string' ? origin : undefined,
    req.headers,
    rawHeaders.length / 2,
    headerBytes,
    req.url ?? '/',
    offeredProtocols(req),
  );
}
