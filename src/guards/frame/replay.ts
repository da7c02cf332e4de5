/**
 * Replay and idempotency for `chat.send` (contract section 4). The frame `id` is an
 * idempotency key per user for `replay.windowMs`: the same id again, on any connection of that
 * user, gets the first ack with `duplicate: true` and nothing is stored or delivered twice. A
 * `ts` further than `replay.maxSkewMs` from the server clock is refused as REPLAY. Keys live in an
 * LRU bounded by count and time, never in a map that grows with traffic. In a cluster the LRU
 * stays the fast path and a shared store (Redis) is the truth, so the same id sent on another
 * node also gets the first ack.
 */
import { boundedCache } from '../../security/bounded-cache.js';
import type { Reply } from '../../domain/reply.js';
import type { FrameGuard, FrameVerdict } from './types.js';

/**
 * A key is `pending` from its first send until that send is answered; a duplicate that arrives
 * meanwhile waits for the first answer (its resolver joins `waiters`, created only then).
 */
type Entry = { state: 'pending'; waiters: Array<(reply: Reply) => void> | undefined } | { state: 'done'; reply: Reply };

export interface ReplayOptions {
  windowMs: number;
  maxSkewMs: number;
  maxKeys: number;
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
  const keys = boundedCache<string, Entry>(options.maxKeys, options.windowMs);
  /** Keys this node claimed and has not yet settled (a key evicted from the LRU still settles). */
  const claimed = new Map<string, Extract<Entry, { state: 'pending' }>>();

  const duplicateOf = (reply: Reply): Reply => (reply.ok ? { ok: true, body: { ...reply.body, duplicate: true } } : reply);
  const keyOf = (userId: string | undefined, id: string): string => `${userId}\u0000${id}`;
  const waitFor = (entry: Extract<Entry, { state: 'pending' }>): Promise<FrameVerdict> =>
    new Promise((resolve) => (entry.waiters ??= []).push((reply) => resolve({ answer: duplicateOf(reply) })));

  const finish = (key: string, reply: Reply): void => {
    const entry = claimed.get(key);
    if (!entry) return;
    claimed.delete(key);
    // Only a success is remembered: a refused send may be retried with the same id.
    if (reply.ok) keys.set(key, { state: 'done', reply });
    else if (keys.get(key) === entry) keys.delete(key);
    if (entry.waiters) for (const w of entry.waiters) w(reply);
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
      if (frame.type !== 'chat.send') return undefined;
      if (frame.ts !== undefined && Math.abs(frame.ts - Date.now()) > options.maxSkewMs) {
        return { ok: false, code: 'REPLAY', message: 'The frame timestamp is too far from the server clock.', event: 'replay_detected', detail: { skewMs: frame.ts - Date.now() } };
      }
      const key = keyOf(ctx.conn.userId, frame.id);
      const entry = keys.get(key) ?? claimed.get(key);
      if (entry?.state === 'done') return { answer: duplicateOf(entry.reply) };
      if (entry?.state === 'pending') return waitFor(entry);
      const pending: Extract<Entry, { state: 'pending' }> = { state: 'pending', waiters: undefined };
      keys.set(key, pending);
      claimed.set(key, pending);
      return shared ? claimShared(key, shared) : undefined;
    },
    after(ctx, reply) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send') return;
      const key = keyOf(ctx.conn.userId, frame.id);
      if (!claimed.has(key)) return;
      finish(key, reply);
      shared?.settle(key, reply.ok ? reply : undefined, options.windowMs);
    },
  };
}
