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
import { EventRecorder, eventually } from '../helpers/events.js';
import { admissionGauges } from '../admission/support.js';
import { OP, encodeFrame, upgrade, type RawPeer } from './wire.js';
import { assertClosedWith, conformanceServer, recordedServer } from './support.js';

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

/** An engine.io session past its OPEN packet, before any Socket.IO CONNECT. */
async function enginePeer(server: TestServer, headers?: Record<string, string>): Promise<RawPeer> {
  const peer = await upgrade(server.url, { path: EIO_PATH, ...(headers ? { headers } : {}) });
  await peer.next((f) => f.opcode === OP.TEXT && f.payload.toString().startsWith('0{"sid":'));
  return peer;
}

describe('/socket.io/ at the packet level', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => ({ server, recorder } = await recordedServer({ maxPayloadBytes: MAX_PAYLOAD, maxMalformedFrames: 1000 })));
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
      it(`ends the session on ${what}, answers nothing, and records malformed_frame`, async () => {
        const peer = await sioPeer(server);
        const mark = recorder.mark();
        peer.text(packet);
        await assertEnded(peer);
        assert.equal(
          events(peer).some(([name]) => name === 'ack' || name === 'error'),
          false,
        );
        const recorded = await recorder.waitFor(mark, 'malformed_frame');
        assert.equal(recorded.length, 1, JSON.stringify(recorder.since(mark)));
        assert.equal(recorded[0]!.detail?.transport, 'socket.io');
        assert.match(String(recorded[0]!.user), /^sio-raw-/, 'scored against the user as well as the IP');
      });
    }

    for (const [what, packet] of [
      ['an unknown engine.io packet type', '9hello'],
      ['an EVENT with truncated JSON', '42['],
      ['an EVENT before CONNECT', '42["room.list",{"type":"room.list","id":"early"}]'],
    ] as const) {
      it(`ends a session that has not sent CONNECT on ${what}, and records malformed_frame for its IP`, async () => {
        const peer = await enginePeer(server);
        const mark = recorder.mark();
        peer.text(packet);
        await assertEnded(peer);
        const recorded = await recorder.waitFor(mark, 'malformed_frame');
        assert.equal(recorded.length, 1, JSON.stringify(recorder.since(mark)));
        assert.deepEqual([recorded[0]!.ip, recorded[0]!.user, recorded[0]!.detail?.transport], ['127.0.0.1', undefined, 'socket.io']);
      });
    }

    it('records binary_frame (not a second event) for a binary attachment whose count does not add up', async () => {
      const peer = await sioPeer(server);
      const mark = recorder.mark();
      peer.text('452-["chat.send",{"_placeholder":true,"num":0}]');
      peer.text('42["room.list",{"type":"room.list","id":"x"}]');
      await assertEnded(peer);
      await recorder.waitFor(mark, 'binary_frame');
      assert.deepEqual(
        recorder.since(mark).map((e) => e.type),
        ['binary_frame'],
      );
    });

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

    const pings = (n: number): Buffer => Buffer.concat(Array.from({ length: n }, () => encodeFrame({ opcode: OP.PING, payload: 'p' })));

    it('answers 60 pings in a burst; on the 61st (limits.maxPendingPongs) emits close {1008} and disconnects, recording ping_flood', async () => {
      const peer = await sioPeer(server);
      peer.write(pings(60));
      for (let i = 0; i < 60; i++) await peer.next((f) => f.opcode === OP.PONG);
      const mark = recorder.mark();
      peer.write(pings(61));
      await assertEnded(peer);
      assert.deepEqual(
        events(peer).find(([name]) => name === 'close'),
        ['close', { code: 1008, reason: 'ping flood' }],
      );
      const recorded = await recorder.waitFor(mark, 'ping_flood');
      assert.equal(recorded.length, 1);
      assert.match(String(recorded[0]!.user), /^sio-raw-/);
      assert.deepEqual(recorded[0]!.detail, { pending: 60, transport: 'socket.io' });
    });

    it('closes 1008 on a ping flood before CONNECT, recording ping_flood for the IP', async () => {
      const peer = await enginePeer(server);
      const mark = recorder.mark();
      peer.write(pings(200));
      await assertClosedWith(peer, 1008);
      const recorded = await recorder.waitFor(mark, 'ping_flood');
      assert.deepEqual([recorded.length, recorded[0]!.ip, recorded[0]!.user], [1, '127.0.0.1', undefined]);
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

describe('/socket.io/: a malformed packet counts toward the abuse score', () => {
  let server: TestServer;
  before(async () => {
    // malformed_frame weighs 5: two from one address reach the threshold.
    server = await conformanceServer({}, { abuse: { threshold: 10 }, trustProxy: ['127.0.0.1'] });
  });
  after(() => server.stop());

  it('bans the address that sends two undecodable packets', async () => {
    const ip = '203.0.113.71';
    for (const packet of ['9hello', '42[']) {
      const peer = await enginePeer(server, { 'X-Forwarded-For': ip });
      peer.text(packet);
      await assertEnded(peer);
    }
    assert.ok(await eventually(() => server.bulwark.bans.active('ip', ip) !== undefined), 'banned by its abuse score');
  });
});

describe("/socket.io/: the client's engine.io CLOSE packet", () => {
  let server: TestServer;
  before(async () => {
    server = await conformanceServer();
  });
  after(() => server.stop());

  const released = (): Promise<boolean> =>
    eventually(async () => JSON.stringify(await admissionGauges(server, 'socket.io')) === JSON.stringify({ handshakes: 0, pendingAuth: 0, authenticated: 0 }));

  for (const [what, open, held] of [
    ['an authenticated session', sioPeer, { handshakes: 0, pendingAuth: 0, authenticated: 1 }],
    ['a session that has not sent CONNECT', enginePeer, { handshakes: 0, pendingAuth: 1, authenticated: 0 }],
  ] as const) {
    it(`ends ${what} at once and gives back its admission places`, async () => {
      const peer = await open(server);
      assert.deepEqual(await admissionGauges(server, 'socket.io'), held);
      peer.text('1');
      await assertEnded(peer);
      assert.ok(await released(), `gauges: ${JSON.stringify(await admissionGauges(server, 'socket.io'))}`);
      assert.ok(await eventually(() => server.bulwark.hub.openCount === 0), 'the connection left the hub');
    });
  }
});
