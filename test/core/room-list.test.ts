/**
 * Room-list flooding (issue 14): one user cannot push real rooms out of everyone's `room.list`.
 * `limits.maxRoomsPerUser` bounds the rooms one user owns (admins exempt), and `room.list` pages
 * with a cursor (`after` / `next`) and filters by name, so every room stays reachable.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY } from '../handshake/support.js';
import type { WireRoom } from './fixtures.js';

const LOOSE = { points: 100_000, durationMs: 10_000 };

describe('room-list flooding', () => {
  let server: TestServer;
  let flooder: TestClient;
  let reader: TestClient;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, limits: { ...ROOMY.limits, maxRoomsPerUser: 5 }, rateLimits: { ...ROOMY.rateLimits, 'room.create': LOOSE } } });
    recorder = new EventRecorder(server);
    flooder = await connect(server, 'flooder');
    reader = await connect(server, 'reader');
  });
  after(async () => {
    flooder.close();
    reader.close();
    await server.stop();
  });

  it('refuses a user past limits.maxRoomsPerUser rooms with FORBIDDEN and a forbidden_action event', async () => {
    for (let i = 0; i < 5; i++) await flooder.ok({ type: 'room.create', room: `aaa-spam-${i}`, visibility: 'public' });
    const mark = recorder.mark();
    const refused = await flooder.request({ type: 'room.create', room: 'aaa-spam-5', visibility: 'public' });
    assert.equal(refused.code, 'FORBIDDEN');
    assert.match(String(refused.message), /5 rooms/);
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.detail?.action]),
      [['forbidden_action', 'room.create']],
    );
    // Deleting one frees a place; private rooms count too.
    await flooder.ok({ type: 'room.delete', room: 'aaa-spam-0' });
    await flooder.ok({ type: 'room.create', room: 'aaa-spam-private', visibility: 'private' });
    assert.equal((await flooder.request({ type: 'room.create', room: 'aaa-spam-6', visibility: 'private' })).code, 'FORBIDDEN');
  });

  it('does not hold admins to the limit', async () => {
    const admin = await connect(server, 'root', { roles: ['admin'] });
    for (let i = 0; i < 7; i++) await admin.ok({ type: 'room.create', room: `zz-admin-${i}`, visibility: 'public' });
    admin.close();
  });

  it('pages the list with a cursor: every room once, in name order, then no next', async () => {
    const owner = await connect(server, 'real-owner');
    await owner.ok({ type: 'room.create', room: 'real-lobby', visibility: 'public' });
    const seen: string[] = [];
    let after: string | undefined;
    for (let page = 0; page < 20; page++) {
      const reply = await reader.ok({ type: 'room.list', limit: 3, ...(after ? { after } : {}) });
      const rooms = reply.rooms as WireRoom[];
      assert.ok(rooms.length <= 3);
      seen.push(...rooms.map((r) => r.name));
      after = reply.next as string | undefined;
      if (!after) break;
      assert.equal(after, rooms[rooms.length - 1]!.name);
    }
    assert.equal(after, undefined, 'the last page has no next');
    assert.deepEqual(seen, [...seen].sort(), 'name order');
    assert.equal(new Set(seen).size, seen.length, 'no room twice');
    assert.ok(seen.includes('real-lobby'));
    assert.ok(!seen.includes('aaa-spam-private'), "others' private rooms are not listed");
    owner.close();
  });

  it('finds a room by name whatever floods the list, case-insensitively', async () => {
    const found = await reader.ok({ type: 'room.list', filter: 'LOBBY' });
    assert.deepEqual(
      (found.rooms as WireRoom[]).map((r) => r.name),
      ['real-lobby'],
    );
    assert.equal(found.next, undefined);
  });

  it('keeps the old form working: room.list without fields returns the first page', async () => {
    const reply = await reader.ok({ type: 'room.list' });
    assert.ok((reply.rooms as WireRoom[]).some((r) => r.name === 'real-lobby'));
  });

  it('refuses a bad cursor, filter or limit with INVALID_PAYLOAD', async () => {
    for (const fields of [{ after: '../x' }, { filter: '%' }, { filter: '' }, { limit: 0 }, { limit: 201 }]) {
      assert.equal((await reader.request({ type: 'room.list', ...fields })).code, 'INVALID_PAYLOAD', JSON.stringify(fields));
    }
  });
});
