/**
 * Every authorization rule of the contract's frame table (section 4), each denial next to the
 * matching permission so a test fails both when a check is removed and when it over-blocks:
 *
 * | frame           | allowed                         | denied                                   |
 * | room.create     | anyone, new name                | existing name -> CONFLICT                |
 * | room.join       | public; private when invited,   | private, not invited -> NOT_FOUND (as a  |
 * |                 | owner, admin                    | missing room); kicked from public: FORBIDDEN |
 * | room.invite     | owner or admin                  | member -> FORBIDDEN; outsider of a       |
 * |                 |                                 | private room -> NOT_FOUND                |
 * | room.kick       | owner or admin                  | member, outsider -> FORBIDDEN            |
 * | room.delete     | owner or admin                  | member, outsider -> FORBIDDEN            |
 * | room.list       | public + caller's private       | others' private rooms are not listed     |
 * | chat.send       | members                         | not a member -> NOT_A_MEMBER (private    |
 * |                 |                                 | room, outsider: NOT_FOUND)               |
 * | chat.history    | members only                    | not a member -> NOT_A_MEMBER (idem)      |
 * | chat.delete     | author, room owner or admin     | other member, outsider -> FORBIDDEN      |
 * | admin.broadcast | admin only                      | anyone else -> FORBIDDEN                 |
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { LOOSE_LIMITS, outcome, type WireRoom } from './fixtures.js';

describe('authorization (contract section 4 table)', () => {
  let server: TestServer;
  /** Owner of every room made by `room()`. */
  let olga: TestClient;
  /** Plain member of every room made by `room()`. */
  let max: TestClient;
  /** Never joins anything. */
  let otto: TestClient;
  /** Holds the admin role, owns nothing. */
  let ada: TestClient;
  let n = 0;

  before(async () => {
    server = await startServer({ config: LOOSE_LIMITS });
    [olga, max, otto, ada] = await Promise.all([
      connect(server, 'olga', { name: 'Olga' }),
      connect(server, 'max', { name: 'Max' }),
      connect(server, 'otto', { name: 'Otto' }),
      connect(server, 'ada', { name: 'Ada', roles: ['admin'] }),
    ]);
  });
  after(() => server.stop());

  /** A fresh room owned by olga with max as a member (invited first when private). */
  async function room(visibility: 'public' | 'private' = 'public'): Promise<string> {
    const name = `authz-${visibility}-${++n}`;
    await olga.ok({ type: 'room.create', room: name, visibility });
    await olga.ok({ type: 'room.join', room: name });
    if (visibility === 'private') await olga.ok({ type: 'room.invite', room: name, user: 'max' });
    await max.ok({ type: 'room.join', room: name });
    return name;
  }

  async function send(client: TestClient, name: string, text: string): Promise<string> {
    const ack = await client.ok({ type: 'chat.send', room: name, text });
    return (ack.message as { id: string }).id;
  }

  describe('room.create', () => {
    it('refuses an existing name with CONFLICT, whoever asks, and keeps the first owner', async () => {
      const name = await room();
      for (const client of [olga, max, ada]) {
        const reply = await client.request({ type: 'room.create', room: name, visibility: 'private' });
        assert.equal(outcome(reply), 'CONFLICT');
      }
      const listed = (await otto.ok({ type: 'room.list' })).rooms as WireRoom[];
      const found = listed.find((r) => r.name === name);
      assert.equal(found?.owner, 'olga');
      assert.equal(found?.visibility, 'public');
    });
  });

  describe('room.join', () => {
    it('refuses a private room to a user who was not invited with NOT_FOUND, exactly as a missing room', async () => {
      const name = await room('private');
      const hidden = await otto.request({ type: 'room.join', room: name });
      const missing = await otto.request({ type: 'room.join', room: `${name}-missing` });
      assert.equal(outcome(hidden), 'NOT_FOUND');
      assert.equal(hidden.message, missing.message);
      assert.equal(outcome(await olga.request({ type: 'room.invite', room: name, user: 'otto' })), 'ack');
      assert.equal(outcome(await otto.request({ type: 'room.join', room: name })), 'ack', 'the invitation opens the door');
    });

    it('lets an admin join a private room uninvited', async () => {
      const name = await room('private');
      assert.equal(outcome(await ada.request({ type: 'room.join', room: name })), 'ack');
    });

    it('lets anyone join a public room', async () => {
      const name = await room('public');
      assert.equal(outcome(await otto.request({ type: 'room.join', room: name })), 'ack');
    });

    it('keeps a kicked user out of a public room until invited again', async () => {
      const name = await room('public');
      await olga.ok({ type: 'room.kick', room: name, user: 'max' });
      assert.equal(outcome(await max.request({ type: 'room.join', room: name })), 'FORBIDDEN');
      await olga.ok({ type: 'room.invite', room: name, user: 'max' });
      assert.equal(outcome(await max.request({ type: 'room.join', room: name })), 'ack');
    });

    it('requires a new invitation to come back to a private room after leaving it', async () => {
      const name = await room('private');
      await max.ok({ type: 'room.leave', room: name });
      assert.equal(outcome(await max.request({ type: 'room.join', room: name })), 'NOT_FOUND');
    });
  });

  describe('room.invite', () => {
    it('refuses a plain member with FORBIDDEN and an outsider of the private room with NOT_FOUND', async () => {
      const name = await room('private');
      assert.equal(outcome(await max.request({ type: 'room.invite', room: name, user: 'otto' })), 'FORBIDDEN');
      assert.equal(outcome(await otto.request({ type: 'room.invite', room: name, user: 'otto' })), 'NOT_FOUND');
      assert.equal(outcome(await otto.request({ type: 'room.join', room: name })), 'NOT_FOUND', 'the refused invitations did not take effect');
    });

    it('lets the owner and an admin invite', async () => {
      const name = await room('private');
      assert.equal(outcome(await olga.request({ type: 'room.invite', room: name, user: 'otto' })), 'ack');
      assert.equal(outcome(await ada.request({ type: 'room.invite', room: name, user: 'newcomer' })), 'ack');
      assert.equal(outcome(await otto.request({ type: 'room.join', room: name })), 'ack');
      const newcomer = await connect(server, 'newcomer');
      assert.equal(outcome(await newcomer.request({ type: 'room.join', room: name })), 'ack');
      newcomer.close();
    });
  });

  describe('room.kick', () => {
    it('refuses a plain member and an outsider with FORBIDDEN and leaves the target in the room', async () => {
      const name = await room();
      await otto.ok({ type: 'room.join', room: name });
      assert.equal(outcome(await max.request({ type: 'room.kick', room: name, user: 'otto' })), 'FORBIDDEN');
      assert.equal(outcome(await otto.request({ type: 'room.kick', room: name, user: 'max' })), 'FORBIDDEN');
      assert.equal(await max.quiet((f) => f.type === 'room.removed' && f.room === name), true);
      assert.equal(outcome(await max.request({ type: 'chat.send', room: name, text: 'still here' })), 'ack');
    });

    it('never kicks the owner, not even for an admin', async () => {
      const name = await room();
      assert.equal(outcome(await ada.request({ type: 'room.kick', room: name, user: 'olga' })), 'FORBIDDEN');
      assert.equal(outcome(await olga.request({ type: 'chat.send', room: name, text: 'mine' })), 'ack');
    });

    it('lets the owner and an admin kick', async () => {
      const name = await room();
      await otto.ok({ type: 'room.join', room: name });
      assert.equal(outcome(await olga.request({ type: 'room.kick', room: name, user: 'max' })), 'ack');
      assert.equal(outcome(await ada.request({ type: 'room.kick', room: name, user: 'otto' })), 'ack');
      await max.waitFor((f) => f.type === 'room.removed' && f.room === name);
      await otto.waitFor((f) => f.type === 'room.removed' && f.room === name);
    });
  });

  describe('room.delete', () => {
    it('refuses a plain member and an outsider with FORBIDDEN and keeps the room and its history', async () => {
      const name = await room();
      await send(olga, name, 'keep me');
      assert.equal(outcome(await max.request({ type: 'room.delete', room: name })), 'FORBIDDEN');
      assert.equal(outcome(await otto.request({ type: 'room.delete', room: name })), 'FORBIDDEN');
      const history = await max.ok({ type: 'chat.history', room: name });
      assert.equal((history.messages as unknown[]).length, 1);
    });

    it('lets the owner and an admin delete', async () => {
      const mine = await room();
      const theirs = await room();
      assert.equal(outcome(await olga.request({ type: 'room.delete', room: mine })), 'ack');
      assert.equal(outcome(await ada.request({ type: 'room.delete', room: theirs })), 'ack');
    });
  });

  describe('room.list', () => {
    it("lists public rooms and the caller's private rooms only", async () => {
      const pub = await room('public');
      const priv = await room('private');
      const names = async (c: TestClient): Promise<string[]> => ((await c.ok({ type: 'room.list' })).rooms as WireRoom[]).map((r) => r.name);
      assert.ok((await names(otto)).includes(pub));
      assert.ok(!(await names(otto)).includes(priv), 'an outsider does not see a private room');
      assert.ok((await names(max)).includes(priv), 'a member sees it');
      assert.ok((await names(olga)).includes(priv), 'the owner sees it');
      await olga.ok({ type: 'room.invite', room: priv, user: 'otto' });
      assert.ok((await names(otto)).includes(priv), 'an invitee sees it before joining');
    });
  });

  describe('chat.send', () => {
    it('refuses a user who has not joined with NOT_A_MEMBER in a public room, and with NOT_FOUND in a private one', async () => {
      assert.equal(outcome(await otto.request({ type: 'chat.send', room: await room('public'), text: 'let me in' })), 'NOT_A_MEMBER');
      assert.equal(outcome(await otto.request({ type: 'chat.send', room: await room('private'), text: 'let me in' })), 'NOT_FOUND');
    });

    it('refuses an invited user who has not joined yet', async () => {
      const name = await room('private');
      await olga.ok({ type: 'room.invite', room: name, user: 'otto' });
      assert.equal(outcome(await otto.request({ type: 'chat.send', room: name, text: 'early' })), 'NOT_A_MEMBER');
    });

    it('refuses a kicked user and a user who left', async () => {
      const name = await room();
      await otto.ok({ type: 'room.join', room: name });
      await olga.ok({ type: 'room.kick', room: name, user: 'otto' });
      await otto.waitFor((f) => f.type === 'room.removed' && f.room === name);
      assert.equal(outcome(await otto.request({ type: 'chat.send', room: name, text: 'back door' })), 'NOT_A_MEMBER');
      await max.ok({ type: 'room.leave', room: name });
      assert.equal(outcome(await max.request({ type: 'chat.send', room: name, text: 'gone' })), 'NOT_A_MEMBER');
    });
  });

  describe('chat.history', () => {
    it('is for members only: NOT_A_MEMBER for an outsider of a public room and an invitee who has not joined; NOT_FOUND for a user kicked from a private room', async () => {
      const pub = await room('public');
      await send(olga, pub, 'secret-ish');
      assert.equal(outcome(await otto.request({ type: 'chat.history', room: pub })), 'NOT_A_MEMBER');
      const priv = await room('private');
      await send(olga, priv, 'secret');
      await olga.ok({ type: 'room.invite', room: priv, user: 'otto' });
      assert.equal(outcome(await otto.request({ type: 'chat.history', room: priv })), 'NOT_A_MEMBER');
      await olga.ok({ type: 'room.kick', room: priv, user: 'max' });
      await max.waitFor((f) => f.type === 'room.removed' && f.room === priv);
      assert.equal(outcome(await max.request({ type: 'chat.history', room: priv })), 'NOT_FOUND');
      assert.equal(outcome(await olga.request({ type: 'chat.history', room: priv })), 'ack');
    });
  });

  describe('chat.delete', () => {
    it('refuses another member and an outsider with FORBIDDEN and keeps the message', async () => {
      const name = await room();
      const id = await send(olga, name, 'not yours');
      assert.equal(outcome(await max.request({ type: 'chat.delete', room: name, message: id })), 'FORBIDDEN');
      assert.equal(outcome(await otto.request({ type: 'chat.delete', room: name, message: id })), 'FORBIDDEN');
      const history = await olga.ok({ type: 'chat.history', room: name });
      assert.deepEqual(
        (history.messages as Array<{ text?: string }>).map((m) => m.text),
        ['not yours'],
      );
    });

    it('refuses the owner of another room: ownership does not carry across rooms', async () => {
      const name = await room();
      const id = await send(max, name, "in olga's room");
      const other = `authz-otto-${++n}`;
      await otto.ok({ type: 'room.create', room: other, visibility: 'public' });
      assert.equal(outcome(await otto.request({ type: 'chat.delete', room: other, message: id })), 'NOT_FOUND');
      assert.equal(outcome(await otto.request({ type: 'chat.delete', room: name, message: id })), 'FORBIDDEN');
    });

    it('lets the author, the room owner and an admin delete', async () => {
      const name = await room();
      const byMax = await send(max, name, 'one');
      const byMax2 = await send(max, name, 'two');
      const byOlga = await send(olga, name, 'three');
      assert.equal(outcome(await max.request({ type: 'chat.delete', room: name, message: byMax })), 'ack');
      assert.equal(outcome(await olga.request({ type: 'chat.delete', room: name, message: byMax2 })), 'ack');
      assert.equal(outcome(await ada.request({ type: 'chat.delete', room: name, message: byOlga })), 'ack');
    });
  });

  describe('admin.broadcast', () => {
    it('refuses a non-admin with FORBIDDEN, even a room owner, and announces nothing', async () => {
      for (const client of [olga, max]) assert.equal(outcome(await client.request({ type: 'admin.broadcast', text: 'hear me' })), 'FORBIDDEN');
      assert.equal(await otto.quiet((f) => f.type === 'announcement'), true);
    });

    it('lets an admin broadcast', async () => {
      assert.equal(outcome(await ada.request({ type: 'admin.broadcast', text: 'maintenance at noon' })), 'ack');
      const seen = await otto.next('announcement');
      assert.equal(seen.text, 'maintenance at noon');
    });

    it('takes the admin role from the token only', async () => {
      const pretender = await connect(server, 'pretender', { name: 'admin', roles: ['administrator', 'Admin'] });
      assert.equal(outcome(await pretender.request({ type: 'admin.broadcast', text: 'x' })), 'FORBIDDEN');
      pretender.close();
    });
  });

  describe('membership remembered on a connection that never joined', () => {
    it('refuses chat.send after a kick, even from a connection that sent before without joining', async () => {
      const name = await room();
      // A second connection of max: a member in the store, never joined here.
      const other = await connect(server, 'max', { name: 'Max' });
      assert.equal(outcome(await other.request({ type: 'chat.send', room: name, text: 'from a side connection' })), 'ack');
      await olga.ok({ type: 'room.kick', room: name, user: 'max' });
      await other.next('room.removed');
      assert.equal(outcome(await other.request({ type: 'chat.send', room: name, text: 'after the kick' })), 'NOT_A_MEMBER');
      other.close();
    });
  });
});
