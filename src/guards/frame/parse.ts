/**
 * Parsing (docs/protocol.md "Frames"): the frame must be a JSON object. The transport has already
 * refused frames over `limits.maxPayloadBytes` (1009) before any parsing, so `JSON.parse` works on
 * a bounded input. JSON.parse defines `__proto__` as an ordinary own property and never calls the
 * prototype setter; the strict schemas then refuse every key they do not know, so no input key can
 * reach a prototype.
 *
 * Nesting depth and key count are bounded so the schema never walks an attacker's tree. A frame
 * over those bounds is still an object: its top-level `type` and `id` are own properties read in
 * constant time, so the refusal keeps the frame's `id` (every frame with an `id` gets exactly one
 * reply with that `id`) and names the offending field.
 */
import type { ErrorDetail } from '../../protocol/errors.js';

export const MAX_KEYS = 32;
export const MAX_DEPTH = 4;

export type ParseResult =
  | { ok: true; value: Record<string, unknown> }
  | { ok: false; reason: 'not_json' | 'not_object' }
  /** An object over the bounds: `value` is kept for its top-level `type` and `id` only. */
  | { ok: false; reason: 'too_complex'; value: Record<string, unknown>; detail: ErrorDetail };

/** Longest client-chosen key echoed back in a detail path. */
const MAX_PATH_CHARS = 64;

function withinBounds(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object') return true;
  if (depth >= MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    if (value.length > MAX_KEYS) return false;
    for (const item of value) if (!withinBounds(item, depth + 1)) return false;
    return true;
  }
  let keys = 0;
  for (const key in value) {
    if (++keys > MAX_KEYS) return false;
    if (!withinBounds((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/** The first top-level field over the bounds, as a detail for `INVALID_PAYLOAD`; undefined when the frame is within them. */
function complexity(value: Record<string, unknown>): ErrorDetail | undefined {
  let keys = 0;
  for (const key in value) {
    if (++keys > MAX_KEYS) return { path: '(frame)', message: `more than ${MAX_KEYS} fields` };
    if (!withinBounds(value[key], 1)) return { path: key.slice(0, MAX_PATH_CHARS), message: `nested deeper than ${MAX_DEPTH} levels or more than ${MAX_KEYS} keys or items` };
  }
  return undefined;
}

export function parseFrame(raw: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { ok: false, reason: 'not_json' };
  }
  return checkFrame(value);
}

/** The checks after JSON decoding, for transports that hand over decoded values (Socket.IO). */
export function checkFrame(value: unknown): ParseResult {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: 'not_object' };
  const frame = value as Record<string, unknown>;
  const detail = complexity(frame);
  if (detail) return { ok: false, reason: 'too_complex', value: frame, detail };
  return { ok: true, value: frame };
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const ID_MESSAGE = 'must be 1-64 characters of A-Z a-z 0-9 _ -';

/** The frame's `id` if it is well-formed, so a refusal can still be correlated. */
export function replyId(value: Record<string, unknown>): string | undefined {
  const id = Object.prototype.hasOwnProperty.call(value, 'id') ? value['id'] : undefined;
  return typeof id === 'string' && ID.test(id) ? id : undefined;
}

/**
 * The problem with a frame's `id`, when it carries one that is not well-formed. Checked before
 * anything else about the frame: its refusal cannot be correlated, so the client must learn that
 * the `id` itself is what is wrong (`INVALID_PAYLOAD`, path `id`).
 */
export function idProblem(value: Record<string, unknown>): ErrorDetail | undefined {
  if (!Object.prototype.hasOwnProperty.call(value, 'id')) return undefined;
  const id = value['id'];
  if (typeof id !== 'string') return { path: 'id', message: 'must be a string' };
  return ID.test(id) ? undefined : { path: 'id', message: ID_MESSAGE };
}

/** Why a JSON object is refused before its schema, with the details of its `INVALID_PAYLOAD`. */
export interface StructureProblem {
  reason: 'bad_id' | 'too_complex';
  details: ErrorDetail[];
}

/**
 * What is wrong with a JSON object before its schema is tried (docs/protocol.md "Choices where the
 * contract is silent"): a malformed `id`, reported first, and a tree over the depth or width
 * bounds, naming the field. The reply carries `replyId(value)`: the frame's `id` when it is
 * well-formed, so an over-deep frame keeps its `id` and a malformed `id` is not echoed.
 */
export function structureProblem(parsed: Exclude<ParseResult, { reason: 'not_json' | 'not_object' }>): StructureProblem | undefined {
  const badId = idProblem(parsed.value);
  if (!badId && parsed.ok) return undefined;
  const details = badId ? [badId] : [];
  if (!parsed.ok) details.push(parsed.detail);
  return { reason: parsed.ok ? 'bad_id' : parsed.reason, details };
}
