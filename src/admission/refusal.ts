/**
 * Every way admission can say no, as data (docs/protocol.md "Handshake"): one row per refusal
 * reason with the HTTP status a refused handshake gets, and the close code and wire error code a
 * client sees where the refusal is reported after a transport opened (Socket.IO `connect_error`
 * data, the embeddable guard). The writers below are the only places a refusal is put on the
 * wire, always with the security headers of docs/protocol.md "Endpoints".
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Denial } from '../auth/session-auth.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { SecurityEventType } from '../security/events.js';
import { securityHeaders } from '../transport/security-headers.js';

export interface RefusalRow {
  readonly status: number;
  readonly close: number;
  readonly code: ErrorCode;
  /** Extra response headers (RFC 6455 section 4.4: a 426 names the version the server speaks). */
  readonly headers?: Readonly<Record<string, string>>;
}

export const REFUSALS = {
  /** The server is shutting down. */
  shutdown: { status: 503, close: CLOSE.GOING_AWAY, code: 'RATE_LIMITED' },
  /** Not a valid RFC 6455 upgrade: HTTP/1.0, method, Upgrade/Connection, key, duplicated headers. */
  upgrade: { status: 400, close: CLOSE.MALFORMED, code: 'BAD_REQUEST' },
  /** `Sec-WebSocket-Version` other than 13. */
  version: { status: 426, close: CLOSE.MALFORMED, code: 'BAD_REQUEST', headers: { 'Sec-WebSocket-Version': '13' } },
  /** An upgrade on a path that serves none. */
  not_found: { status: 404, close: CLOSE.MALFORMED, code: 'NOT_FOUND' },
  headers: { status: 431, close: CLOSE.MALFORMED, code: 'BAD_REQUEST' },
  origin: { status: 403, close: CLOSE.FORBIDDEN, code: 'FORBIDDEN' },
  banned: { status: 403, close: CLOSE.FORBIDDEN, code: 'FORBIDDEN' },
  rate: { status: 429, close: CLOSE.TOO_MANY, code: 'RATE_LIMITED' },
  capacity: { status: 503, close: CLOSE.TOO_MANY, code: 'RATE_LIMITED' },
  ip_cap: { status: 429, close: CLOSE.TOO_MANY, code: 'RATE_LIMITED' },
  /** The IP's share of the pending-auth budget is spent. */
  pending_ip: { status: 429, close: CLOSE.TOO_MANY, code: 'RATE_LIMITED' },
  /** The node's pending-auth budget is spent and no pending connection is overdue. */
  pending_full: { status: 503, close: CLOSE.TOO_MANY, code: 'RATE_LIMITED' },
  subprotocol: { status: 400, close: CLOSE.MALFORMED, code: 'BAD_REQUEST' },
  /** HTTP long-polling on `/socket.io/` while `socketio.polling` is off. */
  polling: { status: 400, close: CLOSE.MALFORMED, code: 'BAD_REQUEST' },
  query_token: { status: 400, close: CLOSE.MALFORMED, code: 'BAD_REQUEST' },
  /** Invalid, expired or revoked token. */
  token: { status: 401, close: CLOSE.UNAUTHENTICATED, code: 'UNAUTHENTICATED' },
  /** The user already has `limits.maxConnectionsPerUser` connections (embeddable guard). */
  user_cap: { status: 429, close: CLOSE.TOO_MANY, code: 'RATE_LIMITED' },
  /** A check threw (a broken dependency); the detail goes to the log only. */
  guard_error: { status: 503, close: CLOSE.INTERNAL, code: 'INTERNAL' },
  /** The handshake did not reach 101 within `limits.upgradeTimeoutMs`. */
  timeout: { status: 503, close: CLOSE.INTERNAL, code: 'INTERNAL' },
} as const satisfies Record<string, RefusalRow>;

export type RefusalReason = keyof typeof REFUSALS;

/** A refusal as a value (STYLE: an expected "no" is not an exception). */
export interface HandshakeRefusal {
  reason: RefusalReason;
  event: SecurityEventType;
  retryAfterMs?: number;
  detail?: Record<string, unknown>;
  /** The user the refusal concerns, when a token named one. */
  user?: string;
  /** A sentence for the client where the transport carries one (Socket.IO `connect_error`). */
  message?: string;
}

/** An admission check's "no" (token, revocation, ban, per-user cap) as a handshake refusal. */
export function denialRefusal(denial: Denial, user?: string): HandshakeRefusal {
  const reason: RefusalReason = denial.close === CLOSE.FORBIDDEN ? 'banned' : denial.close === CLOSE.TOO_MANY ? 'user_cap' : 'token';
  const refusal: HandshakeRefusal = { reason, event: denial.event, message: denial.reason };
  if (denial.retryAfterMs !== undefined) refusal.retryAfterMs = denial.retryAfterMs;
  if (denial.detail) refusal.detail = denial.detail;
  if (user !== undefined) refusal.user = user;
  return refusal;
}

export function rowOf(reason: RefusalReason): RefusalRow {
  return REFUSALS[reason];
}

/** `connect_error` data on Socket.IO (docs/protocol.md "Socket.IO mapping"); a ban's until-when is in the message. */
export function connectErrorData(refusal: HandshakeRefusal): { code: ErrorCode; closeCode: number } {
  const row = rowOf(refusal.reason);
  return { code: row.code, closeCode: row.close };
}

/** Whole seconds, at least 1 (RFC 9110 `Retry-After` is delta-seconds). */
export function retryAfterSeconds(ms: number): number {
  return Math.max(1, Math.ceil(ms / 1000));
}

/** The headers of a refusal response, security headers included. */
export function refusalHeaders(refusal: HandshakeRefusal, tls: boolean): Record<string, string> {
  const headers: Record<string, string> = { ...securityHeaders(tls), ...rowOf(refusal.reason).headers };
  if (refusal.retryAfterMs !== undefined) headers['Retry-After'] = String(retryAfterSeconds(refusal.retryAfterMs));
  return headers;
}

/**
 * Answers a raw upgrade socket and ends it. The socket is destroyed a second later at most, so a
 * peer that never reads cannot keep it (and its slot, had it one) open.
 */
export function writeUpgradeRefusal(socket: Duplex, refusal: HandshakeRefusal, tls: boolean): void {
  if (socket.destroyed) return;
  const status = rowOf(refusal.reason).status;
  const text = STATUS_CODES[status] ?? 'Error';
  const lines = [`HTTP/1.1 ${status} ${text}`, 'Connection: close', 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${Buffer.byteLength(text)}`];
  for (const [k, v] of Object.entries(refusalHeaders(refusal, tls))) lines.push(`${k}: ${v}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${text}`);
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** Answers an HTTP request (Socket.IO long-polling) with a JSON body `{error, message}`. */
export function writeHttpRefusal(res: ServerResponse, refusal: HandshakeRefusal, tls: boolean): void {
  if (res.headersSent || res.destroyed) return;
  const row = rowOf(refusal.reason);
  const body = JSON.stringify({ error: row.code, message: STATUS_CODES[row.status] ?? 'Error' });
  res.writeHead(row.status, {
    ...refusalHeaders(refusal, tls),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    Connection: 'close',
  });
  res.end(body);
}
