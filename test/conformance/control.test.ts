/**
 * RFC 6455 control frames on `/ws` over raw TCP (sections 5.5 and 7.4): pings answered with their
 * payload, control frames over 125 bytes or fragmented refused `1002`, the closing handshake
 * echoing a valid code, invalid close codes and 1-byte close payloads refused `1002`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { TestServer } from '../helpers/server.js';
import type { SecurityEventRecord } from '../../src/store/store.js';
import { EventRecorder, storedEvents } from '../helpers/events.js';
import { OP, closePayload, encodeFrame, upgrade, type FrameSpec } from './wire.js';
import { assertAnswers, assertClosedWith, authedPeer, expectClosedWithEvent, recordedServer } from './support.js';

describe('RFC 6455 control frames on /ws', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => ({ server, recorder } = await recordedServer()));
  after(() => server.stop());

  const expectProtocolError = (frame: FrameSpec, reason?: string): Promise<void> => expectClosedWithEvent(server, recorder, [frame], 1002, 'malformed_frame', reason);

  describe('ping and pong', () => {
    it('answers a ping with a pong carrying the same payload, up to 125 bytes', async () => {
      const peer = await authedPeer(server);
      for (const payload of [Buffer.alloc(0), Buffer.from('hello'), Buffer.alloc(125, 0xab)]) {
        peer.send({ opcode: OP.PING, payload });
        const pong = await peer.next((f) => f.opcode === OP.PONG);
        assert.deepEqual(pong.payload, payload);
        assert.equal(pong.fin, true);
      }
      await assertAnswers(peer);
      peer.destroy();
    });

    it('answers a burst of 60 pings, and closes 1008 a peer that sends 61 before their pongs are written (limits.maxPendingPongs), recording ping_flood', async () => {
      const burst = (n: number): Buffer => Buffer.concat(Array.from({ length: n }, () => encodeFrame({ opcode: OP.PING, payload: 'p' })));
      const fine = await authedPeer(server);
      fine.write(burst(60));
      for (let i = 0; i < 60; i++) await fine.next((f) => f.opcode === OP.PONG);
      await assertAnswers(fine);
      fine.destroy();
      const mark = recorder.mark();
      const flood = await authedPeer(server);
      flood.write(burst(61));
      assert.deepEqual(await flood.ending(), { code: 1008, reason: 'ping flood' });
      const events = await recorder.waitFor(mark, 'ping_flood');
      assert.equal(events.length, 1);
      assert.equal(events[0]!.severity, 'warning');
      assert.equal(events[0]!.detail?.pending, 60);
    });

    it('aggregates ping floods from one anonymous source into one stored row with a count', async () => {
      const burst = Buffer.concat(Array.from({ length: 200 }, () => encodeFrame({ opcode: OP.PING, payload: 'p' })));
      for (let i = 0; i < 4; i++) {
        const flood = await upgrade(server.url);
        flood.write(burst);
        assert.equal(((await flood.ending()) as { code: number }).code, 1008);
      }
      const rows = (await storedEvents(server, 'ping_flood')).filter((r) => r.user === undefined);
      const counted = (list: SecurityEventRecord[]): number => list.reduce((n, r) => n + (r.count ?? 1), 0);
      assert.equal(counted(rows), 4, 'every flood counted');
      // One row per source and clock minute: two if the minute turned during the loop.
      assert.ok(rows.length <= 2, `rows: ${JSON.stringify(rows)}`);
    });

    it('ignores an unsolicited pong', async () => {
      const peer = await authedPeer(server);
      peer.send({ opcode: OP.PONG, payload: 'nobody asked' });
      await assertAnswers(peer);
      assert.equal(peer.closed, false);
      peer.destroy();
    });
  });

  describe('control frames over 125 bytes or fragmented', () => {
    for (const [name, opcode] of [
      ['ping', OP.PING],
      ['pong', OP.PONG],
      ['close', OP.CLOSE],
    ] as const) {
      it(`closes 1002 on a ${name} of 126 bytes`, () =>
        expectProtocolError({ opcode, payload: opcode === OP.CLOSE ? closePayload(1000, 'x'.repeat(124)) : Buffer.alloc(126) }, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'));

      it(`closes 1002 on a fragmented ${name} (FIN clear)`, () =>
        expectProtocolError({ opcode, fin: false, payload: opcode === OP.CLOSE ? closePayload(1000) : Buffer.from('x') }, 'WS_ERR_EXPECTED_FIN'));
    }

    it('closes 1002 on a ping that declares 126 bytes in the 16-bit form', () => expectProtocolError({ opcode: OP.PING, declaredLength: 126, payload: Buffer.alloc(126) }));
  });

  describe('the closing handshake', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999]) {
      it(`echoes a client close with the valid code ${code} and ends the connection`, async () => {
        const peer = await authedPeer(server);
        peer.send({ opcode: OP.CLOSE, payload: closePayload(code, 'bye') });
        await assertClosedWith(peer, code);
      });
    }

    it('answers a close without a payload with a close without a code (1005 seen by the client)', async () => {
      const peer = await authedPeer(server);
      peer.send({ opcode: OP.CLOSE });
      await assertClosedWith(peer, 1005);
    });

    it('accepts a close reason of the largest size (123 bytes)', async () => {
      const peer = await authedPeer(server);
      peer.send({ opcode: OP.CLOSE, payload: closePayload(1000, 'r'.repeat(123)) });
      await assertClosedWith(peer, 1000);
    });

    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
      it(`closes 1002 on a client close with the invalid code ${code}`, () => expectProtocolError({ opcode: OP.CLOSE, payload: closePayload(code) }, 'WS_ERR_INVALID_CLOSE_CODE'));
    }

    it('closes 1002 on a close frame with a 1-byte payload', () =>
      expectProtocolError({ opcode: OP.CLOSE, payload: Buffer.from([0x03]) }, 'WS_ERR_INVALID_CONTROL_PAYLOAD_LENGTH'));
  });

  it('still serves a fresh connection after every violation above', async () => {
    const peer = await authedPeer(server);
    await assertAnswers(peer);
    peer.destroy();
  });
});
