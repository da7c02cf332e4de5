import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect as rawConnect } from '../helpers/client.js';
import type { BulwarkClient, ClientEvents, LiveMessage } from '../../client/index.js';
import { gate, nextEvent, sdk, until } from './sdk.js';

const config = { rateLimits: { 'chat.send': { points: 100_000, durationMs: 1000 }, default: { points: 100_000, durationMs: 1000 } } };

describe('client SDK: server restart and resume', () => {
  let server: TestServer;
  const clients: BulwarkClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.stop();
  });

  /**
   * A client whose reconnects wait until the test opens the gate, so "messages sent while it was
   * away" is exact rather than a race.
   */
  async function heldClient(sub: string) {
    let hold: ReturnType<typeof gate> | undefined;
    const token = await server.token(sub, { name: sub });
    const client = sdk(server, {
      reconnect: { baseMs: 50, maxMs: 200 },
      token: async ({ reason }) => {
        if (reason === 'connect' && hold) await hold.promise;
        return token;
      },
    });
    clients.push(client);
    const messages: ClientEvents['message'][] = [];
    client.on('message', (m) => messages.push(m));
    return {
      client,
      messages,
      holdReconnects: () => (hold = gate()),
      release: () => hold?.open(),
    };
  }

  it('reconnects after server.restart(), reporting reconnecting with a delay, then open again', async () => {
    server = await startServer({ config });
    const { client } = await heldClient('ro');
    await client.ready();
    const states: ClientEvents['state'][] = [];
    client.on('state', (s) => states.push(s));
    server = await server.restart();
    const reopened = await nextEvent(client, 'open', () => true, 20_000);
    assert.equal(reopened.resumed, true);
    const reconnecting = states.find((s) => s.state === 'reconnecting');
    assert.ok(reconnecting && reconnecting.state === 'reconnecting');
    assert.equal(reconnecting.code, 1001); // server going away
    assert.ok(reconnecting.inMs >= 0 && reconnecting.inMs < 200);
    assert.equal(states.at(-1)?.state, 'open');
  });

  it('delivers the messages missed while away exactly once, in seq order, then live ones', async () => {
    server = await startServer({ config });
    const reader = await heldClient('reader');
    await reader.client.request('room.create', { room: 'resume', visibility: 'public' });
    await reader.client.join('resume');
    for (let i = 1; i <= 3; i++) await reader.client.send('resume', `before ${i}`);
    await until(() => reader.messages.length === 3, 5000, 'live messages');
    assert.equal(reader.client.lastSeq('resume'), 3);

    reader.holdReconnects();
    server = await server.restart();
    // Another user talks while the reader is away: 150 messages, more than one resume page.
    const writer = await rawConnect(server, 'writer');
    await writer.ok({ type: 'room.join', room: 'resume' });
    for (let i = 1; i <= 150; i++) await writer.ok({ type: 'chat.send', room: 'resume', text: `missed ${i}` });

    const resumed = nextEvent(reader.client, 'resumed', (r) => r.room === 'resume', 20_000);
    reader.release();
    assert.equal((await resumed).missed, 150);

    // And a live one after the catch-up, sent while a concurrent burst may overlap the rejoin.
    await writer.ok({ type: 'chat.send', room: 'resume', text: 'after' });
    await until(() => reader.messages.length === 3 + 150 + 1, 10_000, 'all messages');
    const got = reader.messages.map((m) => m.message as LiveMessage);
    assert.deepEqual(
      got.map((m) => m.seq),
      Array.from({ length: 154 }, (_, i) => i + 1),
      'every seq once, in order',
    );
    assert.equal(new Set(got.map((m) => m.id)).size, 154, 'no message id twice');
    assert.deepEqual(
      reader.messages.slice(3, 153).map((m) => m.resumed),
      Array(150).fill(true),
    );
    assert.equal(got.at(-1)!.text, 'after');
    writer.close();
  });

  it('drops copies that arrive both live and in the resume page', async () => {
    server = await startServer({ config });
    const reader = await heldClient('dedupe');
    await reader.client.request('room.create', { room: 'overlap', visibility: 'public' });
    await reader.client.join('overlap');
    reader.holdReconnects();
    server = await server.restart();
    const writer = await rawConnect(server, 'writer2');
    await writer.ok({ type: 'room.join', room: 'overlap' });
    await writer.ok({ type: 'chat.send', room: 'overlap', text: 'missed' });
    reader.release();
    // Keep sending while the reader rejoins: some of these land in both the live stream and
    // the history page of the rejoin (the server subscribes before it reads history).
    for (let i = 0; i < 40; i++) await writer.ok({ type: 'chat.send', room: 'overlap', text: `burst ${i}` });
    await until(() => reader.messages.length >= 41, 10_000, 'all burst messages');
    await new Promise((r) => setTimeout(r, 200));
    const seqs = reader.messages.map((m) => m.message.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: 41 }, (_, i) => i + 1),
    );
    writer.close();
  });

  it('reports a message deleted while away during the resume', async () => {
    server = await startServer({ config });
    const reader = await heldClient('del-reader');
    await reader.client.request('room.create', { room: 'deletions', visibility: 'public' });
    await reader.client.join('deletions');
    reader.holdReconnects();
    server = await server.restart();
    const writer = await rawConnect(server, 'del-writer');
    await writer.ok({ type: 'room.join', room: 'deletions' });
    const sent = await writer.ok({ type: 'chat.send', room: 'deletions', text: 'oops' });
    const id = (sent.message as { id: string }).id;
    await writer.ok({ type: 'chat.delete', room: 'deletions', message: id });
    const deleted = nextEvent(reader.client, 'deleted', (d) => d.message === id, 20_000);
    reader.release();
    await deleted;
    assert.equal(reader.messages.length, 0, 'the deleted message is never shown');
    writer.close();
  });
});
