/**
 * Message rows whose text cannot be decrypted (a key this node does not hold, a damaged row) are
 * served as unavailable instead of failing the page (docs/protocol.md, "The message object"), and
 * recorded as `message_unreadable`: once per room per minute, with how many rows and under which
 * key ids, so a reader paging through a bad room does not write one event per page.
 */
import type { UnreadableHook } from '../store/rows.js';
import type { SecurityAudit } from './audit.js';
import { boundedCache } from './bounded-cache.js';

const WINDOW_MS = 60_000;
const MAX_ROOMS = 10_000;

export function unreadableReporter(audit: Pick<SecurityAudit, 'emit'>): UnreadableHook {
  const recent = boundedCache<string, true>(MAX_ROOMS, WINDOW_MS);
  return function reportUnreadable(room, keyIds) {
    if (recent.has(room)) return;
    recent.set(room, true);
    const keys = [...new Set(keyIds.map((k) => k ?? 'plain'))].slice(0, 10);
    audit.emit('message_unreadable', { detail: { room, rows: keyIds.length, keys } });
  };
}
