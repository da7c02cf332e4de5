/**
 * Socket.IO fan-out written like `/ws` (src/transport/socketio-outbound.ts): a broadcast's event
 * packet is built once from the serialized frame, without parsing it back, and written corked per
 * turn; replies are the acknowledgements. The slow-consumer rule is unchanged: a Socket.IO
 * reader that stops reading is closed while readers that keep up are served.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket as NetSocket } from 'node:net';
import { randomBytes } from 'node:crypto';
import { EventPackets, frameType } from '../../src/transport/socketio-outbound.js';
import { startServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { EventRecorder, ROOMY, eventually } from '../handshake/support.js';
import { sioConnect, type SioClient } from './support.js';

describe('Socket.IO event packets from serialized frames', () => {
  it('reads the type of a serialized frame, and refuses what it cannot read without parsing', () => {
    assert.equal(frameType(JSON.stringify({ type: 'chat.message', room: 'r', message: { text: '"quoted"' } })), 'chat.message');
    assert.equal(frameType('{"room":"r","type":"chat.message"}'), undefined, 'type not first');
    assert.equal(frameType('{"type":"a\\"b"}'), undefined, 'escaped type');
    assert.equal(frameType('[1,2]'), undefined);
  });

  it('builds `42["<type>",<frame>]` once per broadcast: the same frame string gives the same packet', () => {
    const packets = new EventPackets();
    const frame = JSON.stringify({ type: 'chat.message', room: 'r', message: { id: 'm1', text: 'a ] b, "c"' } });
    const packet = packets.packet(frame)!;
    assert.ok(packet.startsWith('42'));
    assert.deepEqual(JSON.parse(packet.slice(2)), ['chat.message', JSON.parse(frame)]);
    assert.equal(packets.packet(frame), packet);
    assert.equal(packets.packet('not a frame'), undefined);
  });
});

describe('Socket.IO fan-out through the turn writer', () => {
  it('delivers each broadcast to many Socket.IO subscribers as the same event, and acknowledges the sender', async () => {
    const server = await startServer({ config: ROOMY });
    try {
      const sender = await sioConnect(server, 'sio-sender');
      await sender.ok({ type: 'room.create', room: 'wide', visibility: 'public' });
      await sender.ok({ type: 'room.join', room: 'wide' });
      const subs: SioClient[] = [];
      for (let i = 0; i < 8; i++) {
        const s = await sioConnect(server, `sio-sub-${i}`);
        await s.ok({ type: 'room.join', room: 'wide' });
        subs.push(s);
      }
      const acks = [];
      for (let i = 0; i < 20; i++) acks.push(await sender.ok({ type: 'chat.send', room: 'wide', text: `hello <b>${i}</b> "q"` }));
      for (const s of subs) {
        for (let i = 0; i < 20; i++) {
          const frame = await s.next('chat.message');
          assert.equal(frame.room, 'wide');
          const message = frame.message as { seq: number; text: string; id: string };
          assert.equal(message.text, `hello <b>${i}</b> "q"`);
          assert.equal(message.id, (acks[i]!.message as { id: string }).id, 'the event carries the acknowledged message');
        }
      }
      for (const s of [sender, ...subs]) s.close();
    } finally {
      await server.stop();
    }
  });

  it('still closes a Socket.IO reader that stops reading (slow_consumer) while one that keeps up is served', async () => {
    const server = await startServer({
      config: {
        ...ROOMY,
        limits: { ...ROOMY.limits, maxBufferedBytes: 65_536, maxMessageChars: 4000 },
        rateLimits: { ...ROOMY.rateLimits, 'chat.send': { points: 1_000_000, durationMs: 10_000 } },
      },
    });
    try {
      const recorder = new EventRecorder(server);
      const flooder = await connect(server, 'sio-flooder');
      await flooder.ok({ type: 'room.create', room: 'flood', visibility: 'public' });
      await flooder.ok({ type: 'room.join', room: 'flood' });
      const slow = await sioConnect(server, 'sio-slow');
      await slow.ok({ type: 'room.join', room: 'flood' });
      const keeper = await sioConnect(server, 'sio-keeper');
      await keeper.ok({ type: 'room.join', room: 'flood' });
      // The slow reader stops reading from its TCP socket.
      const engine = (slow.socket.io as unknown as { engine: { transport: { ws: { _socket: NetSocket } } } }).engine;
      engine.transport.ws._socket.pause();
      const mark = recorder.mark();
      for (let sent = 0; sent < 8000 && recorder.since(mark, 'slow_consumer').length === 0; sent += 20) {
        const replies = [];
        for (let i = sent; i < sent + 20; i++) replies.push(flooder.request({ type: 'chat.send', room: 'flood', text: `${i} ${randomBytes(750).toString('base64')}` }, 30_000));
        await Promise.all(replies);
        flooder.frames.length = 0;
        keeper.frames.length = 0;
      }
      const events = await recorder.waitFor(mark, 'slow_consumer', 1, 10_000);
      assert.deepEqual(
        events.map((e) => e.user),
        ['sio-slow'],
      );
      assert.ok(await eventually(() => server.bulwark.hub.userCount('sio-slow') === 0, 5000), 'released on the server');
      engine.transport.ws._socket.resume();
      await keeper.ok({ type: 'room.list' });
      flooder.close();
      keeper.close();
      slow.close();
    } finally {
      await server.stop();
    }
  });
});
