/**
 * `/socket.io/` at the engine.io and Socket.IO packet level (docs/protocol.md "Socket.IO
 * mapping"), written by hand over the same raw WebSocket peer: acknowledgements carry the
 * contract reply; a binary attachment or binary message closes `1003` (as the `close` event, then
 * a disconnect); a frame over `limits.maxPayloadBytes` closes `1009`; packets that are not valid
 * engine.io or Socket.IO end the session without hurting anyone else; the RFC 6455 rules hold
 * on this transport too (`1002`, `1007`, `1008` from `limits.maxFragments`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from '../helpers/server.js';
import { OP, encodeFrame, upgrade, type RawPeer } from './wire.js';
import { assertClosedWith, conformanceServer } from './support.js';

const EIO_PATH = '/socket.io/?EIO=4&transport=websocket';
const MAX_PAYLOAD = 4096;

let counter = 0;

/** An engine.io session past the Socket.IO CONNECT (token in the auth payload) and `welcome`. */
async function sioPeer(server: TestServer): Promise<RawPeer> {
  const peer = await upgrade(server.url, { path: EIO_PATH });
  const open = await peer.next((f) => f.opcode === OP.TEXT);
  assert.match(open.payload.toString(), /^0\{"sid":/, 'engine.io OPEN packet');
  peer.text(`40${JSON.stringify({ token: await server.token(`sio-raw-${process.pid}-${++counter}`) })}`);
  await peer.next((f) => f.opcode === OP.TEXT && f.payload.toString().startsWith('40{"sid":'));
  await peer.next((f) => f.opcode === OP.TEXT && f.payload.toString().startsWith('42["welcome",'));
  return peer;
}

/** Emits `frame` as an event named by its type with acknowledgement `ack`; resolves with the reply. */
async function emitWithAck(peer: RawPeer, ack: number, frame: Record<string, unknown>): Promise<Record<string, unknown>> {
  peer.text(`42${ack}${JSON.stringify([frame.type, frame])}`);
  const reply = await peer.next((f) => f.opcode === OP.TEXT && f.payload.toString().startsWith(`43${ack}[`));
  return (JSON.parse(reply.payload.toString().slice(2 + String(ack).length)) as Array<Record<string, unknown>>)[0]!;
}

/** The Socket.IO events the peer received, as `[name, payload]`. */
function events(peer: RawPeer): Array<[string, Record<string, unknown>]> {
  return peer.frames
    .filter((f) => f.opcode === OP.TEXT && f.payload.toString().startsWith('42['))
    .map((f) => JSON.parse(f.payload.toString().slice(2)) as [string, Record<string, unknown>]);
}

/** Waits until the session ended (close frame or TCP end). */
async function assertEnded(peer: RawPeer): Promise<void> {
  const ending = await peer.ending();
  assert.notEqual(ending, 'open', 'the server ended the session');
}

describe('/socket.io/ at the packet level', () => {
  let server: TestServer;
  before(async () => {
    server = await conformanceServer({ maxPayloadBytes: MAX_PAYLOAD, maxMalformedFrames: 1000 });
  });
  after(() => server.stop());

  describe('events and acknowledgements', () => {
    it('answers an event with its acknowledgement carrying the ack and the id', async () => {
      const peer = await sioPeer(server);
      const reply = await emitWithAck(peer, 1, { type: 'room.list', id: 'sio-1' });
      assert.equal(reply.type, 'ack');
      assert.equal(reply.id, 'sio-1');
      peer.destroy();
    });

    it('keeps the id of an over-deep frame: INVALID_PAYLOAD with the field', async () => {
      const peer = await sioPeer(server);
      const reply = await emitWithAck(peer, 2, { type: 'chat.send', id: 'sio-deep', room: 'r', text: 'x', replyTo: { a: { b: { c: { d: {} } } } } });
      assert.equal(reply.code, 'INVALID_PAYLOAD');
      assert.equal(reply.id, 'sio-deep');
      assert.deepEqual(reply.details, [{ path: 'replyTo', message: 'nested deeper than 4 levels or more than 32 keys or items' }]);
      peer.destroy();
    });

    it('answers a malformed id with INVALID_PAYLOAD on path id', async () => {
      const peer = await sioPeer(server);
      const reply = await emitWithAck(peer, 3, { type: 'room.list', id: 'has space' });
      assert.equal(reply.code, 'INVALID_PAYLOAD');
      assert.equal(reply.id, undefined);
      assert.equal((reply.details as Array<{ path: string }>)[0]!.path, 'id');
      peer.destroy();
    });
  });

  describe('binary', () => {
    it('closes 1003 on an event with a binary attachment: close event, disconnect, end', async () => {
      const peer = await sioPeer(server);
      peer.text('451-["chat.send",{"_placeholder":true,"num":0}]');
      peer.send({ opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) });
      await assertEnded(peer);
      assert.deepEqual(
        events(peer).find(([name]) => name === 'close'),
        ['close', { code: 1003, reason: 'binary frames are not accepted' }],
      );
      assert.ok(
        peer.frames.some((f) => f.opcode === OP.TEXT && f.payload.toString() === '41'),
        'Socket.IO DISCONNECT',
      );
    });

    it('closes 1003 on a binary engine.io message', async () => {
      const peer = await sioPeer(server);
      peer.send({ opcode: OP.BINARY, payload: Buffer.from([4, 1, 2]) });
      await assertEnded(peer);
      assert.equal(events(peer).find(([name]) => name === 'close')?.[1].code, 1003);
    });
  });

  describe('size', () => {
    it('closes 1009 (close event) on a frame over limits.maxPayloadBytes inside its envelope', async () => {
      const peer = await sioPeer(server);
      peer.text(`42${JSON.stringify(['room.list', { type: 'room.list', id: 'big', pad: 'x'.repeat(MAX_PAYLOAD) }])}`);
      await assertEnded(peer);
      assert.equal(events(peer).find(([name]) => name === 'close')?.[1].code, 1009);
      assert.equal(
        events(peer).some(([, f]) => f.id === 'big'),
        false,
        'never handled',
      );
    });

    it('closes 1009 at the WebSocket level on a packet over the limit plus the envelope allowance', async () => {
      const peer = await sioPeer(server);
      peer.text(`42["room.list",{"type":"room.list","pad":"${'x'.repeat(MAX_PAYLOAD + 2048)}"}]`);
      await assertClosedWith(peer, 1009);
    });

    it('closes 1009 from a declared length alone, before any body', async () => {
      const peer = await sioPeer(server);
      peer.send({ opcode: OP.TEXT, declaredLength: 64 * 1024 * 1024, long: true });
      await assertClosedWith(peer, 1009);
    });
  });

  describe('packets that are not engine.io or Socket.IO', () => {
    for (const [what, packet] of [
      ['an unknown engine.io packet type', '9hello'],
      ['an empty engine.io packet', ''],
      ['a ping from the client (EIO 4 pings go the other way)', '2'],
      ['an unknown Socket.IO packet type', '49'],
      ['a Socket.IO packet type that is not a digit', '4x'],
      ['an EVENT whose payload is not an array', '42{"a":1}'],
      ['an EVENT with an empty array', '42[]'],
      ['an EVENT with truncated JSON', '42['],
      ['a second CONNECT', '40{"token":"again"}'],
      ['an EVENT on a namespace that was never connected', '42/admin,["room.list",{"type":"room.list","id":"n"}]'],
    ] as const) {
      it(`ends the session on ${what}, and answers nothing`, async () => {
        const peer = await sioPeer(server);
        peer.text(packet);
        await assertEnded(peer);
        assert.equal(
          events(peer).some(([name]) => name === 'ack' || name === 'error'),
          false,
        );
      });
    }

    it('answers an EVENT whose name is not a string with INVALID_PAYLOAD (no type)', async () => {
      const peer = await sioPeer(server);
      peer.text('425[1,{"id":"num-name"}]');
      const reply = await peer.next((f) => f.opcode === OP.TEXT && f.payload.toString().startsWith('435['));
      const frame = (JSON.parse(reply.payload.toString().slice(3)) as Array<Record<string, unknown>>)[0]!;
      assert.equal(frame.code, 'INVALID_PAYLOAD');
      assert.equal(frame.id, 'num-name');
      peer.destroy();
    });
  });

  describe('RFC 6455 on this transport', () => {
    it('closes 1002 on RSV2', async () => {
      const peer = await sioPeer(server);
      peer.send({ opcode: OP.TEXT, rsv: 2, payload: '42["room.list",{}]' });
      await assertClosedWith(peer, 1002);
    });

    it('closes 1002 on an unmasked frame', async () => {
      const peer = await sioPeer(server);
      peer.send({ opcode: OP.TEXT, mask: false, payload: '3' });
      await assertClosedWith(peer, 1002);
    });

    it('closes 1002 on a reserved opcode', async () => {
      const peer = await sioPeer(server);
      peer.send({ opcode: 0x5, payload: 'x' });
      await assertClosedWith(peer, 1002);
    });

    it('closes 1007 on invalid UTF-8', async () => {
      const peer = await sioPeer(server);
      peer.send({ opcode: OP.TEXT, payload: Buffer.from([0x34, 0x32, 0x5b, 0x22, 0xc0, 0xaf, 0x22, 0x5d]) });
      await assertClosedWith(peer, 1007);
    });

    it('answers a ping between fragments and assembles the message', async () => {
      const peer = await sioPeer(server);
      const text = `421${JSON.stringify(['room.list', { type: 'room.list', id: 'sio-frag' }])}`;
      peer.send({ opcode: OP.TEXT, payload: text.slice(0, 10), fin: false });
      peer.send({ opcode: OP.PING, payload: 'p' });
      peer.send({ opcode: OP.CONT, payload: text.slice(10) });
      assert.equal((await peer.next((f) => f.opcode === OP.PONG)).payload.toString(), 'p');
      await peer.next((f) => f.opcode === OP.TEXT && f.payload.toString().startsWith('431['));
      peer.destroy();
    });

    it('closes 1008 on a message in more than limits.maxFragments (128) fragments', async () => {
      const peer = await sioPeer(server);
      const parts = [encodeFrame({ opcode: OP.TEXT, payload: '3', fin: false })];
      for (let i = 0; i < 200; i++) parts.push(encodeFrame({ opcode: OP.CONT, fin: false }));
      peer.write(Buffer.concat(parts));
      await assertClosedWith(peer, 1008);
    });
  });

  it('still serves a fresh session after all of that', async () => {
    const peer = await sioPeer(server);
    assert.equal((await emitWithAck(peer, 9, { type: 'room.list', id: 'after' })).type, 'ack');
    peer.destroy();
  });
});
