/**
 * Per-room `seq` order for live delivery on a cluster node, and no silent gaps
 * (docs/protocol.md "`room.resync`", docs/cluster.md).
 *
 * Messages of one room are stored with consecutive `seq`s, but they reach a node from several
 * publishers through Redis, so they can arrive out of order, and a Redis outage or a node dying
 * between its commit and its publish can lose some. For every room this node's connections
 * follow, the sequencer knows the next `seq` it owes them:
 * - the expected one is delivered at once, with any held ones that follow it;
 * - one that arrived early is held, at most `cluster.reorderMs` and `cluster.reorderMaxMessages`
 *   per room; then the gap is declared: the room's connections get `room.resync {room, fromSeq}`
 *   (fetch history after `fromSeq - 1`) and the held messages follow in order;
 * - one that arrives late (below the next `seq`) is dropped: it was delivered, or announced by a
 *   resync whose catch-up fetches it from storage.
 * When the node may have missed messages without seeing a later one (its subscription came back,
 * or another node lost publishes), `recheck` compares each followed room's stored tail with the
 * next `seq` and resyncs the rooms that fell behind.
 *
 * The next `seq` of a room starts from its stored tail, read when the first local connection
 * follows it and before that connection reads its history (`watch`), so a message is either in
 * that history or delivered live after it. State exists only for rooms with local followers.
 */
import type { Envelope } from '../bus/bus.js';

export interface SequencerOptions {
  /** How long an early message waits for the ones before it. */
  reorderMs: number;
  /** Early messages held per room; one more declares the gap at once. */
  maxHeld: number;
  /** The highest `seq` stored in a room (0 when empty). */
  tail(roomId: number): Promise<number>;
  /** Writes an envelope to this node's connections (the hub). */
  deliver(envelope: Envelope): void;
  onError?: (err: unknown) => void;
}

interface RoomState {
  readonly room: string;
  readonly roomId: number;
  /** The next `seq` owed to the room's connections; undefined until the tail is known. */
  next: number | undefined;
  /** While the tail is read: resolves when it is known. */
  loading: Promise<void> | undefined;
  /** Messages that arrived while the tail was read. */
  early: Envelope[];
  /** Messages ahead of `next`, by seq. */
  readonly held: Map<number, Envelope>;
  timer: NodeJS.Timeout | undefined;
}

/** Rooms whose stored tail a recheck reads at once. */
const RECHECK_CONCURRENCY = 8;

export class RoomSequencer {
  private readonly rooms = new Map<string, RoomState>();

  constructor(private readonly options: SequencerOptions) {}

  /** Rooms followed on this node (each has state). */
  get size(): number {
    return this.rooms.size;
  }

  /**
   * A local connection follows the room. The first one starts reading the room's tail; every
   * caller gets the same promise until it is known (then undefined), so history is read after it.
   */
  watch(room: string, roomId: number): Promise<void> | undefined {
    const known = this.rooms.get(room);
    if (known && known.roomId === roomId) return known.loading;
    if (known) this.forget(room);
    const state: RoomState = { room, roomId, next: undefined, loading: undefined, early: [], held: new Map(), timer: undefined };
    this.rooms.set(room, state);
    state.loading = this.options.tail(roomId).then(
      (tail) => this.started(state, tail + 1),
      (err: unknown) => {
        this.options.onError?.(err);
        // Without the tail, the first message that arrives sets the start.
        this.started(state, undefined);
      },
    );
    return state.loading;
  }

  private started(state: RoomState, next: number | undefined): void {
    if (this.rooms.get(state.room) !== state) return;
    state.loading = undefined;
    state.next = next;
    const early = state.early.sort((x, y) => x.seq! - y.seq!);
    state.early = [];
    for (const envelope of early) this.accept(envelope);
  }

  /** No local connection follows the room any more. */
  forget(room: string): void {
    const state = this.rooms.get(room);
    if (!state) return;
    if (state.timer) clearTimeout(state.timer);
    this.rooms.delete(room);
  }

  /** A `chat.message` envelope (with `seq`) for a room target. */
  accept(envelope: Envelope): void {
    if (envelope.target.kind !== 'room' || envelope.seq === undefined) return this.options.deliver(envelope);
    const state = this.rooms.get(envelope.target.room);
    // Nobody here follows the room: nothing to deliver.
    if (!state) return;
    if (state.loading) {
      if (state.early.length < this.options.maxHeld) state.early.push(envelope);
      return;
    }
    const seq = envelope.seq;
    state.next ??= seq;
    if (seq < state.next) return;
    if (seq === state.next) {
      this.options.deliver(envelope);
      state.next++;
      this.drain(state);
      return;
    }
    state.held.set(seq, envelope);
    if (state.held.size > this.options.maxHeld) return this.gap(state);
    if (!state.timer) {
      state.timer = setTimeout(() => this.gap(state), this.options.reorderMs);
      state.timer.unref();
    }
  }

  /** Delivers the held messages that now follow in order. */
  private drain(state: RoomState): void {
    let next = state.held.get(state.next!);
    while (next) {
      state.held.delete(state.next!);
      this.options.deliver(next);
      state.next!++;
      next = state.held.get(state.next!);
    }
    if (state.held.size === 0 && state.timer) {
      clearTimeout(state.timer);
      state.timer = undefined;
    }
  }

  /**
   * Declares that the room's connections may have missed messages from `next` on: they are told
   * to resync, then get the held messages in order. `atLeast` moves `next` past a stored tail.
   */
  private gap(state: RoomState, atLeast = 0): void {
    if (state.timer) clearTimeout(state.timer);
    state.timer = undefined;
    if (this.rooms.get(state.room) !== state || state.next === undefined) return;
    const fromSeq = state.next;
    this.options.deliver({
      target: { kind: 'room', room: state.room },
      type: 'room.resync',
      frame: JSON.stringify({ type: 'room.resync', room: state.room, fromSeq }),
    });
    const seqs = [...state.held.keys()].sort((x, y) => x - y);
    for (const seq of seqs) this.options.deliver(state.held.get(seq)!);
    state.held.clear();
    state.next = Math.max(seqs.length > 0 ? seqs[seqs.length - 1]! + 1 : fromSeq, atLeast);
  }

  /**
   * Messages may have been missed without a later one showing it (the subscription dropped, or
   * another node lost publishes): every followed room whose stored tail is at or past the next
   * `seq` is resynced.
   */
  async recheck(): Promise<void> {
    const states = [...this.rooms.values()];
    const work = async (): Promise<void> => {
      for (let state = states.pop(); state; state = states.pop()) {
        if (state.loading || state.next === undefined) continue;
        let tail: number;
        try {
          tail = await this.options.tail(state.roomId);
        } catch (err) {
          this.options.onError?.(err);
          continue;
        }
        if (this.rooms.get(state.room) === state && state.next !== undefined && tail >= state.next) this.gap(state, tail + 1);
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECHECK_CONCURRENCY, states.length) }, work));
  }

  /** Stops every timer (shutdown). */
  close(): void {
    for (const room of [...this.rooms.keys()]) this.forget(room);
  }
}
