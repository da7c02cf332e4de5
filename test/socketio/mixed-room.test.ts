/**
 * Rooms, history and the bus are shared by both transports: a `socket.io-client` user and a raw
 * WebSocket user in one room see each other's messages, in `seq` order, and one history.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { ROOMY } from '../handshake/support.js';
import { sioConnect } from './support.js';

interface Msg {
  seq: number;
  text: string;
  user: { id: string };
}

describe('a room with a Socket.IO user and a raw WebSocket user', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: ROOMY });
  });
  after(() => server.stop());

  it('delivers every message to both, in seq order, whichever transport sent it', async () => {
    const sio = await sioConnect(server, 'sio-user');
    const raw = await connect(server, 'ws-user');
    await sio.ok({ type: 'room.create', room: 'mixed', visibility: 'public' });
    await sio.ok({ type: 'room.join', room: 'mixed' });
    await raw.ok({ type: 'room.join', room: 'mixed' });

    const N = 10;
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < N; i++) {
      sends.push(i % 2 === 0 ? sio.ok({ type: 'chat.send', room: 'mixed', text: `from sio ${i}` }) : raw.ok({ type: 'chat.send', room: 'mixed', text: `from ws ${i}` }));
    }
    await Promise.all(sends);

    const seen = async (next: () => Promise<Record<string, unknown>>): Promise<Msg[]> => {
      const out: Msg[] = [];
      for (let i = 0; i < N; i++) out.push((await next()).message as Msg);
      return out;
    };
    const bySio = await seen(() => sio.next('chat.message'));
    const byWs = await seen(() => raw.next('chat.message'));
    const seqs = bySio.map((m) => m.seq);
    assert.deepEqual(
      seqs,
      Array.from({ length: N }, (_, i) => i + 1),
      'the Socket.IO user sees seq 1..N in order',
    );
    assert.deepEqual(
      byWs.map((m) => [m.seq, m.text]),
      bySio.map((m) => [m.seq, m.text]),
      'both users see the same messages in the same order',
    );
    assert.equal(new Set(bySio.map((m) => m.user.id)).size, 2, 'messages from both transports');

    // One history, read from either side.
    const fromSio = (await sio.ok({ type: 'chat.history', room: 'mixed' })).messages as Msg[];
    const fromWs = (await raw.ok({ type: 'chat.history', room: 'mixed' })).messages as Msg[];
    assert.deepEqual(fromSio, fromWs);
    assert.deepEqual(
      fromSio.map((m) => m.seq),
      seqs,
    );
    sio.close();
    raw.close();
  });

  it('lets a Socket.IO user resume with since after a reconnect', async () => {
    const raw = await connect(server, 'ws-writer');
    await raw.ok({ type: 'room.create', room: 'resume', visibility: 'public' });
    await raw.ok({ type: 'chat.send', room: 'resume', text: 'one' });
    await raw.ok({ type: 'chat.send', room: 'resume', text: 'two' });
    await raw.ok({ type: 'chat.send', room: 'resume', text: 'three' });
    const sio = await sioConnect(server, 'sio-reader');
    const join = await sio.ok({ type: 'room.join', room: 'resume', since: 1 });
    assert.deepEqual(
      (join.history as Msg[]).map((m) => m.text),
      ['two', 'three'],
    );
    sio.close();
    raw.close();
  });

  it('reaches Socket.IO users with room.deleted and announcements from raw WebSocket users', async () => {
    const admin = await connect(server, 'ws-admin', { roles: ['admin'] });
    const sio = await sioConnect(server, 'sio-member');
    await admin.ok({ type: 'room.create', room: 'doomed', visibility: 'public' });
    await sio.ok({ type: 'room.join', room: 'doomed' });
    await admin.ok({ type: 'room.delete', room: 'doomed' });
    assert.equal((await sio.next('room.deleted')).room, 'doomed');
    await admin.ok({ type: 'admin.broadcast', text: 'hello everyone' });
    assert.equal((await sio.next('announcement')).text, 'hello everyone');
    sio.close();
    admin.close();
  });
});
