/**
 * Text frames (`chat.send`, `chat.edit`, `admin.broadcast`), contract section 4 "Message text": the trimmed
 * length must be within `limits.maxMessageChars`; text carrying active content records
 * `xss_attempt` (and, with `security.xssAction: "reject"`, is refused `INVALID_PAYLOAD`); then
 * the text is sanitized in place before anything stores or delivers it.
 *
 * `content_sanitized` records markup that was escaped although it carried nothing active (a
 * `<div class="note">`, an unknown tag, a comment): information, not an attack. A stray `<` as in
 * `a < b` or `I <3 you` is no markup and records nothing, and neither does text already reported
 * as `xss_attempt`.
 */
import type { SecurityAudit } from '../../security/audit.js';
import { findActiveContent } from '../../security/xss.js';
import { sanitizeMarkup } from './sanitize.js';
import type { FrameGuard } from './types.js';

/** What to do with text that carries active content. */
export type XssAction = 'sanitize' | 'reject';

export interface TextGuardOptions {
  maxChars: number;
  /** @default 'sanitize' */
  xssAction?: XssAction;
  audit?: SecurityAudit;
}

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

export function textGuard(options: TextGuardOptions): FrameGuard {
  const { maxChars, audit } = options;
  const reject = options.xssAction === 'reject';
  return {
    name: 'text',
    check: function text(ctx) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send' && frame.type !== 'chat.edit' && frame.type !== 'admin.broadcast') return undefined;
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
      const active = findActiveContent(trimmed);
      if (active && reject) {
        return {
          ok: false,
          code: 'INVALID_PAYLOAD',
          details: [{ path: 'text', message: 'must not contain active content (script, event handler, javascript: URL or the like)' }],
          event: 'xss_attempt',
          detail: { action: 'reject', kind: active.kind, match: active.name, chars },
        };
      }
      const clean = sanitizeMarkup(trimmed);
      if (audit && active) {
        audit.emit('xss_attempt', { ip: ctx.conn.ip, user: ctx.conn.userId, detail: { type: frame.type, action: 'sanitize', kind: active.kind, match: active.name, chars } });
      } else if (audit && clean.escapedMarkup > 0) {
        audit.emit('content_sanitized', { ip: ctx.conn.ip, user: ctx.conn.userId, detail: { type: frame.type, chars, escaped: clean.escapedMarkup } });
      }
      frame.text = clean.text;
      return undefined;
    },
  };
}
