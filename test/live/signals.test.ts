/**
 * `chat.typing` and `presence` through the real server, on raw WebSocket and on Socket.IO
 * (docs/protocol.md "`chat.typing`", "`presence`"): members only, a private room a stranger may
 * not see is NOT_FOUND; typing reaches the room's other members and never any connection of its
 * sender, at most one per user and room within the window, never stored; presence lists users
 * with a live connection joined to the room and announces arrivals and departures per user,
 * debounced so a second tab or a quick reconnect does not flap. Also: `chat.edit` over Socket.IO.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { sleep, storedEvents } from '../helpers/events.js';
import { sioConnect, type SioClient } from '../socketio/support.js';
import { LOOSE_LIMITS, messagesOf } from '../core/fixtures.js';

const DEBOUNCE_MS = 300;
const TYPING_MS = 400;

/** What a test does with a connection, whichever transport carries it. */
interface Peer {
  ok(frame: Record<string, unknown> & { type: string }): Promise<Frame>;
  request(frame: Record<string, unknown> & { type: string }): Promise<Frame>;
  /** Sends a frame that has no id and gets no reply. */
  emit(frame: Record<string, unknown> & { type: string }): void;
  waitFor(match: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  quiet(match: (f: Frame) => boolean, ms?: number): Promise<boolean>;
  readonly frames: Frame[];
  close(): void;
}

type Dial = (server: TestServer, sub: string, name?: string) => Promise<Peer>;

const wsPeer = (c: TestClient): Peer =>
  Object.assign(c, {
    emit: (frame: Record<string, unknown>) => c.send(frame),
  });
const sioPeer = (c: SioClient): Peer =>
  Object.assign(c, {
    emit: (frame: Record<string, unknown> & { type: string }) => void c.socket.emit(frame.type, frame),
  });

const TRANSPORTS: Array<[string, Dial]> = [
  ['raw WebSocket', async (server, sub, name) => wsPeer(await connect(server, sub, name ? { name } : {}))],
  ['Socket.IO', async (server, sub, name) => sioPeer(await sioConnect(server, sub, name ? { name } : {}))],
];

const typingIn = (room: string) => (f: Frame) => f.type === 'chat.typing' && f.room === room;
const presenceIn = (type: 'presence.joined' | 'presence.left', room: string, user: string) => (f: Frame) =>
  f.type === type && f.room === room && (f.user as { id: string }).id === user;

for (const [transport, dial] of TRANSPORTS) {
  describe(`typing and presence (${transport})`, () => {
    let server: TestServer;
    let n = 0;
    const prefix = transport === 'Socket.IO' ? 'sio' : 'ws';

    before(async () => {
      server = await startServer({
        config: {
          ...LOOSE_LIMITS,
          rateLimits: { ...(LOOSE_LIMITS.rateLimits as object), 'chat.typing': { points: 1_000_000, durationMs: 60_000 } },
          presence: { debounceMs: DEBOUNCE_MS, typingIntervalMs: TYPING_MS },
          limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 100 },
        },
      });
    });
    after(() => server.stop());

    async function room(owner: Peer, visibility: 'public' | 'private' = 'public'): Promise<string> {
      const name = `${prefix}-sig-${++n}`;
      await owner.ok({ type: 'room.create', room: name, visibility });
      await owner.ok({ type: 'room.join', room: name });
      return name;
    }

    it('typing reaches the other members, never a connection of the sender (not even another tab), and is not stored', async () => {
      const ana = await dial(server, 'ana', 'Ana');
      const anaTab = await dial(server, 'ana', 'Ana');
      const bob = await dial(server, 'bob', 'Bob');
      const outsider = await dial(server, 'outsider');
      const name = await room(ana);
      await anaTab.ok({ type: 'room.join', room: name });
      await bob.ok({ type: 'room.join', room: name });
      ana.emit({ type: 'chat.typing', room: name });
      const got = await bob.waitFor(typingIn(name));
      assert.deepEqual(got, { type: 'chat.typing', room: name, user: { id: 'ana', name: 'Ana' } });
      assert.equal(await ana.quiet(typingIn(name)), true, 'never back to the sender');
      assert.equal(await anaTab.quiet(typingIn(name), 50), true, "never to the sender's other connections");
      assert.equal(await outsider.quiet(typingIn(name), 50), true, 'not to a connection that did not join');
      assert.equal(ana.frames.filter((f) => f.type === 'error').length, 0, 'no reply to a typing frame that went through');
      const history = messagesOf(await bob.ok({ type: 'chat.history', room: name }));
      assert.equal(history.length, 0, 'never stored');
      for (const p of [ana, anaTab, bob, outsider]) p.close();
    });

    it('forwards at most one typing signal per user and room within the window; the rest are dropped without a reply', async () => {
      const ana = await dial(server, 'ana-w', 'Ana');
      const bob = await dial(server, 'bob-w', 'Bob');
      const name = await room(ana);
      await bob.ok({ type: 'room.join', room: name });
      for (let i = 0; i < 20; i++) ana.emit({ type: 'chat.typing', room: name });
      await bob.waitFor(typingIn(name));
      assert.equal(await bob.quiet(typingIn(name), TYPING_MS / 2), true, 'only one within the window');
      assert.equal(ana.frames.filter((f) => f.type === 'error').length, 0, 'dropped quietly');
      // The window passes: the next one goes through.
      await sleep(TYPING_MS * 1.5);
      ana.emit({ type: 'chat.typing', room: name });
      await bob.waitFor(typingIn(name));
      ana.close();
      bob.close();
    });

    it('typing from a non-member is NOT_A_MEMBER (no id), from a stranger to a hidden private room NOT_FOUND, and reaches nobody', async () => {
      const ana = await dial(server, 'ana-n', 'Ana');
      const eve = await dial(server, 'eve-n', 'Eve');
      const open = await room(ana);
      const secret = await room(ana, 'private');
      eve.emit({ type: 'chat.typing', room: open });
      const refused = await eve.waitFor((f) => f.type === 'error');
      assert.equal(refused.code, 'NOT_A_MEMBER');
      assert.equal(refused.id, undefined);
      eve.emit({ type: 'chat.typing', room: secret });
      const hidden = await eve.waitFor((f) => f.type === 'error');
      assert.equal(hidden.code, 'NOT_FOUND');
      assert.equal(await ana.quiet(typingIn(open), 100), true);
      assert.equal(await ana.quiet(typingIn(secret), 50), true);
      ana.close();
      eve.close();
    });

    it('presence lists the users joined to the room, per user, across their connections; members only', async () => {
      const ana = await dial(server, 'ana-p', 'Ana');
      const anaTab = await dial(server, 'ana-p', 'Ana');
      const bob = await dial(server, 'bob-p', 'Bob');
      const eve = await dial(server, 'eve-p', 'Eve');
      const name = await room(ana);
      await anaTab.ok({ type: 'room.join', room: name });
      await bob.ok({ type: 'room.join', room: name });
      const ack = await bob.ok({ type: 'presence', room: name });
      assert.equal(ack.room, name);
      const members = (ack.members as Array<{ id: string; name: string }>).sort((a, b) => a.id.localeCompare(b.id));
      assert.deepEqual(members, [
        { id: 'ana-p', name: 'Ana' },
        { id: 'bob-p', name: 'Bob' },
      ]);
      assert.equal((await eve.request({ type: 'presence', room: name })).code, 'NOT_A_MEMBER');
      const secret = await room(ana, 'private');
      assert.equal((await eve.request({ type: 'presence', room: secret })).code, 'NOT_FOUND', 'a private room the caller cannot see does not leak');
      assert.equal((await eve.request({ type: 'presence', room: 'no-such-room-at-all' })).code, 'NOT_FOUND');
      // The server API's service gives the same list.
      const fromService = (await server.bulwark.presence.members(name)).map((m) => m.id).sort();
      assert.deepEqual(fromService, ['ana-p', 'bob-p']);
      for (const p of [ana, anaTab, bob, eve]) p.close();
    });

    it('announces presence.joined and, after the debounce, presence.left per user; a second tab or a quick reconnect does not flap', async () => {
      const ana = await dial(server, 'ana-d', 'Ana');
      const name = await room(ana);
      // Everyone hears of their own arrival too.
      await ana.waitFor(presenceIn('presence.joined', name, 'ana-d'));
      const bob = await dial(server, 'bob-d', 'Bob');
      await bob.ok({ type: 'room.join', room: name });
      const joined = await ana.waitFor(presenceIn('presence.joined', name, 'bob-d'));
      assert.deepEqual(joined, { type: 'presence.joined', room: name, user: { id: 'bob-d', name: 'Bob' } });
      // A second tab: no second arrival.
      const bobTab = await dial(server, 'bob-d', 'Bob');
      await bobTab.ok({ type: 'room.join', room: name });
      assert.equal(await ana.quiet(presenceIn('presence.joined', name, 'bob-d'), 100), true, 'a second tab is not a second arrival');
      // One tab closes: bob is still here.
      bobTab.close();
      assert.equal(await ana.quiet(presenceIn('presence.left', name, 'bob-d'), DEBOUNCE_MS * 2), true, 'one tab closing is not a departure');
      // The last one closes and comes back within the debounce: nothing announced.
      bob.close();
      await sleep(DEBOUNCE_MS / 4);
      const back = await dial(server, 'bob-d', 'Bob');
      await back.ok({ type: 'room.join', room: name });
      const aboutBob = (f: Frame): boolean => f.type.startsWith('presence.') && f.room === name && (f.user as { id: string }).id === 'bob-d';
      assert.equal(await ana.quiet(aboutBob, DEBOUNCE_MS * 2), true, 'a quick reconnect does not flap');
      // Leaving for good: presence.left after the debounce, and the list no longer has bob.
      await back.ok({ type: 'room.leave', room: name });
      const left = await ana.waitFor(presenceIn('presence.left', name, 'bob-d'), DEBOUNCE_MS * 10);
      assert.deepEqual(left, { type: 'presence.left', room: name, user: { id: 'bob-d', name: 'Bob' } });
      const ids = ((await ana.ok({ type: 'presence', room: name })).members as Array<{ id: string }>).map((m) => m.id);
      assert.deepEqual(ids, ['ana-d']);
      ana.close();
      back.close();
    });

    it('chat.edit: the author edits, others are FORBIDDEN, chat.edited reaches the room', async () => {
      const ana = await dial(server, 'ana-e', 'Ana');
      const bob = await dial(server, 'bob-e', 'Bob');
      const name = await room(ana);
      await bob.ok({ type: 'room.join', room: name });
      const sent = await bob.ok({ type: 'chat.send', room: name, text: 'original' });
      const id = (sent.message as { id: string }).id;
      assert.equal((await ana.request({ type: 'chat.edit', room: name, message: id, text: 'owner words' })).code, 'FORBIDDEN');
      const edit = await bob.ok({ type: 'chat.edit', id: `${prefix}-edit-1`, room: name, message: id, text: 'edited <script>x()</script>' });
      const again = await bob.ok({ type: 'chat.edit', id: `${prefix}-edit-1`, room: name, message: id, text: 'other' });
      assert.equal(again.duplicate, true);
      assert.deepEqual(again.message, edit.message);
      const edited = await ana.waitFor((f) => f.type === 'chat.edited' && f.room === name);
      assert.equal((edited.message as { text: string }).text, 'edited &lt;script&gt;x()&lt;/script&gt;');
      assert.ok((await storedEvents(server, 'xss_attempt')).length > 0);
      ana.close();
      bob.close();
    });
  });
}
