/**
 * The shape every handshake guard shares (contract section 2). Guards run in a fixed order
 * before `101 Switching Protocols`; the first refusal answers the HTTP request and no socket is
 * ever opened. A refusal names its reason (the HTTP status comes from the one table in
 * `src/admission/refusal.ts`) and its security event.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Identity } from '../../auth/jwt.js';
import type { HandshakeRefusal } from '../../admission/refusal.js';

export type { HandshakeRefusal };

export interface HandshakeRequest {
  readonly ip: string;
  readonly origin: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** Number of header lines as received. */
  readonly headerCount: number;
  readonly headerBytes: number;
  /** The request target as received (path and query). */
  readonly target: string;
  /** The target parsed (against `http://localhost`). */
  readonly url: URL;
  /** Offered subprotocols, in order. */
  readonly protocols: readonly string[];
  /** Set by the token guard when an early token verified. */
  identity?: Identity;
}

export type HandshakeVerdict = HandshakeRefusal | undefined;

export interface HandshakeGuard {
  readonly name: string;
  check(req: HandshakeRequest): HandshakeVerdict | Promise<HandshakeVerdict>;
}
