/**
 * Size, type and fragment limits on `/ws` over raw TCP (docs/protocol.md "Session"): a binary
 * message closes `1003`; a message over `limits.maxPayloadBytes` (default 16 KiB) closes `1009`,
 * from the declared length alone, before any of the body is read or buffered; a message in more
 * than `limits.maxFragments` fragments (default 128) closes `1008`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { TestServer } from '../helpers/server.js';
import { EventRecorder, eventually } from '../helpers/events.js';
import { ConfigSchema } from '../../src/config/schema.js';
import { OP, encodeFrame, upgrade } from './wire.js';
import { assertAnswers, assertClosedWith, authedPeer, conformanceServer, fragments, recordedServer } from './support.js';

const KiB = 1024;

// A full collection before each memory reading, so what is measured is what the server keeps,
// not socket reads that are already garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** A `room.list` frame padded with an unknown field to exactly `bytes` bytes. */
function paddedFrame(id: string, bytes: number): string {
  const bare = JSON.stringify({ type: 'room.list', id, pad: '' });
  const text = JSON.stringify({ type: 'room.list', id, pad: 'x'.repeat(bytes - bare.length) });
  assert.equal(Buffer.byteLength(text), bytes);
  return text;
}

describe('defaults', () => {
  it('limits a frame to 16 KiB and a message to 128 fragments unless configured', () => {
    const limits = ConfigSchema.parse({}).limits;
    assert.equal(limits.maxPayloadBytes, 16 * KiB);
    assert.equal(limits.maxFragments, 128);
  });

  it('refuses a fragment limit of 0 or over 16,384 at start-up, naming the key', () => {
    for (const bad of [0, -1, 16_385, 1.5]) {
      const result = ConfigSchema.safeParse({ limits: { maxFragments: bad } });
      assert.equal(result.success, false, String(bad));
      assert.deepEqual(result.error!.issues[0]!.path, ['limits', 'maxFragments']);
    }
  });
});

describe('binary and size limits on /ws (defaults)', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => ({ server, recorder } = await recordedServer()));
  after(() => server.stop());

  it('tells the client the 16 KiB limit in welcome', async () => {
    const peer = await upgrade(server.url);
    const welcome = await peer.auth(await server.token('limits-welcome'));
    assert.deepEqual((welcome.limits as { maxPayloadBytes: number }).maxPayloadBytes, 16 * KiB);
    peer.destroy();
  });

  for (const [what, frames] of [
    ['a binary frame', [{ opcode: OP.BINARY, payload: Buffer.from('{"type":"room.list","id":"b"}') }]],
    ['an empty binary frame', [{ opcode: OP.BINARY }]],
    [
      'a fragmented binary message',
      [
        { opcode: OP.BINARY, payload: Buffer.from([1]), fin: false },
        { opcode: OP.CONT, payload: Buffer.from([2]) },
      ],
    ],
  ] as const) {
    it(`closes 1003 on ${what}, with a binary_frame event and no reply`, async () => {
      const peer = await authedPeer(server);
      const mark = recorder.mark();
      for (const f of frames) peer.send(f);
      await assertClosedWith(peer, 1003);
      assert.equal((await recorder.waitFor(mark, 'binary_frame')).length, 1);
      assert.equal(peer.frames.filter((f) => f.opcode === OP.TEXT).length, 0);
    });
  }

  it('answers a frame of exactly 16 KiB', async () => {
    const peer = await authedPeer(server);
    peer.text(paddedFrame('at-limit', 16 * KiB));
    const reply = await peer.nextJson((f) => f.id === 'at-limit');
    assert.equal(reply.code, 'INVALID_PAYLOAD', 'parsed and validated (pad is an unknown field)');
    peer.destroy();
  });

  it('closes 1009 on a frame of 16 KiB + 1, with a frame_too_big event and no reply', async () => {
    const peer = await authedPeer(server);
    const mark = recorder.mark();
    peer.text(paddedFrame('over-limit', 16 * KiB + 1));
    await assertClosedWith(peer, 1009);
    assert.equal((await recorder.waitFor(mark, 'frame_too_big')).length, 1);
    assert.equal(peer.frames.filter((f) => f.opcode === OP.TEXT).length, 0);
  });

  it('closes 1009 as soon as the fragments of one message add up to more than the limit', async () => {
    const peer = await authedPeer(server);
    const text = paddedFrame('frag-over', 16 * KiB + 1);
    const parts = fragments(text, 4);
    // The last fragment's body is never sent: its header alone takes the total over the limit.
    for (const part of parts.slice(0, 3)) peer.send(part);
    peer.send({ ...parts[3]!, declaredLength: parts[3]!.payload.length, payload: Buffer.alloc(0) });
    await assertClosedWith(peer, 1009);
  });

  for (const [form, declared] of [
    ['16-bit', 16 * KiB + 1],
    ['64-bit', 256 * KiB * KiB],
  ] as const) {
    it(`closes 1009 on a ${form} declared length over the limit from the header alone, before any body`, async () => {
      const peer = await authedPeer(server);
      const sent = peer.bytesSent;
      peer.send({ opcode: OP.TEXT, declaredLength: declared, payload: Buffer.alloc(0) });
      await assertClosedWith(peer, 1009);
      assert.equal(peer.bytesSent - sent, form === '16-bit' ? 8 : 14, 'only the header was sent');
    });
  }

  it('does not buffer the body of a refused over-limit frame: server memory stays flat while 32 MiB are pushed at it', async () => {
    const open = server.bulwark.hub.openCount;
    const peers = await Promise.all(Array.from({ length: 8 }, () => authedPeer(server)));
    gc();
    const before = process.memoryUsage();
    const body = Buffer.alloc(64 * KiB, 0x61);
    for (const peer of peers) {
      // Each declares 256 MiB and then streams 4 MiB of body right behind the header.
      peer.write(encodeFrame({ opcode: OP.TEXT, declaredLength: 256 * KiB * KiB, long: true }));
      for (let i = 0; i < 64; i++) peer.write(body);
    }
    for (const peer of peers) await assertClosedWith(peer, 1009);
    // Measured while the connections are still open (so anything buffered for them would still be
    // held), once the client has handed every byte to the kernel and the server has had time to read them.
    assert.ok(await eventually(() => peers.every((peer) => peer.socket.writableLength === 0 || peer.socket.destroyed), 10_000), 'the body was sent');
    await new Promise((resolve) => setTimeout(resolve, 300));
    gc();
    const after = process.memoryUsage();
    const grew = after.arrayBuffers - before.arrayBuffers;
    for (const peer of peers) peer.destroy();
    await Promise.all(peers.map((peer) => peer.gone));
    // Buffering the bodies keeps all 32 MiB (checked by hand once with a limit above the declared length).
    assert.ok(grew < 16 * KiB * KiB, `Buffer memory kept grew by ${(grew / KiB / KiB).toFixed(1)} MiB for 32 MiB of refused body`);
    assert.ok(await eventually(() => server.bulwark.hub.openCount <= open, 5000), 'the server released the connections');
  });

  it('still serves a fresh connection afterwards', async () => {
    const peer = await authedPeer(server);
    await assertAnswers(peer);
    peer.destroy();
  });
});

describe('the fragment limit on /ws', () => {
  let server: TestServer;
  let small: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await conformanceServer();
    small = await conformanceServer({ maxFragments: 4 });
    recorder = new EventRecorder(server);
  });
  after(async () => {
    await server.stop();
    await small.stop();
  });

  /** One message in `n` fragments, the first carrying the whole JSON and the rest empty. */
  function sendInFragments(peer: Awaited<ReturnType<typeof authedPeer>>, id: string, n: number): void {
    const bytes: Buffer[] = [encodeFrame({ opcode: OP.TEXT, payload: JSON.stringify({ type: 'room.list', id }), fin: n === 1 })];
    for (let i = 1; i < n; i++) bytes.push(encodeFrame({ opcode: OP.CONT, fin: i === n - 1 }));
    peer.write(Buffer.concat(bytes));
  }

  it('accepts a message in exactly 128 fragments (the default)', async () => {
    const peer = await authedPeer(server);
    sendInFragments(peer, 'frags-128', 128);
    assert.equal((await peer.nextJson((f) => f.id === 'frags-128')).type, 'ack');
    peer.destroy();
  });

  it('closes 1008 on the 129th fragment of one message, with an event and no reply', async () => {
    const peer = await authedPeer(server);
    const mark = recorder.mark();
    sendInFragments(peer, 'frags-129', 129);
    await assertClosedWith(peer, 1008);
    const events = await recorder.waitFor(mark, 'malformed_frame');
    assert.equal(events[0]?.detail?.reason, 'WS_ERR_TOO_MANY_BUFFERED_PARTS');
    assert.equal(peer.frames.filter((f) => f.opcode === OP.TEXT).length, 0);
  });

  it('closes 1008 on a flood of 100,000 empty fragments long before the end of the flood', async () => {
    const peer = await authedPeer(server);
    const empty = encodeFrame({ opcode: OP.CONT, fin: false });
    peer.write(encodeFrame({ opcode: OP.TEXT, fin: false }));
    for (let sent = 0; sent < 100_000 && !peer.closed; sent += 1000) {
      peer.write(Buffer.concat(Array.from({ length: 1000 }, () => empty)));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await assertClosedWith(peer, 1008);
  });

  it('counts fragments per message: many messages of 128 fragments each are fine', async () => {
    const peer = await authedPeer(server);
    for (let i = 0; i < 5; i++) sendInFragments(peer, `many-${i}`, 128);
    for (let i = 0; i < 5; i++) assert.equal((await peer.nextJson((f) => f.id === `many-${i}`)).type, 'ack');
    peer.destroy();
  });

  it('does not count pings between fragments as fragments', async () => {
    const peer = await authedPeer(server);
    const frames: Buffer[] = [encodeFrame({ opcode: OP.TEXT, payload: JSON.stringify({ type: 'room.list', id: 'pings' }), fin: false })];
    for (let i = 0; i < 50; i++) frames.push(encodeFrame({ opcode: OP.PING }));
    frames.push(encodeFrame({ opcode: OP.CONT }));
    peer.write(Buffer.concat(frames));
    assert.equal((await peer.nextJson((f) => f.id === 'pings')).type, 'ack');
    peer.destroy();
  });

  it('follows limits.maxFragments: 4 fragments pass, 5 close 1008', async () => {
    const ok = await authedPeer(small);
    sendInFragments(ok, 'four', 4);
    assert.equal((await ok.nextJson((f) => f.id === 'four')).type, 'ack');
    ok.destroy();
    const over = await authedPeer(small);
    sendInFragments(over, 'five', 5);
    await assertClosedWith(over, 1008);
  });
});
