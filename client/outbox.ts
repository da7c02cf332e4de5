/**
 * Messages sent but not yet acknowledged. Each keeps its frame id for life, so a copy resent
 * after a reconnect is recognised by the server's idempotency check (contract section 4,
 * "Replay and idempotency") and stored once. Bounded, so an app offline for an hour does not
 * grow without limit; the caller gets a clear `OUTBOX_FULL` instead.
 */
import type { SendAck } from './types.js';

export interface OutboxEntry {
  id: string;
  room: string;
  text: string;
  replyTo?: string;
  /** Written to the current socket, waiting for the ack. */
  inFlight: boolean;
  resolve(ack: SendAck): void;
  reject(error: Error): void;
}

export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.size;
  }

  get full(): boolean {
    return this.entries.size >= this.limit;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  add(entry: OutboxEntry): void {
    this.entries.set(entry.id, entry);
  }

  take(id: string): OutboxEntry | undefined {
    const entry = this.entries.get(id);
    if (entry) this.entries.delete(id);
    return entry;
  }

  /** Entries not on the wire, oldest first (Map keeps insertion order). */
  waiting(): OutboxEntry[] {
    return [...this.entries.values()].filter((e) => !e.inFlight);
  }

  /** The socket is gone: everything in flight must be sent again. */
  requeue(): void {
    for (const entry of this.entries.values()) entry.inFlight = false;
  }

  drain(error: Error): void {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const entry of all) entry.reject(error);
  }
}
