/**
 * Private rooms answer outsiders exactly as missing rooms (issue 14, docs/protocol.md "Private
 * rooms"): for every frame that names a room, the reply to a stranger about an existing private
 * room is byte-for-byte the reply about a room that does not exist, so room names cannot be
 * probed. Members, invitees, owners and admins keep their answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { LOOSE_LIMITS } from './fixtures.js';

/** A reply without its id, for comparing two replies. */
function shape(reply: Frame): string {
  const { id: _id, ...rest } = reply;
  return JSON.stringify(rest);
}

describe('private-room oracle', () => {
  let server: TestServer;
  let owner: TestClient;
  let stranger: TestClient;
  let message: string;
  before(async () => {
    server = await startServer({ config: LOOSE_LIMITS });
    owner = await connect(server, 'vault-owner');
    stranger = await connect(server, 'prober');
    await owner.ok({ type: 'room.create', room: 'vault', visibility: 'private' });
    await owner.ok({ type: 'room.join', room: 'vault' });
    message = ((await owner.ok({ type: 'chat.send', room: 'vault', text: 'inside' })).message as { id: string }).id;
  });
  after(async () => {
    owner.close();
    stranger.close();
    await server.stop();
  });

  const frames = (room: string): Array<Record<string, unknown>> => [
    { type: 'room.join', room },
    { type: 'room.join', room, since: 0 },
    { type: 'room.leave', room },
    { type: 'room.invite', room, user: 'prober' },
    { type: 'room.kick', room, user: 'vault-owner' },
    { type: 'room.delete', room },
    { type: 'chat.send', room, text: 'knock knock' },
    { type: 'chat.history', room },
    { type: 'chat.delete', room, message },
  ];

  it('answers every frame about an existing private room as about a missing one', async () => {
    const hidden = frames('vault');
    const missing = frames('no-such-vault');
    for (let i = 0; i < hidden.length; i++) {
      const a = await stranger.request(hidden[i]!);
      const b = await stranger.request(missing[i]!);
      assert.equal(a.code, 'NOT_FOUND', `${String(hidden[i]!.type)}: ${JSON.stringify(a)}`);
      assert.equal(shape(a), shape(b), String(hidden[i]!.type));
    }
    const list = await stranger.ok({ type: 'room.list', filter: 'vault' });
    assert.deepEqual(list.rooms, []);
  });

  it('changed nothing: the room, its owner, its message and its membership are intact', async () => {
    const history = await owner.ok({ type: 'chat.history', room: 'vault' });
    assert.deepEqual(
      (history.messages as Array<{ text: string }>).map((m) => m.text),
      ['inside'],
    );
  });

  it('tells an invitee the room exists: it may join', async () => {
    await owner.ok({ type: 'room.invite', room: 'vault', user: 'prober' });
    assert.equal((await stranger.request({ type: 'chat.send', room: 'vault', text: 'early' })).code, 'NOT_A_MEMBER');
    assert.equal((await stranger.request({ type: 'room.join', room: 'vault' })).type, 'ack');
  });
});
