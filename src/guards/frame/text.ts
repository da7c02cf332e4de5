/**
 * Text frames (`chat.send`, `admin.broadcast`): trimmed length within
 * `limits.maxMessageChars`, then sanitized in place before anything stores or delivers it.
 * Markup that sanitization changed (a tag or attribute escaped or dropped) records one
 * `content_sanitized` event; an `&` turned into `&amp;` alone does not.
 */
import type { SecurityAudit } from '../../security/audit.js';
import { sanitizeText } from './sanitize.js';
import type { FrameGuard } from './types.js';

/** Characters as people count them (code points): an emoji is one, not two UTF-16 units. */
export function codePoints(text: string): number {
  let n = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n--;
        i++;
      }
    }
  }
  return n;
}

export function textGuard(maxChars: number, audit?: SecurityAudit): FrameGuard {
  return {
    name: 'text',
    check: function text(ctx) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send' && frame.type !== 'admin.broadcast') return undefined;
      const trimmed = frame.text.trim();
      const chars = codePoints(trimmed);
      if (chars === 0 || chars > maxChars) {
        return {
          ok: false,
          code: 'INVALID_PAYLOAD',
          details: [{ path: 'text', message: chars === 0 ? 'must not be empty' : `must be at most ${maxChars} characters` }],
          event: 'invalid_payload',
        };
      }
      const clean = sanitizeText(trimmed);
      if (clean !== trimmed && audit && trimmed.includes('<')) {
        audit.emit('content_sanitized', { ip: ctx.conn.ip, user: ctx.conn.userId, detail: { type: frame.type, chars } });
      }
      frame.text = clean;
      return undefined;
    },
  };
}
