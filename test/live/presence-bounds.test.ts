/**
 * The presence list is bounded (docs/protocol.md "`presence`"): a room with more present users than
 * MAX_LISTED answers MAX_LISTED of them, so one `presence` frame (or API call) never costs more.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryBus } from '../../src/bus/memory-bus.js';
import { MAX_LISTED, RoomPresenceTracker } from '../../src/presence/room-presence.js';

describe('room presence bounds', () => {
  it(`lists at most ${MAX_LISTED} users of a crowded room, and every user of a small one`, async () => {
    const tracker = new RoomPresenceTracker({ bus: new MemoryBus() });
    try {
      for (let i = 0; i < MAX_LISTED + 25; i++) tracker.peerJoined('crowded', { userId: `u${i}`, userName: `User ${i}` });
      tracker.peerJoined('small', { userId: 'ana', userName: 'Ana' });
      const crowded = await tracker.members('crowded');
      assert.equal(crowded.length, MAX_LISTED);
      assert.equal(new Set(crowded.map((m) => m.id)).size, MAX_LISTED, 'no user listed twice');
      assert.deepEqual(await tracker.members('small'), [{ id: 'ana', name: 'Ana' }]);
    } finally {
      await tracker.close();
    }
  });
});
