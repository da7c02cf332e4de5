/**
 * Text frames (`chat.send`, `admin.broadcast`): trimmed length within
 * `limits.maxMessageChars`, then sanitized in place before anything stores or delivers it.
 */
import { sanitizeText } from './sanitize.js';
import type { FrameGuard } from './types.js';

export function textGuard(maxChars: number): FrameGuard {
  return {
    name: 'text',
    check: function text(ctx) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send' && frame.type !== 'admin.broadcast') return undefined;
      const trimmed = frame.text.trim();
      if (trimmed.length === 0 || trimmed.length > maxChars) {
        return {
          ok: false,
          code: 'INVALID_PAYLOAD',
          details: [{ path: 'text', message: trimmed.length === 0 ? 'must not be empty' : `must be at most ${maxChars} characters` }],
          event: 'invalid_payload',
        };
      }
      frame.text = sanitizeText(trimmed);
      return undefined;
    },
  };
}
