/**
 * What the client remembers about a joined room to resume it: the highest `seq` seen and the
 * ids recently delivered. After a reconnect the room is rejoined with `since = lastSeq`; live
 * messages that arrive while the catch-up is running wait in `buffer` and are merged in `seq`
 * order, and anything already delivered is dropped by id.
 */
import type { Message } from '../src/protocol/frames.js';

/** How many delivered ids are remembered per room for deduplication. */
const SEEN_LIMIT = 1000;

export class RoomCursor {
  lastSeq = 0;
  private readonly seen = new Set<string>();
  /** Non-null while a join or a resume is in progress. */
  buffer: Message[] | null = [];

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
