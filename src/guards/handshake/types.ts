/**
 * The shape every handshake guard shares (contract section 2). Guards run in a fixed order
 * before `101 Switching Protocols`; the first refusal answers the HTTP request and no socket is
 * ever opened. A refusal names its HTTP status and its security event.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity } from '../../auth/jwt.js';
import type { SecurityEventType } from '../../security/events.js';

export interface HandshakeRequest {
  readonly ip: string;
  readonly origin: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** Number of header lines as received. */
  readonly headerCount: number;
  readonly headerBytes: number;
  readonly url: URL;
  /** Offered subprotocols, in order. */
  readonly protocols: readonly string[];
  /** Set by the token guard when an early token verified. */
  identity?: Identity;
}

export interface HandshakeRefusal {
  status: number;
  event: SecurityEventType;
  /** Short metric label. */
  reason: string;
  retryAfterMs?: number;
  detail?: Record<string, unknown>;
}

export type HandshakeVerdict = HandshakeRefusal | undefined;

export interface HandshakeGuard {
  readonly name: string;
  check(req: HandshakeRequest): HandshakeVerdict | Promise<HandshakeVerdict>;
}
