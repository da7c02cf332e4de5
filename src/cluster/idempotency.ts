/**
 * `chat.send` idempotency keys shared by the cluster (contract section 4): the first node to
 * `SET key NX` handles the send; a duplicate on any node gets the first ack back. While the
 * first node is still handling it, the key holds a short-lived in-flight marker (so a node that
 * dies mid-send does not block the id for the whole window); the ack then replaces it for
 * `replay.windowMs`.
 *
 * While Redis is unreachable (docs/cluster.md "Redis outage") the node's own LRU in the replay
 * guard is the only record: a retry on the same node is still answered from it, a retry on another
 * node during the outage is not. The acks given meanwhile are kept (bounded) and written to Redis
 * when it is back (`SET NX`, for what is left of their window), so a retry on another node after
 * the outage gets the first ack. Every command is bounded (cluster/redis-options.ts), and while the
 * node is degraded none is sent.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Reply } from '../domain/reply.js';
import type { SharedClaim, SharedIdempotency } from '../guards/frame/replay.js';
import type { ClusterHealth } from './health.js';

const IN_FLIGHT = '~';
const FIRST: SharedClaim = Object.freeze({ first: true });
/** Acks kept while Redis is unreachable, to be written when it is back; the oldest go first past this. */
const MAX_BACKLOG = 10_000;

export interface RedisIdempotencyOptions {
  client: Redis;
  prefix: string;
  health: ClusterHealth;
  /** Lifetime of the in-flight marker. @default 30000 */
  inFlightMs?: number;
  /** How long a duplicate waits for the first send's ack on another node. @default 3000 */
  waitMs?: number;
  onError?: (err: Error) => void;
}

export class RedisIdempotency implements SharedIdempotency {
  private readonly inFlightMs: number;
  private readonly waitMs: number;
  /** Redis key -> the ack and when its window ends, settled while Redis was unreachable. */
  private backlog = new Map<string, { value: string; until: number }>();

  constructor(private readonly options: RedisIdempotencyOptions) {
    this.inFlightMs = options.inFlightMs ?? 30_000;
    this.waitMs = options.waitMs ?? 3_000;
  }

  private key(key: string): string {
    return `${this.options.prefix}idem:${key}`;
  }

  async claim(key: string, windowMs: number): Promise<SharedClaim> {
    // Degraded: the replay guard's LRU already holds the key; this node handles the send.
    if (!this.options.health.ok) return FIRST;
    const k = this.key(key);
    const deadline = Date.now() + this.waitMs;
    try {
      for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
        const set = await this.options.client.set(k, IN_FLIGHT, 'PX', Math.min(windowMs, this.inFlightMs), 'NX');
        if (set === 'OK') return { first: true };
        const value = await this.options.client.get(k);
        // null: the first send was refused (or its marker lapsed) in between; claim again.
        if (value !== null && value !== IN_FLIGHT) return { first: false, reply: JSON.parse(value) as Reply };
        if (value === IN_FLIGHT && Date.now() >= deadline) return { first: false, inFlight: true };
        if (value === IN_FLIGHT) await sleep(delay);
      }
    } catch (err) {
      this.options.onError?.(err as Error);
      return FIRST;
    }
  }

  settle(key: string, reply: Reply | undefined, windowMs: number): void {
    const k = this.key(key);
    if (!this.options.health.ok) {
      if (!reply) return;
      if (this.backlog.size >= MAX_BACKLOG) this.backlog.delete(this.backlog.keys().next().value!);
      this.backlog.set(k, { value: JSON.stringify(reply), until: Date.now() + windowMs });
      return;
    }
    const done = reply ? this.options.client.set(k, JSON.stringify(reply), 'PX', windowMs) : this.options.client.del(k);
    done.catch((err: unknown) => this.options.onError?.(err as Error));
  }

  /** Redis is back: the acks given meanwhile become visible to every node (an earlier record wins). */
  async flush(): Promise<void> {
    const backlog = this.backlog;
    this.backlog = new Map();
    const now = Date.now();
    const batch = this.options.client.pipeline();
    for (const [k, { value, until }] of backlog) if (until > now) batch.set(k, value, 'PX', until - now, 'NX');
    try {
      await batch.exec();
    } catch (err) {
      this.options.onError?.(err as Error);
    }
  }
}
