/**
 * RFC 6455 framing on `/ws`, byte by byte over raw TCP (docs/protocol.md "Session"): fragmented
 * messages (with control frames between the fragments), continuation and data frames out of
 * place, reserved bits, reserved opcodes, unmasked client frames and 64-bit lengths with the top
 * bit set. A violation closes `1002` with a `malformed_frame` event naming ws's reason; the
 * server stays healthy for everyone else.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from '../helpers/server.js';
import { EventRecorder } from '../helpers/events.js';
import { OP, upgrade, type FrameSpec } from './wire.js';
import { assertAnswers, assertClosedWith, authedPeer, expectClosedWithEvent, fragments, recordedServer } from './support.js';

describe('RFC 6455 framing on /ws', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => ({ server, recorder } = await recordedServer()));
  after(() => server.stop());

  /** Sends the frames on a fresh authenticated peer and expects close `code` with a protocol event. */
  const expectClose = (frames: FrameSpec[], code: number, reason?: string): Promise<void> =>
    expectClosedWithEvent(server, recorder, frames, code, code === 1009 ? 'frame_too_big' : 'malformed_frame', reason);

  describe('fragmentation', () => {
    it('assembles a text message sent in three fragments and answers it', async () => {
      const peer = await authedPeer(server);
      for (const f of fragments(JSON.stringify({ type: 'room.list', id: 'frag3' }), 3)) peer.send(f);
      const reply = await peer.nextJson((f) => f.id === 'frag3');
      assert.equal(reply.type, 'ack');
      peer.destroy();
    });

    it('answers pings sent between fragments at once, with their payloads, and still assembles the message', async () => {
      const peer = await authedPeer(server);
      const [first, second, third] = fragments(JSON.stringify({ type: 'room.list', id: 'frag-ping' }), 3);
      peer.send(first!);
      peer.send({ opcode: OP.PING, payload: 'p1' });
      peer.send(second!);
      peer.send({ opcode: OP.PING, payload: Buffer.alloc(125, 7) });
      const pong1 = await peer.next((f) => f.opcode === OP.PONG);
      const pong2 = await peer.next((f) => f.opcode === OP.PONG);
      assert.equal(pong1.payload.toString(), 'p1');
      assert.deepEqual(pong2.payload, Buffer.alloc(125, 7));
      assert.equal(pong1.masked || pong2.masked, false, 'server frames are never masked');
      peer.send(third!);
      assert.equal((await peer.nextJson((f) => f.id === 'frag-ping')).type, 'ack');
      peer.destroy();
    });

    it('ignores an unsolicited pong between fragments', async () => {
      const peer = await authedPeer(server);
      const [first, second] = fragments(JSON.stringify({ type: 'room.list', id: 'frag-pong' }), 2);
      peer.send(first!);
      peer.send({ opcode: OP.PONG, payload: 'unsolicited' });
      peer.send(second!);
      assert.equal((await peer.nextJson((f) => f.id === 'frag-pong')).type, 'ack');
      peer.destroy();
    });

    it('accepts empty fragments within a message', async () => {
      const peer = await authedPeer(server);
      const text = JSON.stringify({ type: 'room.list', id: 'frag-empty' });
      peer.send({ opcode: OP.TEXT, payload: '', fin: false });
      peer.send({ opcode: OP.CONT, payload: text, fin: false });
      peer.send({ opcode: OP.CONT, payload: '', fin: true });
      assert.equal((await peer.nextJson((f) => f.id === 'frag-empty')).type, 'ack');
      peer.destroy();
    });

    it('closes 1002 on a continuation frame without a message to continue', () =>
      expectClose([{ opcode: OP.CONT, payload: '{"type":"room.list","id":"x"}' }], 1002, 'WS_ERR_INVALID_OPCODE'));

    it('closes 1002 on a new text frame inside a fragmented message', () =>
      expectClose(
        [
          { opcode: OP.TEXT, payload: '{"type":', fin: false },
          { opcode: OP.TEXT, payload: '{"type":"room.list","id":"inner"}' },
        ],
        1002,
        'WS_ERR_INVALID_OPCODE',
      ));

    it('closes 1002 on a binary frame inside a fragmented text message', () =>
      expectClose(
        [
          { opcode: OP.TEXT, payload: '{"type":', fin: false },
          { opcode: OP.BINARY, payload: Buffer.from([1, 2, 3]) },
        ],
        1002,
        'WS_ERR_INVALID_OPCODE',
      ));
  });

  describe('reserved bits', () => {
    for (const [bit, rsv, reason] of [
      ['RSV1 (no extension negotiated)', 4, 'WS_ERR_UNEXPECTED_RSV_1'],
      ['RSV2', 2, 'WS_ERR_UNEXPECTED_RSV_2_3'],
      ['RSV3', 1, 'WS_ERR_UNEXPECTED_RSV_2_3'],
    ] as const) {
      it(`closes 1002 on a text frame with ${bit} set`, () => expectClose([{ opcode: OP.TEXT, rsv, payload: '{"type":"room.list","id":"r"}' }], 1002, reason));
    }

    it('closes 1002 on RSV1 set on a continuation frame', () =>
      expectClose(
        [
          { opcode: OP.TEXT, payload: '{"type":', fin: false },
          { opcode: OP.CONT, rsv: 4, payload: '"room.list"}' },
        ],
        1002,
      ));

    it('closes 1002 on RSV1 set on a ping', () => expectClose([{ opcode: OP.PING, rsv: 4, payload: 'x' }], 1002));
  });

  describe('reserved opcodes', () => {
    for (const opcode of [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
      it(`closes 1002 on opcode 0x${opcode.toString(16)}`, () => expectClose([{ opcode, payload: 'x' }], 1002, 'WS_ERR_INVALID_OPCODE'));
    }
  });

  describe('masking', () => {
    it('closes 1002 on an unmasked text frame', () => expectClose([{ opcode: OP.TEXT, mask: false, payload: '{"type":"room.list","id":"u"}' }], 1002, 'WS_ERR_EXPECTED_MASK'));

    it('closes 1002 on an unmasked ping', () => expectClose([{ opcode: OP.PING, mask: false, payload: 'x' }], 1002, 'WS_ERR_EXPECTED_MASK'));

    it('closes 1002 on an unmasked frame before authentication too', async () => {
      const peer = await upgrade(server.url);
      peer.send({ opcode: OP.TEXT, mask: false, payload: '{"type":"auth","token":"x"}' });
      await assertClosedWith(peer, 1002);
    });
  });

  describe('64-bit lengths', () => {
    // RFC 6455 5.2: the most significant bit of a 64-bit length MUST be 0. Such a length is over
    // every size limit as well; ws refuses it as too big (1009) from the header alone.
    for (const [what, length] of [
      ['the top bit set', 0x8000_0000_0000_0000n],
      ['all bits set', 0xffff_ffff_ffff_ffffn],
      ['just over 2^53', 2n ** 53n],
    ] as const) {
      it(`refuses a length with ${what} from the header alone (1009), without waiting for a body`, async () => {
        const peer = await authedPeer(server);
        const mark = recorder.mark();
        const sent = peer.bytesSent;
        peer.send({ opcode: OP.TEXT, declaredLength: length, long: true, payload: '' });
        await assertClosedWith(peer, 1009);
        assert.equal(peer.bytesSent - sent, 14, 'only the 14 header bytes (2 + 8 length + 4 mask) were ever sent');
        assert.equal((await recorder.waitFor(mark, 'frame_too_big')).length, 1);
      });
    }

    it('accepts the 64-bit form for a short payload (the length value, not its form, is what counts)', async () => {
      const peer = await authedPeer(server);
      peer.send({ opcode: OP.TEXT, long: true, payload: JSON.stringify({ type: 'room.list', id: 'long-form' }) });
      assert.equal((await peer.nextJson((f) => f.id === 'long-form')).type, 'ack');
      peer.destroy();
    });
  });

  it('still serves a fresh connection after every violation above', async () => {
    const peer = await authedPeer(server);
    await assertAnswers(peer);
    peer.destroy();
  });
});
