/**
 * What a handler answers: an ack body, or an expected refusal as a value. Only a broken
 * dependency throws; the router turns that into INTERNAL without leaking its detail.
 */
import type { ErrorCode, ErrorDetail } from '../protocol/errors.js';
import type { AckBodyOf, RequestFrameType } from '../protocol/frames.js';

export type Reply = { ok: true; body: Record<string, unknown> } | { ok: false; code: ErrorCode; message?: string; details?: ErrorDetail[]; retryAfterMs?: number };

export type Refusal = Extract<Reply, { ok: false }>;

export function ok(body: Record<string, unknown> = {}): Reply {
  return { ok: true, body };
}

/** The ack body of a `type` request, checked against the protocol's table (docs/protocol.md, "Frames"). */
export function ack<T extends RequestFrameType>(_type: T, body: AckBodyOf<T>): Reply {
  return { ok: true, body };
}

export function refuse(code: ErrorCode, message?: string): Refusal {
  return message === undefined ? { ok: false, code } : { ok: false, code, message };
}
