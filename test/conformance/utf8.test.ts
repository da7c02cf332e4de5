/**
 * UTF-8 on `/ws` (RFC 6455 5.6 and 8.1, docs/protocol.md "Session"): a text message or close
 * reason that is not valid UTF-8 closes `1007` — whole, split across fragments, truncated,
 * overlong, a UTF-16 surrogate, past U+10FFFF — while a valid character split across a fragment
 * boundary is accepted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from '../helpers/server.js';
import { EventRecorder } from '../helpers/events.js';
import { OP, closePayload, type RawPeer } from './wire.js';
import { assertAnswers, assertClosedWith, authedPeer, expectClosedWithEvent, recordedServer } from './support.js';

/** A `room.list` frame whose unknown field `t` holds `bytes` verbatim (no re-encoding). */
function frameWith(id: string, bytes: number[]): Buffer {
  return Buffer.concat([Buffer.from(`{"type":"room.list","id":"${id}","t":"`), Buffer.from(bytes), Buffer.from('"}')]);
}

const INVALID: Array<[string, number[]]> = [
  ['a lone continuation byte', [0x80]],
  ['0xFF', [0xff]],
  ['0xFE', [0xfe]],
  ['a truncated 3-byte sequence', [0xe2, 0x82]],
  ['a truncated 4-byte sequence', [0xf0, 0x9f, 0x98]],
  ['an overlong "/" (2 bytes)', [0xc0, 0xaf]],
  ['an overlong "/" (3 bytes)', [0xe0, 0x80, 0xaf]],
  ['an overlong NUL (2 bytes)', [0xc0, 0x80]],
  ['the high surrogate U+D800', [0xed, 0xa0, 0x80]],
  ['the low surrogate U+DFFF', [0xed, 0xbf, 0xbf]],
  ['a CESU-8 surrogate pair', [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
  ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
  ['a 5-byte sequence', [0xf8, 0x88, 0x80, 0x80, 0x80]],
];

describe('UTF-8 validation on /ws', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => ({ server, recorder } = await recordedServer()));
  after(() => server.stop());

  const expect1007 = (send: (peer: RawPeer) => void): Promise<void> => expectClosedWithEvent(server, recorder, send, 1007, 'malformed_frame', 'WS_ERR_INVALID_UTF8');

  describe('a whole message', () => {
    for (const [what, bytes] of INVALID) {
      it(`closes 1007 on ${what}`, () => expect1007((peer) => peer.send({ opcode: OP.TEXT, payload: frameWith('u8', bytes) })));
    }

    it('closes 1007 when the message ends inside a multi-byte sequence', () =>
      expect1007((peer) => peer.send({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.from('{"type":"room.list","id":"end"}'), Buffer.from([0xe2, 0x82])]) })));
  });

  describe('split across fragments', () => {
    it('accepts a 4-byte character split across three fragments', async () => {
      const peer = await authedPeer(server);
      const whole = frameWith('split-ok', [0xf0, 0x9f, 0x98, 0x80]);
      const cut = whole.indexOf(0xf0);
      peer.send({ opcode: OP.TEXT, payload: whole.subarray(0, cut + 1), fin: false });
      peer.send({ opcode: OP.CONT, payload: whole.subarray(cut + 1, cut + 3), fin: false });
      peer.send({ opcode: OP.CONT, payload: whole.subarray(cut + 3) });
      const reply = await peer.nextJson((f) => f.id === 'split-ok');
      assert.equal(reply.code, 'INVALID_PAYLOAD', 'decoded and validated (t is an unknown field)');
      assert.deepEqual(reply.details, [{ path: 't', message: 'unknown field' }]);
      peer.destroy();
    });

    it('closes 1007 when a sequence started in one fragment is broken in the next', () =>
      expect1007((peer) => {
        peer.send({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.from('{"type":"room.list","id":"s","t":"'), Buffer.from([0xe2, 0x82])]), fin: false });
        peer.send({ opcode: OP.CONT, payload: Buffer.from('x"}') });
      }));

    it('closes 1007 on a surrogate whose bytes are spread over fragments', () =>
      expect1007((peer) => {
        peer.send({ opcode: OP.TEXT, payload: Buffer.concat([Buffer.from('{"t":"'), Buffer.from([0xed])]), fin: false });
        peer.send({ opcode: OP.CONT, payload: Buffer.from([0xa0]), fin: false });
        peer.send({ opcode: OP.CONT, payload: Buffer.concat([Buffer.from([0x80]), Buffer.from('"}')]) });
      }));

    it('closes 1007 on invalid bytes in a middle fragment of otherwise valid JSON', () =>
      expect1007((peer) => {
        peer.send({ opcode: OP.TEXT, payload: '{"type":"room.list",', fin: false });
        peer.send({ opcode: OP.CONT, payload: Buffer.from([0x22, 0x74, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x2c]), fin: false });
        peer.send({ opcode: OP.CONT, payload: '"id":"mid"}' });
      }));
  });

  describe('close reasons', () => {
    it('closes 1007 on a close frame whose reason is not valid UTF-8', () =>
      expect1007((peer) => peer.send({ opcode: OP.CLOSE, payload: closePayload(1000, Buffer.from([0xce, 0xba, 0xe1, 0xbd])) })));

    it('accepts a close reason in valid multi-byte UTF-8', async () => {
      const peer = await authedPeer(server);
      peer.send({ opcode: OP.CLOSE, payload: closePayload(1000, 'κόσμε 😀') });
      await assertClosedWith(peer, 1000);
    });
  });

  it('accepts valid UTF-8 at the edges: U+0000 escaped, U+FFFF, U+10FFFF, 4-byte emoji', async () => {
    const peer = await authedPeer(server);
    peer.send({ opcode: OP.TEXT, payload: frameWith('edges', [...Buffer.from('\\u0000'), 0xef, 0xbf, 0xbf, 0xf4, 0x8f, 0xbf, 0xbf, 0xf0, 0x9f, 0x92, 0xa9]) });
    const reply = await peer.nextJson((f) => f.id === 'edges');
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    await assertAnswers(peer);
    peer.destroy();
  });
});
