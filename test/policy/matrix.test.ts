/**
 * The authorization matrix (contract section 4 table, issue 4 item 7): every action against a
 * room or message, by every kind of actor, through real clients, with the contract's answer in
 * each cell. Each cell gets a fresh room (private unless stated), owned by `owner`, with
 * `member` and `author` joined (the author has written one message), `invited` invited but not
 * joined, `victim` joined (the kick target), `admin` holding the admin role and no membership,
 * and `stranger` with nothing. Allowed cells also check the effect; refused cells check that
 * nothing happened.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { loose, outcome, uniq } from '../frames/support.js';

const ACTORS = ['stranger', 'member', 'invited', 'owner', 'admin', 'author'] as const;
type Actor = (typeof ACTORS)[number];

const ACTIONS = [
  'room.join (public)',
  'room.join (private)',
  'room.leave',
  'room.invite',
  'room.kick',
  'room.delete',
  'chat.send',
  'chat.history',
  'chat.delete',
  'admin.broadcast',
] as const;
type Action = (typeof ACTIONS)[number];

type Answer = 'ack' | 'FORBIDDEN' | 'NOT_A_MEMBER' | 'NOT_FOUND';

/**
 * The contract's answer for each cell. A stranger to a private room gets NOT_FOUND for every
 * action, exactly as for a missing room (no existence oracle; docs/protocol.md "Private rooms").
 */
const MATRIX: Record<Action, Record<Actor, Answer>> = {
  'room.join (public)': { stranger: 'ack', member: 'ack', invited: 'ack', owner: 'ack', admin: 'ack', author: 'ack' },
  'room.join (private)': { stranger: 'NOT_FOUND', member: 'ack', invited: 'ack', owner: 'ack', admin: 'ack', author: 'ack' },
  'room.leave': { stranger: 'NOT_FOUND', member: 'ack', invited: 'NOT_A_MEMBER', owner: 'ack', admin: 'NOT_A_MEMBER', author: 'ack' },
  'room.invite': { stranger: 'NOT_FOUND', member: 'FORBIDDEN', invited: 'FORBIDDEN', owner: 'ack', admin: 'ack', author: 'FORBIDDEN' },
  'room.kick': { stranger: 'NOT_FOUND', member: 'FORBIDDEN', invited: 'FORBIDDEN', owner: 'ack', admin: 'ack', author: 'FORBIDDEN' },
  'room.delete': { stranger: 'NOT_FOUND', member: 'FORBIDDEN', invited: 'FORBIDDEN', owner: 'ack', admin: 'ack', author: 'FORBIDDEN' },
  'chat.send': { stranger: 'NOT_FOUND', member: 'ack', invited: 'NOT_A_MEMBER', owner: 'ack', admin: 'NOT_A_MEMBER', author: 'ack' },
  'chat.history': { stranger: 'NOT_FOUND', member: 'ack', invited: 'NOT_A_MEMBER', owner: 'ack', admin: 'NOT_A_MEMBER', author: 'ack' },
  'chat.delete': { stranger: 'NOT_FOUND', member: 'FORBIDDEN', invited: 'FORBIDDEN', owner: 'ack', admin: 'ack', author: 'ack' },
  'admin.broadcast': { stranger: 'FORBIDDEN', member: 'FORBIDDEN', invited: 'FORBIDDEN', owner: 'FORBIDDEN', admin: 'ack', author: 'FORBIDDEN' },
};

interface Cell {
  room: string;
  /** The author's message in the room. */
  message: string;
}

describe('authorization matrix: every action x every actor', () => {
  let server: TestServer;
  const c = {} as Record<Actor | 'victim', TestClient>;
  const ids = {} as Record<Actor | 'victim', string>;

  before(async () => {
    server = await startServer({ config: loose() });
    for (const who of [...ACTORS, 'victim'] as const) {
      ids[who] = uniq(`pm-${who}`);
      c[who] = await connect(server, ids[who], { name: who, roles: who === 'admin' ? ['admin'] : [] });
    }
  });
  after(() => server.stop());

  async function fixture(visibility: 'public' | 'private'): Promise<Cell> {
    const room = uniq('pm-room');
    await c.owner.ok({ type: 'room.create', room, visibility });
    await c.owner.ok({ type: 'room.join', room });
    for (const who of ['member', 'author', 'victim', 'invited'] as const) await c.owner.ok({ type: 'room.invite', room, user: ids[who] });
    for (const who of ['member', 'author', 'victim'] as const) await c[who].ok({ type: 'room.join', room });
    const sent = await c.author.ok({ type: 'chat.send', room, text: `hello from the author of ${room}` });
    for (const who of ['owner', 'member', 'author', 'victim'] as const) await c[who].waitFor((f) => f.type === 'chat.message' && f.room === room);
    return { room, message: (sent.message as { id: string }).id };
  }

  async function historyIds(room: string): Promise<Array<{ id: string; deleted?: boolean }>> {
    return (await c.owner.ok({ type: 'chat.history', room })).messages as Array<{ id: string; deleted?: boolean }>;
  }

  /** Runs one cell and checks its effect (or the absence of one). */
  const RUN: Record<Action, (actor: Actor, cell: Cell, expected: Answer) => Promise<void>> = {
    'room.join (public)': async (actor, { room }, expected) => {
      const reply = await c[actor].request({ type: 'room.join', room });
      assert.equal(outcome(reply), expected);
      if (expected === 'ack') assert.ok(Array.isArray(reply.history) && reply.history.length === 1, 'the ack carries the history');
    },
    'room.join (private)': async (actor, { room }, expected) => {
      const reply = await c[actor].request({ type: 'room.join', room });
      assert.equal(outcome(reply), expected);
      if (expected === 'ack') assert.equal((reply.history as unknown[]).length, 1);
      else assert.equal(reply.history, undefined, 'a refusal leaks no history');
    },
    'room.leave': async (actor, { room }, expected) => {
      assert.equal(outcome(await c[actor].request({ type: 'room.leave', room })), expected);
      // Out of a private room is out of sight (the owner stays able to see it).
      if (expected === 'ack') assert.equal(outcome(await c[actor].request({ type: 'chat.send', room, text: 'after leaving' })), actor === 'owner' ? 'NOT_A_MEMBER' : 'NOT_FOUND');
    },
    'room.invite': async (actor, { room }, expected) => {
      const guest = uniq('pm-guest');
      assert.equal(outcome(await c[actor].request({ type: 'room.invite', room, user: guest })), expected);
      const g = await connect(server, guest);
      assert.equal(outcome(await g.request({ type: 'room.join', room })), expected === 'ack' ? 'ack' : 'NOT_FOUND', 'the invitation took effect only when allowed');
      g.close();
    },
    'room.kick': async (actor, { room }, expected) => {
      assert.equal(outcome(await c[actor].request({ type: 'room.kick', room, user: ids.victim })), expected);
      if (expected === 'ack') {
        assert.equal((await c.victim.waitFor((f) => f.type === 'room.removed' && f.room === room)).room, room);
        assert.equal(outcome(await c.victim.request({ type: 'chat.send', room, text: 'still here?' })), 'NOT_FOUND');
      } else {
        assert.equal(outcome(await c.victim.request({ type: 'chat.send', room, text: 'still here' })), 'ack');
      }
    },
    'room.delete': async (actor, { room }, expected) => {
      assert.equal(outcome(await c[actor].request({ type: 'room.delete', room })), expected);
      if (expected === 'ack') {
        await c.member.waitFor((f) => f.type === 'room.deleted' && f.room === room);
        assert.equal(outcome(await c.member.request({ type: 'chat.history', room })), 'NOT_FOUND');
      } else {
        assert.equal(outcome(await c.member.request({ type: 'chat.history', room })), 'ack', 'the room still exists');
      }
    },
    'chat.send': async (actor, { room }, expected) => {
      const reply = await c[actor].request({ type: 'chat.send', room, text: `from ${actor}` });
      assert.equal(outcome(reply), expected);
      const id = (reply.message as { id?: string } | undefined)?.id;
      if (expected === 'ack') await c.member.waitFor((f) => f.type === 'chat.message' && (f.message as { id: string }).id === id);
      else assert.ok(await c.member.quiet((f) => f.type === 'chat.message' && f.room === room, 100), 'nothing delivered');
      assert.equal((await historyIds(room)).length, expected === 'ack' ? 2 : 1);
    },
    'chat.history': async (actor, { room, message }, expected) => {
      const reply = await c[actor].request({ type: 'chat.history', room });
      assert.equal(outcome(reply), expected);
      if (expected === 'ack')
        assert.deepEqual(
          (reply.messages as Array<{ id: string }>).map((m) => m.id),
          [message],
        );
      else assert.equal(reply.messages, undefined, 'a refusal leaks no messages');
    },
    'chat.delete': async (actor, { room, message }, expected) => {
      assert.equal(outcome(await c[actor].request({ type: 'chat.delete', room, message })), expected);
      const [m] = await historyIds(room);
      if (expected === 'ack') {
        await c.member.waitFor((f) => f.type === 'chat.deleted' && f.message === message);
        assert.equal(m!.deleted, true);
      } else {
        assert.equal(m!.deleted, undefined, 'the message is intact');
      }
    },
    'admin.broadcast': async (actor, _cell, expected) => {
      const text = `announcement by ${actor} ${uniq('b')}`;
      assert.equal(outcome(await c[actor].request({ type: 'admin.broadcast', text })), expected);
      if (expected === 'ack') assert.equal((await c.stranger.waitFor((f) => f.type === 'announcement' && f.text === text)).text, text);
      else assert.ok(await c.stranger.quiet((f) => f.type === 'announcement' && f.text === text, 100));
    },
  };

  it('has a contract answer for every cell', () => {
    for (const action of ACTIONS) assert.deepEqual(Object.keys(MATRIX[action]).sort(), [...ACTORS].sort(), action);
  });

  for (const action of ACTIONS) {
    for (const actor of ACTORS) {
      const expected = MATRIX[action][actor];
      it(`${action} by ${actor} -> ${expected}`, async () => {
        const cell = await fixture(action === 'room.join (public)' ? 'public' : 'private');
        await RUN[action](actor, cell, expected);
      });
    }
  }
});
