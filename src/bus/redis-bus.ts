/**
 * The cluster bus: every node publishes envelopes on one Redis channel and subscribes to it.
 * A node delivers its own envelopes locally in the same turn as `publish` (no Redis round trip
 * on the local path) and skips its own copy when it comes back from Redis; envelopes of other
 * nodes are delivered as they arrive. Redis keeps the order of one connection's PUBLISH
 * commands, so one publisher's order holds on every node.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Bus, Deliver, Envelope } from './bus.js';

export interface RedisBusOptions {
  url: string;
  /** Key/channel prefix, so several clusters (or test runs) can share one Redis. @default 'bulwark:' */
  prefix?: string;
  /** This node's id on the bus; random by default. */
  nodeId?: string;
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

export class RedisBus implements Bus {
  readonly kind = 'redis' as const;
  readonly nodeId: string;
  readonly channel: string;
  private readonly pub: Redis;
  private readonly sub: Redis;
  private deliver: Deliver | undefined;
  private closed = false;

  private constructor(private readonly options: RedisBusOptions) {
    this.nodeId = options.nodeId ?? randomBytes(6).toString('hex');
    this.channel = `${options.prefix ?? 'bulwark:'}bus`;
    const onError = (err: Error): void => options.onError?.(err);
    this.pub = new Redis(options.url, { lazyConnect: true, connectionName: `bulwark-pub-${this.nodeId}` });
    this.sub = new Redis(options.url, { lazyConnect: true, connectionName: `bulwark-sub-${this.nodeId}` });
    this.pub.on('error', onError);
    this.sub.on('error', onError);
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
  }

  /** Connects both clients and subscribes; resolves once this node receives the channel. */
  static async connect(options: RedisBusOptions): Promise<RedisBus> {
    const bus = new RedisBus(options);
    try {
      await Promise.all([bus.pub.connect(), bus.sub.connect()]);
      await bus.sub.subscribe(bus.channel);
    } catch (err) {
      bus.pub.disconnect();
      bus.sub.disconnect();
      throw err;
    }
    return bus;
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
    const wire: Wire = { n: this.nodeId, e: envelope };
    this.pub.publish(this.channel, JSON.stringify(wire)).catch((err: unknown) => this.options.onError?.(err as Error));
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
    if (this.sub.status !== 'ready') throw new Error(`redis subscriber is ${this.sub.status}`);
    await this.pub.ping();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.deliver = undefined;
    const quit = async (client: Redis): Promise<void> => {
      try {
        await client.quit();
      } catch {
        client.disconnect();
      }
    };
    await Promise.all([quit(this.sub), quit(this.pub)]);
  }
}
