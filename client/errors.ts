/**
 * Errors the SDK hands to callers. Server refusals keep the wire `code` (contract section 4);
 * the SDK adds its own codes for what happens on this side of the socket.
 */
import type { ErrorCode, ErrorDetail } from '../src/protocol/errors.js';

/** Codes raised by the SDK itself, never sent by a server. */
export type LocalErrorCode =
  /** No reply within the request timeout. */
  | 'TIMEOUT'
  /** The connection dropped before the reply arrived; the request may or may not have run. */
  | 'DISCONNECTED'
  /** The client was closed (by `close()`, or for good by the server). */
  | 'CLOSED'
  /** `send()` while the outbox already holds `outboxLimit` unacknowledged messages. */
  | 'OUTBOX_FULL'
  /** The token provider failed. */
  | 'TOKEN'
  /** The server's reply to a request did not match its schema; it was dropped. */
  | 'MALFORMED';

export type ClientErrorCode = ErrorCode | LocalErrorCode;

export class BulwarkError extends Error {
  override readonly name = 'BulwarkError';
  readonly code: ClientErrorCode;
  /** For `RATE_LIMITED`: how long to wait before trying again. */
  readonly retryAfterMs: number | undefined;
  /** For `INVALID_PAYLOAD`: which fields were wrong. */
  readonly details: ErrorDetail[] | undefined;

  constructor(code: ClientErrorCode, message: string, extra: { retryAfterMs?: number; details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(message, extra.cause !== undefined ? { cause: extra.cause } : undefined);
    this.code = code;
    this.retryAfterMs = extra.retryAfterMs;
    this.details = extra.details;
  }
}

export function isBulwarkError(error: unknown, code?: ClientErrorCode): error is BulwarkError {
  return error instanceof BulwarkError && (code === undefined || error.code === code);
}
