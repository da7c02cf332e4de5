/**
 * Parsing (contract section 4): the frame must be a JSON object with a string `type`. The
 * transport has already refused frames over `limits.maxPayloadBytes` (1009) before any parsing.
 * JSON.parse defines `__proto__` as an ordinary own property and never calls the prototype
 * setter; the strict schemas then drop every key they do not know, so no input key can reach a
 * prototype. Nesting depth and key count are bounded to keep validation cost flat.
 */
export const MAX_KEYS = 32;
export const MAX_DEPTH = 4;

export type ParseResult = { ok: true; value: Record<string, unknown> } | { ok: false; reason: 'not_json' | 'not_object' | 'too_complex' };

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
  if (!withinBounds(value, 0)) return { ok: false, reason: 'too_complex' };
  return { ok: true, value: value as Record<string, unknown> };
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The frame's `id` if it is well-formed, so a refusal can still be correlated. */
export function replyId(value: Record<string, unknown>): string | undefined {
  const id = value['id'];
  return typeof id === 'string' && ID.test(id) ? id : undefined;
}
