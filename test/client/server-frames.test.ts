/**
 * The SDK checks every inbound server frame against the shared schemas (src/protocol/server-frames.ts):
 * a frame that is not JSON, too large, of an unknown type or not matching its schema is dropped
 * and reported with a `dropped` event, never handed to the application (a hostile server on
 * loopback sends them). Against the real server: the new frames' methods and events (edit,
 * typing, presence), with no frame of the real server dropped.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket as ServerSocket } from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import { BulwarkError, type BulwarkClient, type ClientEvents } from '../../client/index.js';
import { nextEvent, sdk, sleep, until } from './sdk.js';

const WELCOME = {
  type: 'welcome',
  user: { id: 'ana', name: 'Ana', roles: [] },
  connectionId: 'c1',
  heartbeatMs: 30_000,
  limits: { maxPayloadBytes: 65536, maxMessageChars: 4000 },
};
const message = (seq: number, text: unknown = `m${seq}`) => ({ id: `id${seq}`, seq, room: 'r', user: { id: 'bob', name: 'Bob' }, text, ts: 1_700_000_000_000 + seq });

describe('client SDK: inbound frames are checked', () => {
  let wss: WebSocketServer;
  let url: string;
  let onRequest: (socket: ServerSocket, frame: Record<string, unknown>) => void = () => undefined;
  let script: (socket: ServerSocket) => void = () => undefined;

  before(async () => {
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: () => 'bulwark.v1' });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`;
    wss.on('connection', (socket) => {
      socket.send(JSON.stringify(WELCOME));
      socket.on('message', (data) => onRequest(socket, JSON.parse(String(data)) as Record<string, unknown>));
      script(socket);
    });
  });
  after(() => new Promise<void>((resolve) => wss.close(() => resolve())));

  function client(options: { maxFrameChars?: number } = {}): { client: BulwarkClient; seen: Array<keyof ClientEvents>; dropped: Array<ClientEvents['dropped']>; texts: string[] } {
    const c = sdk({ wsUrl: url, origin: 'http://127.0.0.1' }, { token: 'not-checked-here', reconnect: false, ...options });
    const seen: Array<keyof ClientEvents> = [];
    const dropped: Array<ClientEvents['dropped']> = [];
    const texts: string[] = [];
    c.on('frame', (f) => seen.push(f.type as keyof ClientEvents));
    c.on('dropped', (d) => dropped.push(d));
    c.on('message', ({ message: m }) => texts.push(m.text));
    return { client: c, seen, dropped, texts };
  }

  it('drops malformed, unknown, non-JSON and oversized frames and reports each; valid ones still arrive', async () => {
    script = (socket) => {
      socket.send(JSON.stringify({ type: 'chat.message', room: 'r', message: message(1, { toString: 'x' }) }));
      socket.send(JSON.stringify({ type: 'chat.message', room: 'r', message: { ...message(2), user: 'bob' } }));
      socket.send(JSON.stringify({ type: 'chat.message', room: 'r', message: { ...message(3), seq: -1 } }));
      socket.send(JSON.stringify({ type: 'chat.typing', room: 'r', user: { id: 'bob' } }));
      socket.send(JSON.stringify({ type: 'presence.joined', room: 'bad room!', user: { id: 'bob', name: 'Bob' } }));
      socket.send(JSON.stringify({ type: 'chat.edited', room: 'r', message: message(4, 42) }));
      socket.send(JSON.stringify({ type: 'error', code: 'NOT_A_CODE', message: 'x' }));
      socket.send(JSON.stringify({ type: 'exploit.now', payload: 1 }));
      socket.send(JSON.stringify([1, 2, 3]));
      socket.send('{not json');
      socket.send(JSON.stringify({ type: 'chat.message', room: 'r', message: message(5, 'x'.repeat(5000)) }));
      socket.send(JSON.stringify({ type: 'chat.message', room: 'r', message: message(6, 'the good one') }));
    };
    const { client: c, seen, dropped, texts } = client({ maxFrameChars: 4096 });
    const typing: unknown[] = [];
    c.on('typing', (t) => typing.push(t));
    c.on('edited', (t) => typing.push(t));
    c.on('presence.joined', (t) => typing.push(t));
    const errors: BulwarkError[] = [];
    c.on('error', (e) => errors.push(e));
    await c.ready();
    await until(() => texts.length > 0 && dropped.length >= 11, 5000, 'the frames');
    assert.deepEqual(texts, ['the good one']);
    assert.deepEqual(typing, [], 'no malformed typing, edit or presence event reached the application');
    assert.deepEqual(errors, [], 'a malformed error frame is not handed over either');
    assert.deepEqual(
      dropped.map((d) => d.reason),
      ['schema', 'schema', 'schema', 'schema', 'schema', 'schema', 'schema', 'unknown_type', 'not_object', 'not_json', 'too_large'],
    );
    assert.equal(dropped[0]!.type, 'chat.message');
    assert.match(dropped[0]!.problem!, /message\.text/);
    assert.equal(dropped[7]!.type, 'exploit.now');
    assert.deepEqual(seen, ['welcome', 'chat.message'], 'the frame event only sees checked frames');
    c.close();
  });

  it('a reply that does not match its request schema is dropped and the request fails with MALFORMED', async () => {
    script = () => undefined;
    onRequest = (socket, frame) => {
      if (frame.type === 'presence') socket.send(JSON.stringify({ type: 'ack', id: frame.id, room: 'r', members: [{ id: 'x', name: { evil: true } }] }));
      if (frame.type === 'chat.history') socket.send(JSON.stringify({ type: 'ack', id: frame.id, room: 'r', messages: [message(1)], hasMore: false }));
    };
    const { client: c, dropped } = client();
    await c.ready();
    await assert.rejects(c.presence('r'), (e: unknown) => e instanceof BulwarkError && e.code === 'MALFORMED');
    assert.equal(dropped.length, 1);
    assert.equal(dropped[0]!.type, 'ack');
    const page = await c.history('r');
    assert.equal(page.messages.length, 1, 'a well-formed reply still resolves');
    c.close();
  });
});

describe('client SDK: edit, typing and presence against the real server', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { presence: { debounceMs: 200, typingIntervalMs: 500 } } });
  });
  after(() => server.stop());

  it('edit(), typing() and presence() with their events; no frame of the real server is dropped', async () => {
    const ana = sdk(server, { token: await server.token('ana', { name: 'Ana' }), typingIntervalMs: 500 });
    const bob = sdk(server, { token: await server.token('bob', { name: 'Bob' }) });
    const drops: unknown[] = [];
    for (const c of [ana, bob]) c.on('dropped', (d) => drops.push(d));
    await Promise.all([ana.ready(), bob.ready()]);
    await ana.request('room.create', { room: 'sdk-live', visibility: 'public' });
    await ana.join('sdk-live');
    const bobArrives = nextEvent(ana, 'presence.joined', (p) => p.user.id === 'bob');
    await bob.join('sdk-live');
    assert.deepEqual(await bobArrives, { room: 'sdk-live', user: { id: 'bob', name: 'Bob' } });
    assert.deepEqual((await bob.presence('sdk-live')).map((m) => m.id).sort(), ['ana', 'bob']);

    const typing = nextEvent(bob, 'typing');
    assert.equal(ana.typing('sdk-live'), true);
    assert.equal(ana.typing('sdk-live'), false, 'throttled on the client too');
    assert.deepEqual(await typing, { room: 'sdk-live', user: { id: 'ana', name: 'Ana' } });

    const sent = await bob.send('sdk-live', 'first take');
    const edited = nextEvent(ana, 'edited');
    const ack = await bob.edit('sdk-live', sent.message.id, 'second take', { id: 'sdk-edit-1' });
    assert.equal(ack.message.id, sent.message.id);
    const event = await edited;
    assert.equal(event.message.text, 'second take');
    assert.equal(event.message.editedAt, ack.message.editedAt);
    assert.equal((await bob.edit('sdk-live', sent.message.id, 'third', { id: 'sdk-edit-1' })).duplicate, true);
    await assert.rejects(ana.edit('sdk-live', sent.message.id, 'not mine'), (e: unknown) => e instanceof BulwarkError && e.code === 'FORBIDDEN');

    const bobLeaves = nextEvent(ana, 'presence.left', (p) => p.user.id === 'bob');
    bob.close();
    assert.deepEqual(await bobLeaves, { room: 'sdk-live', user: { id: 'bob', name: 'Bob' } });
    await sleep(50);
    assert.deepEqual(drops, []);
    ana.close();
  });
});
