/** Strict per-type validation with the shared protocol schemas; problems become `details`. */
import type { ErrorDetail } from '../../protocol/errors.js';
import { CLIENT_FRAMES, isClientFrameType, type ClientFrame } from '../../protocol/frames.js';

export type SchemaResult = { ok: true; frame: ClientFrame } | { ok: false; unknownType: true } | { ok: false; unknownType: false; details: ErrorDetail[] };

const MAX_DETAILS = 10;

export function validateFrame(value: Record<string, unknown>): SchemaResult {
  const type = value['type'];
  if (typeof type !== 'string' || !isClientFrameType(type)) return { ok: false, unknownType: true };
  const result = CLIENT_FRAMES[type].safeParse(value);
  if (result.success) return { ok: true, frame: result.data as ClientFrame };
  const details: ErrorDetail[] = [];
  for (const issue of result.error.issues.slice(0, MAX_DETAILS)) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys.slice(0, MAX_DETAILS)) details.push({ path: key.slice(0, 64), message: 'unknown field' });
    } else {
      details.push({ path: issue.path.map(String).join('.') || '(frame)', message: issue.message });
    }
  }
  return { ok: false, unknownType: false, details };
}
