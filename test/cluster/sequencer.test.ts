/**
 * A cluster node's per-room `seq` order (src/fanout/sequencer.ts): messages that arrive out of
 * order reach the room's connections in order, a gap that does not fill in time is announced with
 * `room.resync` before the later messages, late copies are dropped, and a recheck resyncs a room
 * whose stored tail moved past what was delivered. The store is a map of room tails; deliveries
 * are recorded as the hub would write them.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Envelope } from '../../src/bus/bus.js';
import { RoomSequencer } from '../../src/fanout/sequencer.js';
import { eventually } from '../helpers/events.js';

function message(room: string, seq: number): Envelope {
  return { target: { kind: 'room', room }, type: 'chat.message', seq, frame: JSON.stringify({ type: 'chat.message', room, message: { seq } }) };
}

function setup(tails: Map<number, number>, options: { reorderMs?: number; maxHeld?: number } = {}) {
  const out: Array<{ type: string; seq?: number; fromSeq?: number }> = [];
  const sequencer = new RoomSequencer({
    reorderMs: options.reorderMs ?? 60_000,
    maxHeld: options.maxHeld ?? 100,
    tail: async (roomId) => tails.get(roomId) ?? 0,
    deliver: (envelope) => {
      const frame = JSON.parse(envelope.frame) as { type: string; fromSeq?: number; message?: { seq: number } };
      out.push(frame.type === 'room.resync' ? { type: frame.type, fromSeq: frame.fromSeq! } : { type: frame.type, seq: frame.message!.seq });
    },
  });
  const seqs = (): Array<number | string> => out.map((f) => (f.type === 'room.resync' ? `resync ${f.fromSeq}` : f.seq!));
  return { sequencer, out, seqs };
}

describe('per-room seq order on a cluster node', () => {
  it('delivers messages that arrive out of order in seq order', async () => {
    const { sequencer, seqs } = setup(new Map([[1, 10]]));
    await sequencer.watch('r', 1);
    for (const seq of [12, 11, 14, 13, 15]) sequencer.accept(message('r', seq));
    assert.deepEqual(seqs(), [11, 12, 13, 14, 15]);
    sequencer.close();
  });

  it('starts after the stored tail read when the first connection follows, dropping what that history holds', async () => {
    const { sequencer, seqs } = setup(new Map([[1, 10]]));
    const following = sequencer.watch('r', 1);
    assert.ok(following, 'the first follower waits for the tail');
    // Arrivals while the tail is read wait for it.
    sequencer.accept(message('r', 9));
    sequencer.accept(message('r', 11));
    await following;
    assert.deepEqual(seqs(), [11], 'seq 9 is in the history the follower reads next; 11 is live');
    assert.equal(sequencer.watch('r', 1), undefined, 'later followers do not wait');
    sequencer.close();
  });

  it('announces a gap that does not fill within reorderMs, then delivers what it held, and drops the late copy', async () => {
    const { sequencer, seqs } = setup(new Map([[1, 10]]), { reorderMs: 30 });
    await sequencer.watch('r', 1);
    sequencer.accept(message('r', 11));
    sequencer.accept(message('r', 13));
    sequencer.accept(message('r', 14));
    assert.deepEqual(seqs(), [11], 'held while 12 may still come');
    assert.ok(await eventually(() => seqs().length > 1, 3000));
    assert.deepEqual(seqs(), [11, 'resync 12', 13, 14]);
    sequencer.accept(message('r', 12));
    sequencer.accept(message('r', 15));
    assert.deepEqual(seqs(), [11, 'resync 12', 13, 14, 15], 'the late 12 is not delivered out of order');
    sequencer.close();
  });

  it('declares the gap at once when more than reorderMaxMessages are held', async () => {
    const { sequencer, seqs } = setup(new Map([[1, 0]]), { maxHeld: 3 });
    await sequencer.watch('r', 1);
    for (const seq of [2, 3, 4, 5]) sequencer.accept(message('r', seq));
    assert.deepEqual(seqs(), ['resync 1', 2, 3, 4, 5]);
    sequencer.close();
  });

  it('on recheck, resyncs a room whose stored tail is past what it delivered, and only that room', async () => {
    const tails = new Map([
      [1, 5],
      [2, 7],
    ]);
    const { sequencer, seqs } = setup(tails);
    await sequencer.watch('a', 1);
    await sequencer.watch('b', 2);
    // Room 1 got messages 6..8 stored while this node heard nothing (Redis was down).
    tails.set(1, 8);
    await sequencer.recheck();
    assert.deepEqual(seqs(), ['resync 6']);
    // Copies of 6..8 arriving now are not delivered; 9 is.
    for (const seq of [7, 9]) sequencer.accept(message('a', seq));
    assert.deepEqual(seqs(), ['resync 6', 9]);
    sequencer.close();
  });

  it('keeps no state for rooms nobody here follows', async () => {
    const { sequencer, seqs } = setup(new Map());
    await sequencer.watch('r', 1);
    sequencer.forget('r');
    sequencer.accept(message('r', 1));
    sequencer.accept(message('other', 1));
    assert.deepEqual(seqs(), []);
    assert.equal(sequencer.size, 0);
  });
});
