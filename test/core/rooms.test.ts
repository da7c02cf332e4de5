/**
 * Room lifecycle (contract section 4): create, join, leave, invite, kick, delete, list, and the
 * server frames they cause (`room.removed`, `room.deleted`). Authorization denials are in
 * authorization.test.ts; this file checks what each operation does when it is allowed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join as joinPath } from 'node:path';
import Database from 'better-sqlite3';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { LOOSE_LIMITS, messagesOf, outcome, type WireRoom } from './fixtures.js';

describe('rooms', () => {
  let server: TestServer;
  let olga: TestClient;
  let max: TestClient;
  let n = 0;
  const fresh = (): string => `room-${++n}`;

  before(async () => {
    server = await startServer({ config: LOOSE_LIMITS });
    olga = await connect(server, 'olga', { name: 'Olga' });
    max = await connect(server, 'max', { name: 'Max' });
  });
  after(() => server.stop());

  it('room.create acks {id, room: {name, owner, visibility, createdAt}}', async () => {
    const name = fresh();
    const before = Date.now();
    const ack = await olga.ok({ type: 'room.create', id: 'create-1', room: name, visibility: 'private' });
    assert.equal(ack.id, 'create-1');
    const room = ack.room as WireRoom;
    assert.deepEqual(Object.keys(room).sort(), ['createdAt', 'name', 'owner', 'visibility']);
    assert.equal(room.name, name);
    assert.equal(room.owner, 'olga');
    assert.equal(room.visibility, 'private');
    assert.ok(room.createdAt >= before - 1000 && room.createdAt <= Date.now() + 1000);
  });

  it('makes the creator a member: history works before any join', async () => {
    const name = fresh();
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    const history = await olga.request({ type: 'chat.history', room: name });
    assert.equal(outcome(history), 'ack');
    assert.deepEqual(history.messages, []);
    assert.equal(history.hasMore, false);
  });

  it('room.join acks {id, room, history, hasMore} and subscribes the connection', async () => {
    const name = fresh();
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    const join = await max.ok({ type: 'room.join', id: 'join-1', room: name });
    assert.equal(join.id, 'join-1');
    assert.ok(join.room !== undefined);
    assert.deepEqual(join.history, []);
    assert.equal(join.hasMore, false);
    await olga.ok({ type: 'chat.send', room: name, text: 'welcome, max' });
    const delivered = await max.waitFor((f) => f.type === 'chat.message' && f.room === name);
    assert.equal((delivered.message as { text: string }).text, 'welcome, max');
  });

  it('joining twice is harmless: each message is still delivered once', async () => {
    const name = fresh();
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    await max.ok({ type: 'room.join', room: name });
    await max.ok({ type: 'room.join', room: name });
    await olga.ok({ type: 'chat.send', room: name, text: 'once' });
    await max.waitFor((f) => f.type === 'chat.message' && f.room === name);
    assert.equal(await max.quiet((f) => f.type === 'chat.message' && f.room === name), true);
  });

  it('room.leave acks and stops delivery to the leaver while the others still get messages', async () => {
    const name = fresh();
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    await olga.ok({ type: 'room.join', room: name });
    await max.ok({ type: 'room.join', room: name });
    const ack = await max.ok({ type: 'room.leave', id: 'leave-1', room: name });
    assert.equal(ack.id, 'leave-1');
    await olga.ok({ type: 'chat.send', room: name, text: 'after max left' });
    await olga.waitFor((f) => f.type === 'chat.message' && f.room === name);
    assert.equal(await max.quiet((f) => f.type === 'chat.message' && f.room === name), true);
    assert.equal(outcome(await max.request({ type: 'room.leave', room: name })), 'NOT_A_MEMBER', 'leaving twice');
  });

  it('room.invite acks and leaves an existing member a member', async () => {
    const name = fresh();
    await olga.ok({ type: 'room.create', room: name, visibility: 'private' });
    await olga.ok({ type: 'room.invite', room: name, user: 'max' });
    await max.ok({ type: 'room.join', room: name });
    const again = await olga.ok({ type: 'room.invite', id: 'invite-2', room: name, user: 'max' });
    assert.equal(again.id, 'invite-2');
    assert.equal(outcome(await max.request({ type: 'chat.send', room: name, text: 'still a member' })), 'ack');
    // Membership is stored, not just remembered by the joined connection: a new one reads history unjoined.
    const maxTwo = await connect(server, 'max', { name: 'Max' });
    assert.equal(outcome(await maxTwo.request({ type: 'chat.history', room: name })), 'ack');
    maxTwo.close();
  });

  it('room.kick sends room.removed {room} to every connection of the user and stops their delivery', async () => {
    const name = fresh();
    const maxTwo = await connect(server, 'max', { name: 'Max' });
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    await olga.ok({ type: 'room.join', room: name });
    await max.ok({ type: 'room.join', room: name });
    await maxTwo.ok({ type: 'room.join', room: name });
    await olga.ok({ type: 'room.kick', room: name, user: 'max' });
    for (const conn of [max, maxTwo]) {
      const removed = await conn.waitFor((f) => f.type === 'room.removed');
      assert.deepEqual(removed, { type: 'room.removed', room: name });
    }
    await olga.ok({ type: 'chat.send', room: name, text: 'max is gone' });
    await olga.waitFor((f) => f.type === 'chat.message' && f.room === name);
    assert.equal(await max.quiet((f) => f.type === 'chat.message' && f.room === name), true);
    assert.equal(await maxTwo.quiet((f) => f.type === 'chat.message' && f.room === name, 50), true);
    maxTwo.close();
  });

  it('room.delete sends room.deleted {room} to the members, removes the history and frees the name', async () => {
    const name = fresh();
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    await olga.ok({ type: 'room.join', room: name });
    await max.ok({ type: 'room.join', room: name });
    for (let i = 0; i < 3; i++) await max.ok({ type: 'chat.send', room: name, text: `old ${i}` });
    const roomId = (await server.bulwark.store.getRoom(name))!.id;
    await olga.ok({ type: 'room.delete', room: name });
    const deleted = await max.waitFor((f) => f.type === 'room.deleted');
    // "history removed" means gone from the database, not merely unreachable.
    const db = new Database(joinPath(server.dataDir, 'bulwark.db'), { readonly: true });
    try {
      assert.equal((db.prepare('SELECT COUNT(*) AS n FROM messages WHERE room_id = ?').get(roomId) as { n: number }).n, 0);
    } finally {
      db.close();
    }
    assert.deepEqual(deleted, { type: 'room.deleted', room: name });
    assert.equal(outcome(await max.request({ type: 'chat.send', room: name, text: 'hello?' })), 'NOT_FOUND');
    assert.equal(outcome(await max.request({ type: 'room.join', room: name })), 'NOT_FOUND');
    assert.equal(outcome(await max.request({ type: 'chat.history', room: name })), 'NOT_FOUND');
    // The name can be taken again, by someone else, and starts empty at seq 1.
    await max.ok({ type: 'room.create', room: name, visibility: 'public' });
    const join = await max.ok({ type: 'room.join', room: name });
    assert.deepEqual(messagesOf(join, 'history'), []);
    const ack = await max.ok({ type: 'chat.send', room: name, text: 'fresh start' });
    assert.equal((ack.message as { seq: number }).seq, 1);
    assert.equal(await olga.quiet((f) => f.type === 'chat.message' && (f.message as { text: string }).text === 'fresh start'), true, 'the old subscription is gone');
    assert.equal(await max.quiet((f) => f.type === 'chat.message' && (f.message as { text: string }).text === 'fresh start', 50), false, 'the new one works');
  });

  it('room.list acks {id, rooms: [{name, owner, visibility, createdAt}]}', async () => {
    const name = fresh();
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    const ack = await max.ok({ type: 'room.list', id: 'list-1' });
    assert.equal(ack.id, 'list-1');
    const rooms = ack.rooms as WireRoom[];
    const room = rooms.find((r) => r.name === name);
    assert.ok(room);
    assert.deepEqual(Object.keys(room).sort(), ['createdAt', 'name', 'owner', 'visibility']);
    assert.equal(room.owner, 'olga');
    assert.equal(new Set(rooms.map((r) => r.name)).size, rooms.length, 'no room listed twice');
  });

  it('answers NOT_FOUND for every room operation on a room that does not exist', async () => {
    const frames = [
      { type: 'room.join', room: 'ghost' },
      { type: 'room.leave', room: 'ghost' },
      { type: 'room.invite', room: 'ghost', user: 'max' },
      { type: 'room.kick', room: 'ghost', user: 'max' },
      { type: 'room.delete', room: 'ghost' },
      { type: 'chat.send', room: 'ghost', text: 'boo' },
      { type: 'chat.history', room: 'ghost' },
      { type: 'chat.delete', room: 'ghost', message: 'm1' },
    ];
    for (const frame of frames) assert.equal(outcome(await olga.request(frame)), 'NOT_FOUND', frame.type);
  });
});
