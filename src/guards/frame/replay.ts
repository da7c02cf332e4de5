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
import type { FrameGuard } from './types.js';

type Entry = { state: 'pending'; done: Promise<Reply> } | { state: 'done'; reply: Reply };

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
  const settle = new Map<string, (reply: Reply) => void>();

  const duplicateOf = (reply: Reply): Reply => (reply.ok ? { ok: true, body: { ...reply.body, duplicate: true } } : reply);

  return {
    name: 'replay',
    get size() {
      return keys.size;
    },
    check: async function replay(ctx) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send') return undefined;
      if (frame.ts !== undefined && Math.abs(frame.ts - Date.now()) > options.maxSkewMs) {
        return { ok: false, code: 'REPLAY', message: 'The frame timestamp is too far from the server clock.', event: 'replay_detected', detail: { skewMs: frame.ts - Date.now() } };
      }
      const key = `${ctx.conn.userId}\u0000${frame.id}`;
      const entry = keys.get(key);
      if (entry?.state === 'done') return { answer: duplicateOf(entry.reply) };
      if (entry?.state === 'pending') return { answer: duplicateOf(await entry.done) };
      let resolve!: (reply: Reply) => void;
      const done = new Promise<Reply>((r) => (resolve = r));
      keys.set(key, { state: 'pending', done });
      settle.set(key, resolve);
      if (!shared) return undefined;
      const claim = await shared.claim(key, options.windowMs);
      if (claim.first) return undefined;
      // Another node has (or is still handling) this id: answer from its reply, store nothing here.
      settle.delete(key);
      const reply: Reply =
        'reply' in claim ? claim.reply : { ok: false, code: 'CONFLICT', message: 'A send with this id is still being handled; retry shortly.', retryAfterMs: 1000 };
      if (reply.ok) keys.set(key, { state: 'done', reply });
      else keys.delete(key);
      resolve(reply);
      return { answer: duplicateOf(reply) };
    },
    after(ctx, reply) {
      const frame = ctx.frame;
      if (frame.type !== 'chat.send') return;
      const key = `${ctx.conn.userId}\u0000${frame.id}`;
      const resolve = settle.get(key);
      if (!resolve) return;
      settle.delete(key);
      // Only a success is remembered: a refused send may be retried with the same id.
      if (reply.ok) keys.set(key, { state: 'done', reply });
      else keys.delete(key);
      shared?.settle(key, reply.ok ? reply : undefined, options.windowMs);
      resolve(reply);
    },
  };
}
