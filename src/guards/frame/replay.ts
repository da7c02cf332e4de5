/**
 * Replay and idempotency for `chat.send` (contract section 4). The frame `id` is an
 * idempotency key per user for `replay.windowMs`: the same id again, on any connection of that
 * user, gets the first ack with `duplicate: true` and nothing is stored or delivered twice. A
 * `ts` further than `replay.maxSkewMs` from the server clock is refused as REPLAY. Keys live in an
 * LRU bounded by count and time, never in a map that grows with traffic.
 */
import { LRUCache } from 'lru-cache';
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

export function replayGuard(options: ReplayOptions): ReplayGuard {
  const keys = new LRUCache<string, Entry>({ max: options.maxKeys, ttl: options.windowMs, ttlAutopurge: false, updateAgeOnGet: false });
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
      return undefined;
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
      resolve(reply);
    },
  };
}
