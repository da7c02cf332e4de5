import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { BulwarkError, type ClientEvents } from '../../client/index.js';
import { openSocket, type TestClient } from '../helpers/client.js';
import { nextEvent, sdk, sleep } from './sdk.js';

describe('client SDK: connecting and requests', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('authenticates with the early token subprotocol and reports connecting then open', async () => {
    const states: string[] = [];
    const client = sdk(server, { token: await server.token('ana', { name: 'Ana' }) });
    client.on('state', (s) => states.push(s.state));
    const welcome = await client.ready();
    assert.equal(welcome.user.id, 'ana');
    assert.deepEqual(states, ['connecting', 'open']);
    client.close();
    assert.equal(client.state, 'closed');
  });

  it('authenticates with an auth frame when asked to', async () => {
    const client = sdk(server, { token: await server.token('bo'), authMode: 'frame' });
    const welcome = await client.ready();
    assert.equal(welcome.user.id, 'bo');
    client.close();
  });

  it('resolves requests with their ack and rejects with the server error code', async () => {
    const client = sdk(server, { token: await server.token('cy') });
    await client.ready();
    const created = await client.request('room.create', { room: 'sdk-req', visibility: 'public' });
    assert.equal(created.room.name, 'sdk-req');
    await assert.rejects(client.request('room.create', { room: 'sdk-req', visibility: 'public' }), (e: unknown) => e instanceof BulwarkError && e.code === 'CONFLICT');
    await assert.rejects(client.request('room.join', { room: 'no-such-room' }), (e: unknown) => e instanceof BulwarkError && e.code === 'NOT_FOUND');
    client.close();
  });

  it('queues a request made before welcome and sends it once open', async () => {
    const client = sdk(server, { token: await server.token('di') });
    const list = await client.request('room.list', {});
    assert.ok(Array.isArray(list.rooms));
    client.close();
  });

  it('rejects a request with TIMEOUT when no reply comes in time', async () => {
    const client = sdk(server, { token: await server.token('ed') });
    await client.ready();
    // The server runs on this event loop: hold the loop past the 1 ms timeout before the server can
    // even read the frame. Timers run before I/O polling, so the timer always wins.
    const pending = client.request('room.list', {}, { timeoutMs: 1 });
    const until = Date.now() + 5;
    while (Date.now() < until) {
      // busy-wait on purpose
    }
    await assert.rejects(pending, (e: unknown) => e instanceof BulwarkError && e.code === 'TIMEOUT');
    client.close();
  });

  it('delivers live messages as typed events', async () => {
    const a = sdk(server, { token: await server.token('fa', { name: 'Fa' }) });
    await a.request('room.create', { room: 'sdk-live', visibility: 'public' });
    await a.join('sdk-live');
    const got = nextEvent(a, 'message');
    const ack = await a.send('sdk-live', 'hi <b>there</b>');
    const { message } = await got;
    assert.equal(message.id, ack.message.id);
    assert.equal(message.text, 'hi <b>there</b>');
    assert.equal(message.user.name, 'Fa');
    a.close();
  });

  it('stops for good on a refused static token, without reconnecting', async () => {
    const client = sdk(server, { token: 'not.a.jwt', reconnect: { baseMs: 10 } });
    const events: Array<keyof ClientEvents> = [];
    client.on('reconnecting', () => events.push('reconnecting'));
    const closed = await nextEvent(client, 'closed');
    assert.ok(closed.code === 1006 || closed.code === 4401, `closed with ${closed.code}`);
    await sleep(100);
    assert.deepEqual(events, []);
    assert.equal(client.state, 'closed');
  });

  it('retries a refused token when the provider yields a different one', async () => {
    const good = await server.token('gi');
    const asked: string[] = [];
    const client = sdk(server, {
      authMode: 'frame', // a refused auth frame closes 4401
      reconnect: { baseMs: 10 },
      token: ({ reason }) => {
        asked.push(reason);
        return asked.length === 1 ? 'expired.or.bad' : good;
      },
    });
    const welcome = await client.ready();
    assert.equal(welcome.user.id, 'gi');
    assert.deepEqual(asked, ['connect', 'rejected']);
    client.close();
  });

  it('stops on 4401 when the provider only yields the refused token again', async () => {
    const client = sdk(server, { authMode: 'frame', reconnect: { baseMs: 10 }, token: () => 'still.bad.token' });
    const closed = await nextEvent(client, 'closed');
    assert.equal(closed.code, 4401);
  });
});

describe('client SDK: backing off when the server is overloaded', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { limits: { maxConnectionsPerUser: 1, maxConnections: 3 } } });
  });
  after(() => server.stop());

  it('waits at least the overload floor after a 4429 close', async () => {
    const first = sdk(server, { token: await server.token('hu') });
    await first.ready();
    const second = sdk(server, { token: await server.token('hu'), reconnect: { baseMs: 100, overloadFloorMs: 3000 } });
    const reconnecting = await nextEvent(second, 'reconnecting');
    assert.equal(reconnecting.code, 4429);
    assert.ok(reconnecting.inMs >= 3000, `scheduled in ${reconnecting.inMs} ms`);
    second.close();
    first.close();
  });

  it('honours Retry-After of a 503 handshake refusal', async () => {
    // Fill the node (maxConnections: 3) with plain sockets; one more handshake gets 503.
    const held: TestClient[] = [];
    for (let i = 0; i < 3; i++) {
      try {
        held.push(await openSocket(server));
      } catch {
        break; // already full
      }
    }
    const late = sdk(server, { token: await server.token('i4'), reconnect: { baseMs: 100, overloadFloorMs: 1 } });
    const reconnecting = await nextEvent(late, 'reconnecting');
    // The capacity guard answers 503 with Retry-After: 5 (seconds).
    assert.ok(reconnecting.inMs >= 5000, `scheduled in ${reconnecting.inMs} ms`);
    late.close();
    for (const c of held) c.close();
  });
});
