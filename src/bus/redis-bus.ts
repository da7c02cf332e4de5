/**
 * The cluster bus: every node publishes envelopes on one Redis channel and subscribes to it.
 * A node delivers its own envelopes locally in the same turn as `publish` (no Redis round trip
 * on the local path) and skips its own copy when it comes back from Redis; envelopes of other
 * nodes are delivered as they arrive. Redis keeps the order of one connection's PUBLISH
 * commands, so one publisher's order holds on every node; across publishers the receiving node
 * restores `seq` order per room (fanout/sequencer.ts).
 *
 * Failure (docs/cluster.md "Redis outage"): no command waits for Redis (cluster/redis-options.ts).
 * While Redis is unreachable the bus delivers locally only. What could not be published is not
 * replayed later: the other nodes are told instead. When this node's subscription comes back
 * after a drop, `onResubscribed` runs (the node compares each followed room's stored tail with
 * what it delivered); when a publish of this node was lost, a `recheck` notice goes out once
 * Redis answers again, and every other node runs the same comparison.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Bus, Deliver, Envelope } from './bus.js';
import type { ClusterHealth } from '../cluster/health.js';
import { redisOptions, type RedisTimeouts } from '../cluster/redis-options.js';

export interface RedisBusOptions {
  url: string;
  /** Key/channel prefix, so several clusters (or test runs) can share one Redis. @default 'bulwark:' */
  prefix?: string;
  /** This node's id on the bus; random by default. */
  nodeId?: string;
  timeouts: RedisTimeouts;
  health: ClusterHealth;
  /** Connection errors (Redis down, reconnecting); the bus keeps retrying. */
  onError?: (err: Error) => void;
  /** A message on the channel that is not a valid envelope. */
  onMalformed?: (raw: string) => void;
}

interface Wire {
  /** Publishing node. */
  n: string;
  e: Envelope;
}

/** How soon a lost publish is followed by a recheck notice (retried at this pace until it goes out). */
const RECHECK_DELAY_MS = 250;

export class RedisBus implements Bus {
  readonly kind = 'redis' as const;
  readonly nodeId: string;
  readonly channel: string;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly health: ClusterHealth;
  private deliver: Deliver | undefined;
  private closed = false;
  /** The first subscription is made by `connect`; later ones by the `ready` handler. */
  private started = false;
  /** A frame this node published did not reach Redis: the other nodes must recheck. */
  private lost = false;
  private recheckTimer: NodeJS.Timeout | undefined;
  /** Runs after the subscription came back from a drop (set by the cluster wiring). */
  onResubscribed: (() => void) | undefined;

  private constructor(private readonly options: RedisBusOptions) {
    this.nodeId = options.nodeId ?? randomBytes(6).toString('hex');
    this.channel = `${options.prefix ?? 'bulwark:'}bus`;
    this.health = options.health;
    const onError = (err: Error): void => options.onError?.(err);
    this.pub = new Redis(options.url, redisOptions(`bulwark-pub-${this.nodeId}`, options.timeouts));
    this.sub = new Redis(options.url, redisOptions(`bulwark-sub-${this.nodeId}`, options.timeouts));
    this.health.connectionDown('publish', 'connecting');
    this.health.connectionDown('subscribe', 'connecting');
    for (const [name, client] of [
      ['publish', this.pub],
      ['subscribe', this.sub],
    ] as const) {
      client.on('error', onError);
      client.on('close', () => this.health.connectionDown(name, 'closed'));
      client.on('reconnecting', () => this.health.connectionDown(name, 'reconnecting'));
    }
    this.pub.on('ready', () => {
      this.health.connectionUp('publish');
      if (this.lost) this.scheduleRecheck();
    });
    this.sub.on('ready', () => {
      if (this.started) void this.resubscribe();
    });
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
  }

  /** Connects both clients and subscribes; resolves once this node receives the channel. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(options);
    // ioredis rejects `connect` with "Connection is closed." once it plans a retry; the socket
    // error it emitted first (ECONNREFUSED, ENOTFOUND, ...) is what an operator needs to see.
    let cause: Error | undefined;
    const first = (err: Error): void => {
      cause ??= err;
    };
    bus.pub.on('error', first);
    bus.sub.on('error', first);
    try {
      await Promise.all([bus.pub.connect(), bus.sub.connect()]);
      await bus.sub.subscribe(bus.channel);
    } catch (err) {
      bus.closed = true;
      bus.pub.disconnect();
      bus.sub.disconnect();
      throw cause ?? err;
    } finally {
      bus.pub.off('error', first);
      bus.sub.off('error', first);
    }
    bus.started = true;
    bus.health.connectionUp('subscribe');
    return bus;
  }

  private async resubscribe(): Promise<void> {
    try {
      await this.sub.subscribe(this.channel);
    } catch (err) {
      // The connection dropped again; its next `ready` tries again.
      this.options.onError?.(err as Error);
      return;
    }
    if (this.closed) return;
    this.health.connectionUp('subscribe');
    this.onResubscribed?.();
  }

  /** The publishing connection, shared by the other cluster pieces (limits, presence, idempotency). */
  get client(): Redis {
    return this.pub;
  }

  attach(deliver: Deliver): void {
    this.deliver = deliver;
  }

  publish(envelope: Envelope): void {
    this.deliver?.(envelope);
    if (this.closed) return;
    if (!this.health.ok) {
      // Degraded: local delivery only (contract section 5); the others recheck once Redis is back.
      this.lose();
      return;
    }
    const wire: Wire = { n: this.nodeId, e: envelope };
    this.pub.publish(this.channel, JSON.stringify(wire)).catch((err: unknown) => {
      this.lose();
      this.options.onError?.(err as Error);
    });
  }

  private lose(): void {
    if (this.lost) return;
    this.lost = true;
    this.scheduleRecheck();
  }

  private scheduleRecheck(): void {
    if (this.recheckTimer || this.closed) return;
    this.recheckTimer = setTimeout(() => {
      this.recheckTimer = undefined;
      void this.sendRecheck();
    }, RECHECK_DELAY_MS);
    this.recheckTimer.unref();
  }

  /** Tells every other node that something this node published may not have reached it. */
  private async sendRecheck(): Promise<void> {
    if (!this.lost || this.closed) return;
    if (!this.health.ok) return this.scheduleRecheck();
    const wire: Wire = { n: this.nodeId, e: { target: { kind: 'all' }, frame: '', effect: { recheck: true } } };
    try {
      this.lost = false;
      await this.pub.publish(this.channel, JSON.stringify(wire));
    } catch (err) {
      this.lost = true;
      this.options.onError?.(err as Error);
      this.scheduleRecheck();
    }
  }

  private receive(message: string): void {
    let wire: Wire;
    try {
      wire = JSON.parse(message) as Wire;
    } catch {
      this.options.onMalformed?.(message);
      return;
    }
    if (!wire || typeof wire !== 'object' || typeof wire.n !== 'string' || !wire.e || typeof wire.e !== 'object' || typeof wire.e.frame !== 'string' || !wire.e.target) {
      this.options.onMalformed?.(message);
      return;
    }
    if (wire.n === this.nodeId) return;
    this.deliver?.(wire.e);
  }

  async ping(): Promise<void> {
    if (!this.health.ok) throw new Error(this.health.reason);
    if (this.sub.status !== 'ready') throw new Error(`redis subscriber is ${this.sub.status}`);
    await this.pub.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deliver = undefined;
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    const quit = async (client: Redis): Promise<void> => {
      try {
        if (client.status === 'ready') await client.quit();
        else client.disconnect();
      } catch {
        client.disconnect();
      }
    };
    await Promise.all([quit(this.sub), quit(this.pub)]);
  }
}
