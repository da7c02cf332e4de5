/**
 * What the client remembers about a joined room to resume it: the highest `seq` seen, the ids
 * recently delivered, and the lowest `seq` that may be missing (a gap the server announced with
 * `room.resync`, or one the client saw in the live `seq`s). After a reconnect the room is rejoined
 * from `since()`; live messages that arrive while a catch-up is running wait in `buffer` and are
 * merged in `seq` order, and anything already delivered is dropped by id.
 */
import type { Message } from '../src/protocol/frames.js';

/** How many delivered ids are remembered per room for deduplication. */
const SEEN_LIMIT = 1000;

export class RoomCursor {
  lastSeq = 0;
  private readonly seen = new Set<string>();
  /** Non-null while a join, a resume or a catch-up is in progress. */
  buffer: Message[] | null = [];
  /** The lowest `seq` that may be missing, until a catch-up has fetched past it. */
  gapFrom: number | undefined;
  /** Counts gaps reported; a catch-up clears `gapFrom` only if none was reported while it ran. */
  gaps = 0;

  /** Where a resume or a catch-up starts: after the last `seq` known to be delivered without a gap. */
  since(): number {
    return this.gapFrom !== undefined ? Math.min(this.gapFrom - 1, this.lastSeq) : this.lastSeq;
  }

  /** Records that messages from `fromSeq` on may be missing. */
  gap(fromSeq: number): void {
    this.gapFrom = this.gapFrom === undefined ? fromSeq : Math.min(this.gapFrom, fromSeq);
    this.gaps++;
  }

  /** A live message that skips `seq`s the client never saw (and no catch-up is running). */
  skips(message: Message): boolean {
    return this.lastSeq > 0 && message.seq > this.lastSeq + 1;
  }

  /** Records a message; false when it was already delivered. */
  mark(message: Message): boolean {
    if (this.seen.has(message.id)) return false;
    this.seen.add(message.id);
    if (this.seen.size > SEEN_LIMIT) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    if (message.seq > this.lastSeq) this.lastSeq = message.seq;
    return true;
  }

  /** Ends buffering and returns the buffered messages in seq order. */
  release(): Message[] {
    const held = this.buffer ?? [];
    this.buffer = null;
    return held.sort((a, b) => a.seq - b.seq);
  }
}
