/**
 * Replay and idempotency for `chat.send` and `chat.edit` (contract section 4). The frame `id` is an
 * idempotency key per user for `replay.windowMs`: the same id again, on any connection of that
 * user, gets the first ack with `duplicate: true` and nothing is stored or delivered twice. A
 * `ts` further than `replay.maxSkewMs` from the server clock is refused as REPLAY. Keys are
 * forgotten once `replay.windowMs` has passed (at most a quarter window later) and are bounded by
 * `replay.maxKeys`, oldest first: memory follows the send rate over one window, never the
 * traffic's history. In a cluster this cache stays the fast path and a shared store (Redis) is
 * the truth, so the same id sent on another node also gets the first ack.
 */
import { ExpiringCache } from '../../security/expiring-cache.js';
import type { Reply } from '../../domain/reply.js';
import type { FrameGuard, FrameVerdict } from './types.js';

/**
 * One key: `reply` is unset from its first send until that send is answered; a duplicate that
 * arrives meanwhile waits for the first answer (its resolver joins `waiters`, created only then).
 * The entry is completed in place, so a send costs one cache write.
 */
interface Entry {
  reply: Reply | undefined;
  waiters: Array<(reply: Reply) => void> | undefined;
}

export interface ReplayOptions {
  windowMs: number;
  maxSkewMs: number;
  maxKeys: number;
  /** The clock of the key cache (tests inject one). @default Date.now */
  now?: () => number;
}

export interface ReplayGuard extends FrameGuard {
  readonly size: number;
}

/** The first reply of a key, as another node settled it. */
export type SharedClaim = { first: true } | { first: false; reply: Reply } | { first: false; inFlight: true };

/** Idempotency keys shared by every node of a cluster. */
export interface SharedIdempotency {
  /** Claims a key for this node, or returns the reply another node settled it with (waiting a while for one in flight). */
  claim(key: string, windowMs: number): Promise<SharedClaim>;
  /** A success is remembered for the window; a refusal (`undefined`) frees the key for a retry. */
  settle(key: string, reply: Reply | undefined, windowMs: number): void;
}

export function replayGuard(options: ReplayOptions, shared?: SharedIdempotency): ReplayGuard {
  const keys = new ExpiringCache<string, Entry>({ ttlMs: options.windowMs, maxEntries: options.maxKeys, ...(options.now ? { now: options.now } : {}) });
  /** Keys this node claimed and has not yet settled (a key dropped from the cache still settles). */
  const claimed = new Map<string, Entry>();

  const duplicateOf = (reply: Reply): Reply => (reply.ok ? { ok: true, body: { ...reply.body, duplicate: true } } : reply);
  const keyOf = (userId: string | undefined, type: 'chat.send' | 'chat.edit', id: string): string =>
    type === 'chat.send' ? `${userId}\u0000${id}` : `${userId}\u0000edit\u0000${id}`;
  const waitFor = (entry: Entry): Promise<FrameVerdict> => new Promise((resolve) => (entry.waiters ??= []).push((reply) => resolve({ answer: duplicateOf(reply) })));

  const finish = (key: string, reply: Reply): void => {
    const entry = claimed.get(key);
    if (!entry) return;
    claimed.delete(key);
    // Only a success is remembered: a refused send may be retried with the same id.
    if (reply.ok) entry.reply = reply;
    else if (keys.get(key) === entry) keys.delete(key);
    const waiters = entry.waiters;
    entry.waiters = undefined;
    if (waiters) for (const w of waiters) w(reply);
  };

  const claimShared = async (key: string, shared: SharedIdempotency): Promise<FrameVerdict> => {
    // A failed claim throws; runFrameGuards then calls `after`, which releases the key.
    const claim = await shared.claim(key, options.windowMs);
    if (claim.first) return undefined;
    // Another node has (or is still handling) this id: answer from its reply, store nothing here.
    const reply: Reply =
      'reply' in claim ? claim.reply : { ok: false, code: 'CONFLICT', message: 'A send with this id is still being handled; retry shortly.', retryAfterMs: 1000 };
    finish(key, reply);
    return { answer: duplicateOf(reply) };
  };

  return {
    name: 'replay',
    get size() {
      return keys.size;
    },
    // Synchronous unless it must wait (a duplicate of a send in flight, or the cluster's claim).
    check: function replay(ctx) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send' && frame.type !== 'chat.edit') return undefined;
      if (frame.type === 'chat.send' && frame.ts !== undefined && Math.abs(frame.ts - Date.now()) > options.maxSkewMs) {
        return { ok: false, code: 'REPLAY', message: 'The frame timestamp is too far from the server clock.', event: 'replay_detected', detail: { skewMs: frame.ts - Date.now() } };
      }
      const key = keyOf(ctx.conn.userId, frame.type, frame.id);
      const entry = keys.get(key) ?? claimed.get(key);
      if (entry) return entry.reply ? { answer: duplicateOf(entry.reply) } : waitFor(entry);
      const pending: Entry = { reply: undefined, waiters: undefined };
      keys.add(key, pending);
      claimed.set(key, pending);
      return shared ? claimShared(key, shared) : undefined;
    },
    after(ctx, reply) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send' && frame.type !== 'chat.edit') return;
      const key = keyOf(ctx.conn.userId, frame.type, frame.id);
      if (!claimed.has(key)) return;
      finish(key, reply);
      shared?.settle(key, reply.ok ? reply : undefined, options.windowMs);
    },
  };
}
