/**
 * Spam rules for `chat.send` and `chat.edit` (contract section 4, seed "isSpam"): link floods, long runs of one
 * character, configured keywords and patterns, and the same message repeated by one user. Users
 * who keep tripping the rules are muted for a while. Per-user memory is an LRU bounded by count
 * and time.
 */
import { boundedCache } from '../../security/bounded-cache.js';
import type { Config } from '../../config/schema.js';
import type { SecurityAudit } from '../../security/audit.js';
import type { FrameGuard, FrameVerdict } from './types.js';

const LINK = /\bhttps?:\/\/|\bwww\./gi;

interface Recent {
  digest: string;
  count: number;
}

interface Strikes {
  count: number;
  mutedUntil: number;
}

/**
 * A cheap fingerprint for "same message again" (FNV-1a over room and text, plus the length).
 * A collision can only make one user's own distinct messages look repeated, never another's.
 */
export function fingerprint(room: string, text: string): string {
  let h = 0x811c9dc5;
  const mix = (s: string): void => {
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  };
  mix(room);
  mix('\u0000');
  mix(text);
  return `${text.length}:${(h >>> 0).toString(36)}`;
}

export function longestRun(text: string): number {
  let best = 0;
  let run = 0;
  let prev = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    run = c === prev ? run + 1 : 1;
    prev = c;
    if (run > best) best = run;
  }
  return best;
}

export type SpamRule = 'links' | 'char_run' | 'keyword' | 'pattern' | 'repeat';

export function spamRule(text: string, rules: Config['spam'], patterns: readonly RegExp[], keywords: readonly string[]): SpamRule | undefined {
  const links = text.match(LINK);
  if (links && links.length > rules.maxLinks) return 'links';
  if (longestRun(text) > rules.maxCharRun) return 'char_run';
  const lower = text.toLowerCase();
  for (const k of keywords) if (lower.includes(k)) return 'keyword';
  for (const p of patterns) if (p.test(text)) return 'pattern';
  return undefined;
}

/** A mute's refusal: `retryAfterMs` says until when, so a client can tell its user. */
function muted(retryAfterMs: number, rule: SpamRule | 'muted'): FrameVerdict {
  return { ok: false, code: 'SPAM', message: `You are muted for ${Math.ceil(retryAfterMs / 1000)} s.`, retryAfterMs, event: 'spam_detected', detail: { rule } };
}

export interface SpamGuard extends FrameGuard {
  readonly size: number;
  /** An admin's mute until `until` (ms); a past time lifts it. */
  mute(user: string, until: number): void;
}

export function spamGuard(rules: Config['spam'], maxTracked: number, audit: SecurityAudit): SpamGuard {
  const patterns = rules.patterns.map((p) => new RegExp(p, 'i'));
  const keywords = rules.keywords.map((k) => k.toLowerCase());
  const recent = boundedCache<string, Recent>(maxTracked, rules.repeatWindowMs);
  const strikes = boundedCache<string, Strikes>(maxTracked, Math.max(rules.repeatWindowMs, rules.muteMs));

  return {
    name: 'spam',
    get size() {
      return recent.size + strikes.size;
    },
    mute(user, until) {
      // The entry lives as long as the mute, whatever the cache's own time to live.
      strikes.set(user, { count: 0, mutedUntil: until }, { ttl: Math.max(1, until - Date.now()) });
    },
    check: function spam(ctx) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send' && frame.type !== 'chat.edit') return undefined;
      const user = ctx.conn.userId!;
      const now = Date.now();
      const s = strikes.get(user);
      if (s && s.mutedUntil > now) return muted(s.mutedUntil - now, 'muted');
      let rule = spamRule(frame.text, rules, patterns, keywords);
      if (!rule) {
        const digest = fingerprint(frame.room, frame.text);
        const last = recent.get(user);
        if (last && last.digest === digest) {
          last.count++;
          if (last.count > rules.maxRepeats) rule = 'repeat';
        } else {
          recent.set(user, { digest, count: 1 });
        }
      }
      if (!rule) return undefined;
      const next: Strikes = { count: (s?.count ?? 0) + 1, mutedUntil: 0 };
      if (next.count >= rules.muteAfter) {
        next.mutedUntil = now + rules.muteMs;
        next.count = 0;
        audit.emit('user_muted', { ip: ctx.conn.ip, user, detail: { untilMs: rules.muteMs } });
      }
      strikes.set(user, next);
      // The strike that mutes says so at once, with until when (docs/protocol.md "Errors").
      if (next.mutedUntil > 0) return muted(rules.muteMs, rule);
      return { ok: false, code: 'SPAM', message: 'The message looks like spam.', event: 'spam_detected', detail: { rule } };
    },
  };
}
