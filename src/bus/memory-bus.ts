/** In-process bus: a single node delivers to itself synchronously. */
import type { Bus, Deliver, Envelope } from './bus.js';

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  private deliver: Deliver | undefined;

  attach(deliver: Deliver): void {
    this.deliver = deliver;
  }

  publish(envelope: Envelope): void {
    this.deliver?.(envelope);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.deliver = undefined;
    return Promise.resolve();
  }
}
