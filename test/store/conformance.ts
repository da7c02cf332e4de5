/**
 * The Store contract (src/store/store.ts), run against every backend: test/store/sqlite.test.ts
 * and test/store/postgres.test.ts. Each test gets a fresh, empty store from `makeStore`.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RoomGoneError } from '../../src/store/errors.js';
import type { NewMessage, RoomRecord, Store, StoredMessage } from '../../src/store/store.js';

export interface StoreHandle {
  store: Store;
  /** Opens a new store on the same database (after `store` is closed). */
  reopen?: () => Promise<Store>;
}

export type MakeStore = () => Promise<StoreHandle>;

let counter = 0;
function messageId(): string {
  counter++;
  return `m${Date.now().toString(36)}${counter.toString(36).padStart(6, '0')}`;
}

function newMessage(room: RoomRecord, text: string, extra: Partial<NewMessage> = {}): NewMessage {
  return { id: messageId(), roomId: room.id, roomName: room.name, userId: 'alice', userName: 'Alice', text, ts: Date.now(), ...extra };
}

async function room(store: Store, name: string, visibility: 'public' | 'private' = 'public', owner = 'alice'): Promise<RoomRecord> {
  const created = await store.createRoom({ name, owner, visibility, createdAt: Date.now() });
  assert.ok(created, `room ${name} created`);
  return created;
}

async function fill(store: Store, r: RoomRecord, n: number): Promise<StoredMessage[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => store.appendMessage(newMessage(r, `message ${i + 1}`))));
}

const seqsOf = (messages: StoredMessage[]): number[] => messages.map((m) => m.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export function runStoreConformance(label: string, makeStore: MakeStore): void {
  /** Runs fn on a fresh store and closes it afterwards. */
  const withStore = async (fn: (store: Store, handle: StoreHandle) => Promise<void>): Promise<void> => {
    const handle = await makeStore();
    try {
      await fn(handle.store, handle);
    } finally {
      await handle.store.close();
    }
  };

  describe(`store conformance: ${label}`, () => {
    it('reports its kind and answers ping', () =>
      withStore(async (store) => {
        assert.ok(store.kind === 'sqlite' || store.kind === 'postgres');
        await store.ping();
      }));

    it('creates rooms, refuses a taken name, and finds rooms by name', () =>
      withStore(async (store) => {
        const createdAt = Date.now();
        const general = await store.createRoom({ name: 'general', owner: 'alice', visibility: 'public', createdAt });
        assert.ok(general);
        assert.equal(typeof general.id, 'number');
        assert.deepEqual(general, { id: general.id, name: 'general', owner: 'alice', visibility: 'public', createdAt });
        assert.equal(await store.createRoom({ name: 'general', owner: 'bob', visibility: 'private', createdAt }), null);
        assert.deepEqual(await store.getRoom('general'), general);
        assert.equal(await store.getRoom('nowhere'), undefined);
        // The owner is a member.
        assert.equal(await store.getMembership(general.id, 'alice'), 'member');
        // Racing creations of one name: exactly one wins.
        const race = await Promise.all(Array.from({ length: 5 }, () => store.createRoom({ name: 'race', owner: 'x', visibility: 'public', createdAt })));
        assert.equal(race.filter((r) => r !== null).length, 1);
      }));

    it('lists public rooms and the private rooms where the user is a member or invited', () =>
      withStore(async (store) => {
        await room(store, 'b-public');
        await room(store, 'a-public');
        const secret = await room(store, 'c-secret', 'private', 'owner');
        const invite = await room(store, 'd-invite', 'private', 'owner');
        const kicked = await room(store, 'e-kicked', 'private', 'owner');
        await store.setMembership(secret.id, 'bob', 'member');
        await store.setMembership(invite.id, 'bob', 'invited');
        await store.setMembership(kicked.id, 'bob', 'kicked');
        const names = async (user: string): Promise<string[]> => (await store.listRooms(user)).map((r) => r.name);
        assert.deepEqual(await names('bob'), ['a-public', 'b-public', 'c-secret', 'd-invite']);
        assert.deepEqual(await names('stranger'), ['a-public', 'b-public']);
        assert.deepEqual(await names('owner'), ['a-public', 'b-public', 'c-secret', 'd-invite', 'e-kicked']);
        const listed = (await store.listRooms('bob')).find((r) => r.name === 'c-secret');
        assert.deepEqual(listed, secret);
      }));

    it('creates owned rooms up to a cap, atomically, and tells a taken name from the cap', () =>
      withStore(async (store) => {
        const make = (name: string, owner = 'capped'): Promise<RoomRecord | 'taken' | 'limit'> =>
          store.createOwnedRoom({ name, owner, visibility: 'public', createdAt: Date.now() }, 3);
        const racing = await Promise.all(Array.from({ length: 6 }, (_, i) => make(`capped-${i}`)));
        assert.equal(racing.filter((r) => typeof r === 'object').length, 3, 'never more than the cap, even racing');
        assert.deepEqual(
          racing.filter((r) => typeof r === 'string'),
          ['limit', 'limit', 'limit'],
        );
        const mine = racing.find((r): r is RoomRecord => typeof r === 'object')!;
        assert.equal(await store.getMembership(mine.id, 'capped'), 'member', 'the creator is a member');
        assert.equal(await make('capped-0', 'someone-else'), 'taken');
        assert.equal(typeof (await make('other-room', 'someone-else')), 'object', 'the cap is per owner');
        await store.deleteRoom(mine.id);
        assert.equal(typeof (await make('capped-again')), 'object', 'a deleted room frees a place');
      }));

    it('pages the room list by name with a cursor and a case-insensitive filter', () =>
      withStore(async (store) => {
        for (const name of ['Zeta', 'alpha', 'beta', 'gamma-1', 'Gamma-2', 'delta']) await room(store, name, 'public', 'olga');
        await room(store, 'hidden-gamma', 'private', 'olga');
        const mine = await room(store, 'my-gamma', 'private', 'olga');
        await store.setMembership(mine.id, 'max', 'invited');
        const names = (rooms: RoomRecord[]): string[] => rooms.map((r) => r.name);
        // Byte order (upper case first), the same on every backend.
        assert.deepEqual(names(await store.listRoomsPage('max', { limit: 3 })), ['Gamma-2', 'Zeta', 'alpha']);
        assert.deepEqual(names(await store.listRoomsPage('max', { after: 'alpha', limit: 3 })), ['beta', 'delta', 'gamma-1']);
        assert.deepEqual(names(await store.listRoomsPage('max', { after: 'gamma-1', limit: 3 })), ['my-gamma']);
        assert.deepEqual(names(await store.listRoomsPage('max', { filter: 'gamma', limit: 10 })), ['Gamma-2', 'gamma-1', 'my-gamma']);
        assert.deepEqual(names(await store.listRoomsPage('max', { filter: 'gamma', after: 'Gamma-2', limit: 1 })), ['gamma-1']);
        assert.deepEqual(names(await store.listRoomsPage('olga', { filter: 'hidden', limit: 10 })), ['hidden-gamma']);
        assert.deepEqual(names(await store.listRoomsPage('max', { filter: 'hidden', limit: 10 })), []);
      }));

    it('deleting a room removes its history and memberships; the name can be reused from seq 1', () =>
      withStore(async (store) => {
        const doomed = await room(store, 'doomed');
        await store.setMembership(doomed.id, 'bob', 'member');
        const sent = await fill(store, doomed, 5);
        await store.deleteRoom(doomed.id);
        assert.equal(await store.getRoom('doomed'), undefined);
        assert.equal(await store.getMembership(doomed.id, 'bob'), undefined);
        assert.equal(await store.getMembership(doomed.id, 'alice'), undefined);
        assert.equal(await store.getMessage(doomed.id, sent[0]!.id), undefined);
        assert.deepEqual(await store.history(doomed.id, { limit: 10 }), { messages: [], hasMore: false });
        assert.ok(!(await store.listRooms('bob')).some((r) => r.name === 'doomed'));
        await assert.rejects(store.appendMessage(newMessage(doomed, 'too late')), RoomGoneError);
        const again = await room(store, 'doomed');
        assert.notEqual(again.id, doomed.id);
        assert.equal((await store.appendMessage(newMessage(again, 'fresh'))).seq, 1);
        assert.equal(await store.getMembership(again.id, 'bob'), undefined);
      }));

    it('appends racing a room deletion in one turn: the deleted room refuses, the others commit', () =>
      withStore(async (store) => {
        const keep = await room(store, 'keep');
        const gone = await room(store, 'gone');
        await fill(store, gone, 2);
        const before = store.appendMessage(newMessage(gone, 'before the delete'));
        const deletion = store.deleteRoom(gone.id);
        const results = await Promise.allSettled([
          store.appendMessage(newMessage(gone, 'after the delete')),
          store.appendMessage(newMessage(keep, 'unrelated 1')),
          store.appendMessage(newMessage(keep, 'unrelated 2')),
        ]);
        assert.equal((await before).seq, 3);
        await deletion;
        assert.equal(results[0]!.status, 'rejected');
        assert.ok((results[0] as PromiseRejectedResult).reason instanceof RoomGoneError);
        assert.deepEqual(
          results.slice(1).map((r) => (r as PromiseFulfilledResult<StoredMessage>).value.seq),
          [1, 2],
        );
      }));

    it('sets, updates and removes memberships', () =>
      withStore(async (store) => {
        const r = await room(store, 'club', 'private');
        assert.equal(await store.getMembership(r.id, 'bob'), undefined);
        await store.setMembership(r.id, 'bob', 'invited');
        assert.equal(await store.getMembership(r.id, 'bob'), 'invited');
        await store.setMembership(r.id, 'bob', 'member');
        assert.equal(await store.getMembership(r.id, 'bob'), 'member');
        await store.setMembership(r.id, 'bob', 'kicked');
        assert.equal(await store.getMembership(r.id, 'bob'), 'kicked');
        await store.removeMembership(r.id, 'bob');
        assert.equal(await store.getMembership(r.id, 'bob'), undefined);
        await store.removeMembership(r.id, 'nobody');
      }));

    it('assigns seq 1..N without gaps to 500 concurrent appends across 3 rooms', (t) =>
      withStore(async (store) => {
        const rooms = [await room(store, 'r1'), await room(store, 'r2'), await room(store, 'r3')];
        const started = performance.now();
        // Half issued in one turn, the rest spread over later turns while batches commit.
        const promises: Array<Promise<StoredMessage>> = [];
        for (let i = 0; i < 250; i++) promises.push(store.appendMessage(newMessage(rooms[i % 3]!, `burst ${i}`)));
        for (let i = 250; i < 500; i++) {
          if (i % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
          promises.push(store.appendMessage(newMessage(rooms[i % 3]!, `spread ${i}`)));
        }
        const stored = await Promise.all(promises);
        const ms = performance.now() - started;
        t.diagnostic(`${label}: 500 appends in ${ms.toFixed(1)} ms (${Math.round(500 / (ms / 1000))} appends/s)`);
        for (const [k, r] of rooms.entries()) {
          const mine = stored.filter((m) => m.roomName === r.name);
          const expected = Array.from({ length: 500 }, (_, i) => i).filter((i) => i % 3 === k).length;
          assert.deepEqual(
            seqsOf(mine).sort((a, b) => a - b),
            range(1, expected),
            `room ${r.name}`,
          );
          // Issue order within one room is seq order.
          assert.deepEqual(seqsOf(mine), range(1, expected));
          const page = await store.history(r.id, { after: 0, limit: 1000 });
          assert.deepEqual(seqsOf(page.messages), range(1, expected));
          assert.deepEqual(
            page.messages.map((m) => m.id),
            mine.map((m) => m.id),
          );
        }
      }));

    it('a failing write rejects alone: the rest of its batch commits and seq keeps no gap', () =>
      withStore(async (store) => {
        const r = await room(store, 'dupes');
        const first = await store.appendMessage(newMessage(r, 'original'));
        const results = await Promise.allSettled([
          store.appendMessage(newMessage(r, 'a')),
          store.appendMessage(newMessage(r, 'duplicate id', { id: first.id })),
          store.appendMessage(newMessage(r, 'b')),
          store.setMembership(r.id, 'bob', 'member'),
        ]);
        assert.deepEqual(
          results.map((x) => x.status),
          ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
        );
        const page = await store.history(r.id, { limit: 10 });
        assert.deepEqual(seqsOf(page.messages), [1, 2, 3]);
        assert.deepEqual(
          page.messages.map((m) => m.text),
          ['original', 'a', 'b'],
        );
        assert.equal(await store.getMembership(r.id, 'bob'), 'member');
        assert.equal((await store.appendMessage(newMessage(r, 'next'))).seq, 4);
      }));

    it('a large batch: writes of one turn see the appends before them, and a bad row among many fails alone', () =>
      withStore(async (store) => {
        const r = await room(store, 'large-batch');
        const first = await store.appendMessage(newMessage(r, 'original'));
        // One turn: 20 appends (more than one multi-row statement's worth), then an edit and a
        // delete of messages appended in this same turn, then 20 more with one duplicate id.
        const ids = Array.from({ length: 40 }, () => messageId());
        const appends1 = ids.slice(0, 20).map((id, i) => store.appendMessage(newMessage(r, `m${i + 1}`, { id })));
        const edit = store.editMessage(r.id, ids[2]!, 'm3 edited', 7777);
        const deletion = store.deleteMessage(r.id, ids[18]!);
        const appends2 = ids.slice(20).map((id, i) => store.appendMessage(newMessage(r, `m${i + 21}`, { id: i === 9 ? first.id : id })));
        const results = await Promise.allSettled([...appends1, ...appends2]);
        assert.equal((await edit)?.text, 'm3 edited', 'the edit found a message appended earlier in its batch');
        assert.equal(await deletion, true, 'the delete found a message appended earlier in its batch');
        assert.deepEqual(
          results.map((x, i) => (x.status === 'rejected' ? i : -1)).filter((i) => i >= 0),
          [29],
          'only the duplicate id is refused',
        );
        const page = await store.history(r.id, { limit: 100 });
        assert.deepEqual(seqsOf(page.messages), range(1, 40), 'gap-free: 1 + 39 appends');
        assert.equal(page.messages[3]!.text, 'm3 edited');
        assert.equal(page.messages[19]!.deleted, true);
        assert.deepEqual(
          page.messages.slice(21).map((m) => m.text),
          Array.from({ length: 20 }, (_, i) => `m${i + 21}`).filter((_, i) => i !== 9),
        );
      }));

    it('pages history: latest, before, after, between, with hasMore both ways, ascending', () =>
      withStore(async (store) => {
        const r = await room(store, 'paged');
        await room(store, 'other').then((o) => fill(store, o, 3));
        for (let i = 1; i <= 25; i++) await store.appendMessage(newMessage(r, `m${i}`, { ts: 1_700_000_000_000 + i }));
        const page = async (q: { before?: number; after?: number; limit: number }): Promise<[number[], boolean]> => {
          const p = await store.history(r.id, q);
          return [seqsOf(p.messages), p.hasMore];
        };
        assert.deepEqual(await page({ limit: 10 }), [range(16, 25), true]);
        assert.deepEqual(await page({ limit: 25 }), [range(1, 25), false]);
        assert.deepEqual(await page({ limit: 30 }), [range(1, 25), false]);
        assert.deepEqual(await page({ before: 16, limit: 10 }), [range(6, 15), true]);
        assert.deepEqual(await page({ before: 6, limit: 10 }), [range(1, 5), false]);
        assert.deepEqual(await page({ before: 11, limit: 10 }), [range(1, 10), false]);
        assert.deepEqual(await page({ before: 1, limit: 10 }), [[], false]);
        assert.deepEqual(await page({ after: 0, limit: 10 }), [range(1, 10), true]);
        assert.deepEqual(await page({ after: 10, limit: 10 }), [range(11, 20), true]);
        assert.deepEqual(await page({ after: 20, limit: 10 }), [range(21, 25), false]);
        assert.deepEqual(await page({ after: 15, limit: 10 }), [range(16, 25), false]);
        assert.deepEqual(await page({ after: 25, limit: 10 }), [[], false]);
        assert.deepEqual(await page({ after: 5, before: 10, limit: 10 }), [range(6, 9), false]);
        assert.deepEqual(await page({ after: 5, before: 20, limit: 3 }), [range(6, 8), true]);
        assert.deepEqual(await page({ after: 5, before: 9, limit: 3 }), [range(6, 8), false]);
        const full = await store.history(r.id, { limit: 1 });
        const last = full.messages[0]!;
        assert.equal(last.text, 'm25');
        assert.equal(last.roomName, 'paged');
        assert.equal(last.userId, 'alice');
        assert.equal(last.userName, 'Alice');
        assert.equal(last.ts, 1_700_000_000_025);
        assert.equal(last.deleted, false);
        assert.deepEqual(await store.history(r.id + 1000, { limit: 10 }), { messages: [], hasMore: false });
        const empty = await room(store, 'empty');
        assert.deepEqual(await store.history(empty.id, { limit: 10 }), { messages: [], hasMore: false });
      }));

    it('stores any text faithfully and returns replies', () =>
      withStore(async (store) => {
        const r = await room(store, 'texts');
        const texts = ['', 'héllo wörld', '日本語 🚀 \u{1F600}', 'a\nb\tc', "'; DROP TABLE messages; --", 'x'.repeat(8000)];
        const stored = await Promise.all(texts.map((text) => store.appendMessage(newMessage(r, text))));
        const reply = await store.appendMessage(newMessage(r, 'a reply', { replyTo: stored[1]!.id }));
        assert.equal(reply.replyTo, stored[1]!.id);
        const page = await store.history(r.id, { after: 0, limit: 100 });
        assert.deepEqual(
          page.messages.map((m) => m.text),
          [...texts, 'a reply'],
        );
        assert.equal(page.messages.at(-1)!.replyTo, stored[1]!.id);
        assert.equal(page.messages[0]!.replyTo, undefined);
      }));

    it('gets a message by id within its room only', () =>
      withStore(async (store) => {
        const r = await room(store, 'lookup');
        const other = await room(store, 'elsewhere');
        const sent = await store.appendMessage(newMessage(r, 'find me', { ts: 1234, replyTo: 'mparent' }));
        assert.deepEqual(await store.getMessage(r.id, sent.id), {
          id: sent.id,
          seq: 1,
          roomName: 'lookup',
          userId: 'alice',
          userName: 'Alice',
          text: 'find me',
          ts: 1234,
          replyTo: 'mparent',
          deleted: false,
        });
        assert.equal(await store.getMessage(other.id, sent.id), undefined);
        assert.equal(await store.getMessage(r.id, 'missing'), undefined);
      }));

    it('edits a message: new text and editedAt in reads and history, seq kept; a deleted or foreign message is not edited', () =>
      withStore(async (store) => {
        const r = await room(store, 'editing');
        const other = await room(store, 'not-here');
        const [m1, m2] = await fill(store, r, 2);
        const edited = await store.editMessage(r.id, m1!.id, 'rewritten ✓ <b>text</b>', 5555);
        assert.deepEqual(edited, { ...m1!, text: 'rewritten ✓ <b>text</b>', editedAt: 5555, replyTo: undefined });
        const got = await store.getMessage(r.id, m1!.id);
        assert.equal(got?.text, 'rewritten ✓ <b>text</b>');
        assert.equal(got?.editedAt, 5555);
        assert.equal(got?.seq, 1);
        const page = await store.history(r.id, { limit: 10 });
        assert.deepEqual(
          page.messages.map((m) => [m.seq, m.text, m.editedAt]),
          [
            [1, 'rewritten ✓ <b>text</b>', 5555],
            [2, m2!.text, undefined],
          ],
        );
        assert.equal(await store.editMessage(other.id, m2!.id, 'wrong room', 6666), undefined);
        assert.equal(await store.editMessage(r.id, 'missing', 'nobody', 6666), undefined);
        await store.deleteMessage(r.id, m2!.id);
        assert.equal(await store.editMessage(r.id, m2!.id, 'back from the dead', 7777), undefined);
        const deleted = await store.getMessage(r.id, m2!.id);
        assert.equal(deleted?.deleted, true);
        assert.equal(deleted?.text, '');
        assert.equal((await store.appendMessage(newMessage(r, 'after edits'))).seq, 3);
      }));

    it('deletes a message: text erased, seq kept', () =>
      withStore(async (store) => {
        const r = await room(store, 'erasing');
        const other = await room(store, 'bystander');
        const [m1, m2, m3] = await fill(store, r, 3);
        assert.equal(await store.deleteMessage(other.id, m2!.id), false);
        assert.equal(await store.deleteMessage(r.id, 'missing'), false);
        assert.equal(await store.deleteMessage(r.id, m2!.id), true);
        const got = await store.getMessage(r.id, m2!.id);
        assert.equal(got?.deleted, true);
        assert.equal(got?.text, '');
        assert.equal(got?.seq, 2);
        const page = await store.history(r.id, { limit: 10 });
        assert.deepEqual(
          page.messages.map((m) => [m.seq, m.deleted, m.text]),
          [
            [1, false, m1!.text],
            [2, true, ''],
            [3, false, m3!.text],
          ],
        );
        assert.equal((await store.appendMessage(newMessage(r, 'after'))).seq, 4);
      }));

    it('creates users once and reads them back', () =>
      withStore(async (store) => {
        const user = { id: 'carol', name: 'Carol', passwordHash: 'scrypt$abc', roles: ['admin', 'moderator'], createdAt: 1_700_000_000_000 };
        assert.equal(await store.createUser(user), true);
        assert.equal(await store.createUser({ ...user, name: 'Impostor' }), false);
        assert.deepEqual(await store.getUser('carol'), { ...user, disabled: false });
        assert.equal(await store.getUser('nobody'), undefined);
        assert.equal(await store.createUser({ id: 'dave', name: 'Dave', passwordHash: 'h', roles: [], createdAt: 1 }), true);
        assert.deepEqual((await store.getUser('dave'))?.roles, []);
        assert.equal(await store.createUser({ id: 'erin', name: 'erin', passwordHash: 'h', roles: [], createdAt: 2, disabled: true }), true);
        assert.equal((await store.getUser('erin'))?.disabled, true);
      }));

    it('lists users by id with a search and paging, and updates roles, disabled and password', () =>
      withStore(async (store) => {
        for (const name of ['bob', 'alice', 'carla', 'dan']) {
          assert.equal(await store.createUser({ id: `acct:${name}`, name, passwordHash: 'h0', roles: [], createdAt: 1 }), true);
        }
        assert.deepEqual(
          (await store.listUsers({ limit: 10 })).map((u) => u.id),
          ['acct:alice', 'acct:bob', 'acct:carla', 'acct:dan'],
        );
        assert.deepEqual(
          (await store.listUsers({ limit: 2, after: 'acct:alice' })).map((u) => u.name),
          ['bob', 'carla'],
        );
        assert.deepEqual(
          (await store.listUsers({ limit: 10, search: 'A' })).map((u) => u.name),
          ['alice', 'carla', 'dan'],
        );
        assert.equal(await store.updateUser('acct:bob', { roles: ['admin'] }), true);
        assert.equal(await store.updateUser('acct:bob', { disabled: true, passwordHash: 'h1' }), true);
        assert.deepEqual(await store.getUser('acct:bob'), { id: 'acct:bob', name: 'bob', passwordHash: 'h1', roles: ['admin'], createdAt: 1, disabled: true });
        assert.equal(await store.updateUser('acct:bob', { disabled: false }), true);
        assert.equal((await store.getUser('acct:bob'))?.disabled, false);
        assert.deepEqual((await store.getUser('acct:bob'))?.roles, ['admin']);
        assert.equal(await store.updateUser('acct:nobody', { disabled: true }), false);
      }));

    it("revokes every refresh token of one user, and nobody else's", () =>
      withStore(async (store) => {
        const expiresAt = Date.now() + 60_000;
        await store.insertRefreshToken({ hash: 'u1', family: 'fa', userId: 'acct:a', expiresAt });
        await store.insertRefreshToken({ hash: 'u2', family: 'fb', userId: 'acct:a', expiresAt });
        await store.insertRefreshToken({ hash: 'u3', family: 'fc', userId: 'acct:b', expiresAt });
        await store.revokeUserRefreshTokens('acct:a');
        assert.equal((await store.getRefreshToken('u1'))?.revoked, true);
        assert.equal((await store.getRefreshToken('u2'))?.revoked, true);
        assert.equal((await store.getRefreshToken('u3'))?.revoked, false);
      }));

    it('invites: claimed once, not after expiry or revocation, released on request, listed newest first', () =>
      withStore(async (store) => {
        const now = Date.now();
        await store.createInvite({ id: 'i1', hash: 'h-one', createdBy: 'acct:admin', createdAt: now - 2, expiresAt: now + 60_000 });
        await store.createInvite({ id: 'i2', hash: 'h-two', createdBy: 'cli', createdAt: now - 1, expiresAt: now - 1 });
        await store.createInvite({ id: 'i3', hash: 'h-three', createdBy: 'cli', createdAt: now, expiresAt: now + 60_000 });
        const race = await Promise.all(Array.from({ length: 4 }, (_, i) => store.claimInvite('h-one', `acct:u${i}`, now)));
        assert.equal(race.filter(Boolean).length, 1);
        assert.equal(await store.claimInvite('h-two', 'acct:late', now), false, 'expired');
        assert.equal(await store.claimInvite('h-unknown', 'acct:x', now), false);
        await store.releaseInvite('h-one');
        assert.equal(await store.claimInvite('h-one', 'acct:again', now), true, 'released, claimable again');
        assert.equal(await store.revokeInvite('i3'), true);
        assert.equal(await store.revokeInvite('i3'), false);
        assert.equal(await store.claimInvite('h-three', 'acct:y', now), false, 'revoked');
        const listed = await store.listInvites(10);
        assert.deepEqual(
          listed.map((i) => i.id),
          ['i3', 'i2', 'i1'],
        );
        assert.deepEqual(listed[2], { id: 'i1', hash: 'h-one', createdBy: 'acct:admin', createdAt: now - 2, expiresAt: now + 60_000, usedAt: now, usedBy: 'acct:again' });
        assert.equal(listed[0]!.expiresAt, 0);
      }));

    it('refresh tokens: used once, reuse refused, family revocation', () =>
      withStore(async (store) => {
        const expiresAt = Date.now() + 60_000;
        await store.insertRefreshToken({ hash: 'h1', family: 'f1', userId: 'carol', expiresAt });
        await store.insertRefreshToken({ hash: 'h2', family: 'f1', userId: 'carol', expiresAt });
        await store.insertRefreshToken({ hash: 'h3', family: 'f2', userId: 'carol', expiresAt });
        assert.deepEqual(await store.getRefreshToken('h1'), { hash: 'h1', family: 'f1', userId: 'carol', expiresAt, usedAt: null, revoked: false });
        assert.equal(await store.getRefreshToken('nope'), undefined);
        assert.equal(await store.useRefreshToken('h1', 1000), true);
        assert.equal(await store.useRefreshToken('h1', 2000), false);
        assert.equal((await store.getRefreshToken('h1'))?.usedAt, 1000);
        await store.revokeRefreshFamily('f1');
        assert.equal((await store.getRefreshToken('h2'))?.revoked, true);
        assert.equal(await store.useRefreshToken('h2', 3000), false);
        assert.equal((await store.getRefreshToken('h3'))?.revoked, false);
        // Racing uses of one token: exactly one wins.
        const race = await Promise.all(Array.from({ length: 5 }, (_, i) => store.useRefreshToken('h3', 4000 + i)));
        assert.equal(race.filter(Boolean).length, 1);
        assert.equal(await store.useRefreshToken('unknown', 1), false);
      }));

    it('revocations: an append-only log read by id, expired entries left out', () =>
      withStore(async (store) => {
        const now = Date.now();
        await store.addRevocation('j1', now + 60_000);
        await store.addRevocation('j-expired', now - 1);
        await store.addRevocation('j3', now + 60_000);
        const all = await store.revocationsAfter(0, now);
        assert.deepEqual(
          all.map((r) => r.jti),
          ['j1', 'j3'],
        );
        assert.ok(all[0]!.id < all[1]!.id);
        assert.equal(all[0]!.expiresAt, now + 60_000);
        assert.deepEqual(
          (await store.revocationsAfter(all[0]!.id, now)).map((r) => r.jti),
          ['j3'],
        );
        assert.deepEqual(await store.revocationsAfter(all[1]!.id, now), []);
        assert.equal(all[0]!.kind, 'jti');
        await store.addRevocation('family-1', now + 60_000, 'sid');
        await store.addRevocation('acct:bob', now + 60_000, 'user', now - 5);
        await store.addRevocation('acct:eve', Number.MAX_SAFE_INTEGER, 'disable');
        assert.deepEqual(
          (await store.revocationsAfter(all[1]!.id, now)).map((r) => [r.kind, r.jti, r.at]),
          [
            ['sid', 'family-1', 0],
            ['user', 'acct:bob', now - 5],
            ['disable', 'acct:eve', 0],
          ],
        );
      }));

    it('bans: an append-only log read by id, lifts included', () =>
      withStore(async (store) => {
        const now = Date.now();
        const b1 = await store.addBan({ kind: 'user', value: 'mallory', until: now + 60_000, level: 1, reason: 'flood', createdAt: now });
        const b2 = await store.addBan({ kind: 'ip', value: '203.0.113.9', until: now + 120_000, level: 2, reason: 'abuse', createdAt: now });
        const lift = await store.addBan({ kind: 'user', value: 'mallory', until: 0, level: 1, reason: 'lifted', createdAt: now + 1 });
        assert.ok(b1.id < b2.id && b2.id < lift.id);
        assert.deepEqual(b1, { id: b1.id, kind: 'user', value: 'mallory', until: now + 60_000, level: 1, reason: 'flood', createdAt: now });
        assert.deepEqual(await store.bansAfter(0), [b1, b2, lift]);
        assert.deepEqual(await store.bansAfter(b1.id), [b2, lift]);
        assert.deepEqual(await store.bansAfter(lift.id), []);
      }));

    it('records security events without ever throwing, durable after flush', () =>
      withStore(async (store) => {
        const base = Date.now();
        store.recordSecurityEvent({ ts: base, type: 'auth.failed', severity: 'warning', ip: '198.51.100.7', user: 'eve', detail: { reason: 'bad signature', n: 3 } });
        store.recordSecurityEvent({ ts: base + 1, type: 'origin.rejected', severity: 'notice' });
        const circular: Record<string, unknown> = {};
        circular.self = circular;
        assert.doesNotThrow(() => store.recordSecurityEvent({ ts: base + 2, type: 'weird', severity: 'info', detail: circular }));
        assert.doesNotThrow(() => store.recordSecurityEvent({ ts: base + 3, type: 'nul\0type', severity: 'error', ip: 'x\0y', detail: { s: 'a\0b' } }));
        store.recordSecurityEvent({ ts: base + 4, type: 'frame.invalid', severity: 'critical', user: 'mallory' });
        await store.flush();
        const events = await store.listSecurityEvents(base, 100);
        const plain = events.filter((e) => e.type !== 'weird' && !e.type.startsWith('nul'));
        assert.deepEqual(plain, [
          { ts: base, type: 'auth.failed', severity: 'warning', ip: '198.51.100.7', user: 'eve', detail: { reason: 'bad signature', n: 3 }, count: 1, lastTs: base },
          { ts: base + 1, type: 'origin.rejected', severity: 'notice', ip: undefined, user: undefined, detail: undefined, count: 1, lastTs: base + 1 },
          { ts: base + 4, type: 'frame.invalid', severity: 'critical', ip: undefined, user: 'mallory', detail: undefined, count: 1, lastTs: base + 4 },
        ]);
        const nul = events.find((e) => e.type.startsWith('nul'));
        if (nul) assert.deepEqual(nul.detail, { s: 'a\0b' });
        assert.equal((await store.listSecurityEvents(base, 1)).length, 1);
        assert.deepEqual(
          (await store.listSecurityEvents(base + 4, 100)).map((e) => e.type),
          ['frame.invalid'],
        );
        // The store keeps working after a bad event.
        await store.ping();
        const r = await room(store, 'still-fine');
        assert.equal((await store.appendMessage(newMessage(r, 'ok'))).seq, 1);
      }));

    it('queries security events newest or oldest first, filtered by severity, type, user, IP, time and row id', () =>
      withStore(async (store) => {
        const base = Date.now() + 1_000_000;
        store.recordSecurityEvent({ ts: base, type: 'ban_added', severity: 'warning', user: 'alice' });
        store.recordSecurityEvent({ ts: base + 1, type: 'ban_removed', severity: 'notice', user: 'alice' });
        store.recordSecurityEvent({ ts: base + 2, type: 'ban_added', severity: 'warning', ip: '10.0.0.1' });
        store.recordSecurityEvent({ ts: base + 3, type: 'refresh_reuse', severity: 'critical', user: 'bob' });
        await store.flush();
        const q = { sinceTs: base, limit: 100 } as const;
        const newest = await store.querySecurityEvents({ ...q, order: 'newest' });
        assert.deepEqual(
          newest.map((e) => e.type),
          ['refresh_reuse', 'ban_added', 'ban_removed', 'ban_added'],
        );
        assert.ok(newest[0]!.id > newest[1]!.id && newest[0]!.count === 1);
        assert.deepEqual(
          (await store.querySecurityEvents({ ...q, order: 'oldest', limit: 2 })).map((e) => e.type),
          ['ban_added', 'ban_removed'],
        );
        assert.deepEqual(
          (await store.querySecurityEvents({ ...q, order: 'newest', limit: 1 })).map((e) => e.type),
          ['refresh_reuse'],
        );
        assert.equal((await store.querySecurityEvents({ ...q, order: 'newest', type: 'ban_added' })).length, 2);
        assert.deepEqual(
          (await store.querySecurityEvents({ ...q, order: 'newest', user: 'alice' })).map((e) => e.type),
          ['ban_removed', 'ban_added'],
        );
        assert.deepEqual(
          (await store.querySecurityEvents({ ...q, order: 'newest', ip: '10.0.0.1' })).map((e) => e.ts),
          [base + 2],
        );
        assert.deepEqual(
          (await store.querySecurityEvents({ ...q, order: 'newest', severities: ['warning', 'error', 'critical'] })).map((e) => e.severity),
          ['critical', 'warning', 'warning'],
        );
        assert.deepEqual(
          (await store.querySecurityEvents({ ...q, order: 'oldest', afterId: newest[1]!.id })).map((e) => e.type),
          ['refresh_reuse'],
        );
        assert.equal((await store.querySecurityEvents({ sinceTs: base + 4, limit: 100, order: 'newest' })).length, 0);
      }));

    it('aggregates security events by key: one row whose count and lastTs grow, other keys apart', () =>
      withStore(async (store) => {
        const base = Date.now();
        const first = { ts: base, type: 'origin_rejected', severity: 'warning' as const, ip: '203.0.113.5', detail: { origin: 'https://evil.example' } };
        store.recordSecurityEvent(first, 'key-a');
        // Repeats in the same turn and in later turns, written as counts.
        store.recordSecurityEvent({ ...first, count: 4, lastTs: base + 10 }, 'key-a');
        await store.flush();
        store.recordSecurityEvent({ ...first, count: 5, lastTs: base + 20 }, 'key-a');
        store.recordSecurityEvent({ ...first, ip: '203.0.113.6' }, 'key-b');
        store.recordSecurityEvent({ ...first, ip: '203.0.113.7' });
        store.recordSecurityEvent({ ...first, ip: '203.0.113.7' });
        await store.flush();
        const rows = await store.listSecurityEvents(base, 100);
        assert.equal(rows.length, 4, 'key-a once, key-b once, two rows without a key');
        assert.deepEqual(rows[0], { ...first, user: undefined, count: 10, lastTs: base + 20 });
        assert.equal(rows[1]!.ip, '203.0.113.6');
        assert.equal(rows[1]!.count, 1);
        assert.deepEqual(
          rows.slice(2).map((r) => r.count),
          [1, 1],
        );
        // An older lastTs never moves it back.
        store.recordSecurityEvent({ ...first, count: 1, lastTs: base + 5 }, 'key-a');
        await store.flush();
        assert.deepEqual((await store.listSecurityEvents(base, 1))[0]!.lastTs, base + 20);
        assert.equal((await store.listSecurityEvents(base, 1))[0]!.count, 11);
      }));

    it('queries security events for the admin console: filters, newest first, paging, live tail of new and recounted rows, counts', () =>
      withStore(async (store) => {
        const base = Date.now() - 10_000;
        const rows: Array<[number, string, 'notice' | 'warning' | 'critical', string, string | undefined]> = [
          [base + 1, 'origin_rejected', 'warning', '203.0.113.1', undefined],
          [base + 2, 'login_failed', 'notice', '203.0.113.2', 'acct:alice'],
          [base + 3, 'origin_rejected', 'warning', '203.0.113.2', undefined],
          [base + 4, 'refresh_reuse', 'critical', '203.0.113.3', 'acct:alice'],
          [base + 5, 'login_failed', 'notice', '203.0.113.2', 'acct:bob'],
        ];
        for (const [ts, type, severity, ip, user] of rows) store.recordSecurityEvent({ ts, type, severity, ip, user }, `k-${ts}`);
        await store.flush();
        const all = await store.searchSecurityEvents({ since: base, limit: 10 });
        assert.deepEqual(
          all.map((e) => e.ts - base),
          [5, 4, 3, 2, 1],
          'newest first',
        );
        assert.ok(all.every((e) => typeof e.id === 'number' && e.count === 1 && e.lastTs === e.ts));
        const types = async (q: Parameters<Store['searchSecurityEvents']>[0]): Promise<number[]> => (await store.searchSecurityEvents(q)).map((e) => e.ts - base);
        assert.deepEqual(await types({ since: base, type: 'origin_rejected', limit: 10 }), [3, 1]);
        assert.deepEqual(await types({ since: base, user: 'acct:alice', limit: 10 }), [4, 2]);
        assert.deepEqual(await types({ since: base, ip: '203.0.113.2', limit: 10 }), [5, 3, 2]);
        assert.deepEqual(await types({ since: base, severities: ['warning', 'critical'], limit: 10 }), [4, 3, 1]);
        assert.deepEqual(await types({ since: base + 2, until: base + 4, limit: 10 }), [4, 3, 2]);
        const page1 = await store.searchSecurityEvents({ since: base, limit: 2 });
        const last = page1[page1.length - 1]!;
        assert.deepEqual(await types({ since: base, limit: 2, before: { ts: last.ts, id: last.id } }), [3, 2]);
        // The live tail: rows recorded or recounted after a moment.
        const mark = Date.now();
        await new Promise((r) => setTimeout(r, 5));
        store.recordSecurityEvent({ ts: base + 1, type: 'origin_rejected', severity: 'warning', ip: '203.0.113.1', count: 3, lastTs: Date.now() }, `k-${base + 1}`);
        store.recordSecurityEvent({ ts: Date.now(), type: 'auth_failed', severity: 'warning', ip: '203.0.113.9' });
        await store.flush();
        const changed = await store.changedSecurityEvents({ since: base, limit: 10 }, mark);
        assert.deepEqual(
          changed.map((e) => [e.type, e.count]),
          [
            ['origin_rejected', 4],
            ['auth_failed', 1],
          ],
        );
        assert.deepEqual(await store.changedSecurityEvents({ since: base, type: 'auth_failed', limit: 10 }, changed[1]!.lastTs), []);
        const counts = await store.countSecurityEvents({ since: base });
        const of = (type: string): number => counts.filter((c) => c.type === type).reduce((n, c) => n + Number(c.count), 0);
        assert.equal(of('origin_rejected'), 5, 'aggregated repeats count');
        assert.equal(of('login_failed'), 2);
        assert.deepEqual(
          (await store.countSecurityEvents({ since: base, severities: ['critical'] })).map((c) => [c.type, c.severity, Number(c.count)]),
          [['refresh_reuse', 'critical', 1]],
        );
      }));

    it('prunes security events: expired first, then the oldest beyond keep, at most limit per call', () =>
      withStore(async (store) => {
        const now = Date.now();
        for (let i = 0; i < 30; i++) store.recordSecurityEvent({ ts: now - 100_000 + i, type: 'old', severity: 'info' });
        for (let i = 0; i < 50; i++) store.recordSecurityEvent({ ts: now + i, type: 'new', severity: 'info' }, `k${i}`);
        await store.flush();
        // Expired rows go first, bounded by limit.
        assert.equal(await store.pruneSecurityEvents({ before: now - 50_000, keep: 1000, limit: 20 }), 20);
        assert.equal(await store.pruneSecurityEvents({ before: now - 50_000, keep: 1000, limit: 20 }), 10);
        assert.equal(await store.pruneSecurityEvents({ before: now - 50_000, keep: 1000, limit: 20 }), 0);
        let rows = await store.listSecurityEvents(0, 1000);
        assert.equal(rows.length, 50);
        assert.ok(rows.every((r) => r.type === 'new'));
        // Then the oldest beyond keep, still at most limit per call.
        assert.equal(await store.pruneSecurityEvents({ before: 0, keep: 15, limit: 30 }), 30);
        assert.equal(await store.pruneSecurityEvents({ before: 0, keep: 15, limit: 30 }), 5);
        assert.equal(await store.pruneSecurityEvents({ before: 0, keep: 15, limit: 30 }), 0);
        rows = await store.listSecurityEvents(0, 1000);
        assert.deepEqual(
          rows.map((r) => r.ts),
          Array.from({ length: 15 }, (_, i) => now + 35 + i),
          'the newest 15 are kept',
        );
        // An aggregated row recreated after pruning starts again from the count it is given.
        store.recordSecurityEvent({ ts: now, type: 'new', severity: 'info', count: 3 }, 'k0');
        await store.flush();
        assert.equal((await store.listSecurityEvents(0, 1000)).find((r) => r.count === 3)?.type, 'new');
      }));

    it('a read issued right after a write sees it (read-your-writes)', () =>
      withStore(async (store) => {
        const creating = store.createRoom({ name: 'ryw', owner: 'alice', visibility: 'private', createdAt: 1 });
        const seen = await store.getRoom('ryw');
        const r = (await creating)!;
        assert.deepEqual(seen, r);

        void store.setMembership(r.id, 'bob', 'invited');
        assert.equal(await store.getMembership(r.id, 'bob'), 'invited');
        void store.setMembership(r.id, 'bob', 'member');
        assert.ok((await store.listRooms('bob')).some((x) => x.name === 'ryw'));

        const appending = Array.from({ length: 20 }, (_, i) => store.appendMessage(newMessage(r, `ryw ${i}`)));
        const page = await store.history(r.id, { limit: 100 });
        assert.deepEqual(seqsOf(page.messages), range(1, 20));
        const last = await appending.at(-1)!;
        assert.equal((await store.getMessage(r.id, last.id))?.text, 'ryw 19');

        void store.deleteMessage(r.id, last.id);
        assert.equal((await store.getMessage(r.id, last.id))?.deleted, true);

        void store.createUser({ id: 'ryw-user', name: 'R', passwordHash: 'h', roles: [], createdAt: 1 });
        assert.equal((await store.getUser('ryw-user'))?.name, 'R');
        void store.insertRefreshToken({ hash: 'ryw-h', family: 'ryw-f', userId: 'ryw-user', expiresAt: Date.now() + 1000 });
        assert.equal((await store.getRefreshToken('ryw-h'))?.family, 'ryw-f');
        void store.revokeRefreshFamily('ryw-f');
        assert.equal((await store.getRefreshToken('ryw-h'))?.revoked, true);

        void store.deleteRoom(r.id);
        assert.equal(await store.getRoom('ryw'), undefined);
      }));

    it('flush resolves after every earlier write committed; close commits pending writes', () =>
      withStore(async (store, handle) => {
        const r = await room(store, 'durable');
        let settled = 0;
        const writes = Array.from({ length: 50 }, (_, i) => store.appendMessage(newMessage(r, `d${i}`)).then((m) => (settled++, m)));
        store.recordSecurityEvent({ ts: 42, type: 'flush.probe', severity: 'info' });
        await store.flush();
        // Every append resolves in the same turn its batch commits; give the .then()s a tick.
        await Promise.resolve();
        assert.equal(settled, 50);
        assert.equal((await store.listSecurityEvents(42, 10)).length, 1);
        await Promise.all(writes);
        await store.flush();

        if (!handle.reopen) return;
        // Issued, not awaited, then closed: close() must commit them.
        const late = Array.from({ length: 30 }, (_, i) => store.appendMessage(newMessage(r, `late ${i}`)));
        store.recordSecurityEvent({ ts: 43, type: 'close.probe', severity: 'info' });
        await store.close();
        assert.deepEqual(seqsOf(await Promise.all(late)), range(51, 80));
        const reopened = await handle.reopen();
        try {
          const again = await reopened.getRoom('durable');
          assert.deepEqual(again, r);
          const page = await reopened.history(r.id, { limit: 100 });
          assert.deepEqual(seqsOf(page.messages), range(1, 80));
          assert.equal(page.messages.at(-1)!.text, 'late 29');
          assert.deepEqual(
            (await reopened.listSecurityEvents(43, 10)).map((e) => e.type),
            ['close.probe'],
          );
          assert.equal((await reopened.appendMessage(newMessage(r, 'after reopen'))).seq, 81);
        } finally {
          await reopened.close();
        }
      }));

    it('key checks: the first value stored for a key stays, later claims get it back, an operator replace changes it', () =>
      withStore(async (store) => {
        assert.equal(await store.getKeyCheck('encryption', 'k1'), undefined);
        const first = { kind: 'encryption' as const, keyId: 'k1', check: 'check-one', createdAt: 1 };
        assert.deepEqual(await store.claimKeyCheck(first), first);
        assert.deepEqual(await store.claimKeyCheck({ ...first, check: 'check-two', createdAt: 2 }), first, 'a second claim gets the first value');
        const [a, b] = await Promise.all([
          store.claimKeyCheck({ kind: 'jwt', keyId: 'current', check: 'jwt-a', createdAt: 3 }),
          store.claimKeyCheck({ kind: 'jwt', keyId: 'current', check: 'jwt-b', createdAt: 4 }),
        ]);
        assert.deepEqual(a, b, 'racing claims agree on one value');
        assert.deepEqual(await store.getKeyCheck('encryption', 'k1'), first);
        assert.equal(await store.getKeyCheck('jwt', 'k1'), undefined, 'kinds are separate');
        await store.replaceKeyCheck({ kind: 'jwt', keyId: 'current', check: 'jwt-new', createdAt: 5 });
        assert.equal((await store.getKeyCheck('jwt', 'current'))?.check, 'jwt-new');
        // Plain (unencrypted) rows are no sample of any key.
        const r = await room(store, 'plain');
        await fill(store, r, 2);
        assert.equal(await store.sampleEncrypted('k1'), undefined);
      }));

    it('api keys: found by hash only, listed newest first, revoked once, use counts added up, kept across a reopen', () =>
      withStore(async (store, handle) => {
        const key = (id: string, createdAt: number, expiresAt: number | null = null) => ({
          id,
          name: `key ${id}`,
          hash: id.padEnd(64, '0'),
          scopes: ['publish', 'history'],
          createdAt,
          expiresAt,
        });
        await store.createApiKey(key('a1', 1000));
        await store.createApiKey(key('b2', 2000, 9_000_000_000_000));
        assert.deepEqual(await store.apiKeyByHash('a1'.padEnd(64, '0')), { ...key('a1', 1000), lastUsedAt: null, revokedAt: null, uses: 0 });
        assert.equal(await store.apiKeyByHash('ff'.padEnd(64, '0')), undefined);
        assert.deepEqual(
          (await store.listApiKeys(10)).map((k) => k.id),
          ['b2', 'a1'],
        );
        assert.equal((await store.listApiKeys(1)).length, 1);
        await store.recordApiKeyUse('a1', 5000, 3);
        await store.recordApiKeyUse('a1', 4000, 2);
        const used = await store.apiKeyByHash('a1'.padEnd(64, '0'));
        assert.equal(used?.uses, 5);
        assert.equal(used?.lastUsedAt, 5000, 'the latest use wins, whatever order the counts arrive in');
        assert.equal(await store.revokeApiKey('a1', 6000), true);
        assert.equal(await store.revokeApiKey('a1', 7000), false, 'revoked once');
        assert.equal(await store.revokeApiKey('nope', 7000), false);
        assert.equal((await store.apiKeyByHash('a1'.padEnd(64, '0')))?.revokedAt, 6000);
        if (!handle.reopen) return;
        await store.close();
        const reopened = await handle.reopen();
        try {
          const again = await reopened.apiKeyByHash('b2'.padEnd(64, '0'));
          assert.equal(again?.expiresAt, 9_000_000_000_000);
          assert.deepEqual(again?.scopes, ['publish', 'history']);
        } finally {
          await reopened.close();
        }
      }));

    it('close is idempotent', async () => {
      const { store } = await makeStore();
      await store.close();
      await store.close();
    });
  });
}
