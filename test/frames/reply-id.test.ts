/**
 * Exactly one reply per `id` (docs/protocol.md "Frames", issue 15 items 1, 2 and 4): a frame over
 * the depth/width bounds keeps its `id` and is INVALID_PAYLOAD with details; a malformed `id` is
 * INVALID_PAYLOAD on path `id` whatever else the frame holds; before authentication a refused
 * frame that carries an `id` gets `error {id, code}` and only then the close 4401/4403.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, openSocket, type Frame, type TestClient } from '../helpers/client.js';
import { EventRecorder, closeCode, loose, uniq } from './support.js';
import { epoch, signHs } from '../handshake/support.js';

const isReply = (f: Frame): boolean => f.type === 'ack' || f.type === 'error';
const paths = (reply: Frame): string[] => (reply.details as Array<{ path: string }>).map((d) => d.path);

describe('a frame over the depth and width bounds keeps its id', () => {
  let server: TestServer;
  let client: TestClient;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: loose({ limits: { maxMalformedFrames: 10_000, maxConnectionsPerIp: 1000 } }) });
    recorder = new EventRecorder(server);
    client = await connect(server, uniq('bounds'));
  });
  after(() => server.stop());

  it('answers the five-deep replyTo of the issue with INVALID_PAYLOAD, the id and the field', async () => {
    const mark = recorder.mark();
    client.sendRaw('{"type":"chat.send","id":"deep5","room":"r","text":"x","replyTo":{"a":{"b":{"c":{"d":{}}}}}}');
    const reply = await client.waitFor(isReply);
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.equal(reply.id, 'deep5');
    assert.deepEqual(paths(reply), ['replyTo']);
    const events = await recorder.waitFor(mark, 'invalid_payload');
    assert.equal(events[0]!.detail?.reason, 'too_complex');
  });

  it('answers a frame with 40 keys with INVALID_PAYLOAD and the id, once', async () => {
    const frame: Record<string, unknown> = { type: 'room.list', id: 'wide40' };
    for (let i = 0; i < 38; i++) frame[`k${i}`] = i;
    client.send(frame);
    const reply = await client.waitFor(isReply);
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.equal(reply.id, 'wide40');
    assert.deepEqual(paths(reply), ['(frame)']);
    assert.ok(await client.quiet((f) => f.id === 'wide40'), 'no second reply');
  });

  it('still answers a frame just inside the bounds through the schema', async () => {
    const reply = await client.request({ type: 'room.list', id: 'inside', x: { a: { b: { c: 1 } } } });
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.deepEqual(paths(reply), ['x'], 'the schema, not the bounds, refused the unknown field');
  });
});

describe('a malformed id', () => {
  let server: TestServer;
  let client: TestClient;
  before(async () => {
    server = await startServer({ config: loose({ limits: { maxMalformedFrames: 10_000, maxConnectionsPerIp: 1000 } }) });
    client = await connect(server, uniq('ids'));
  });
  after(() => server.stop());

  const cases: Array<[string, Record<string, unknown>]> = [
    ['with a space', { type: 'room.list', id: 'has space' }],
    ['of 65 characters', { type: 'room.list', id: 'x'.repeat(65) }],
    ['that is empty', { type: 'room.list', id: '' }],
    ['that is a number', { type: 'room.list', id: 7 }],
    ['on an unknown type', { type: 'room.nuke', id: 'has space' }],
    ['on a frame without a type', { id: 'has space' }],
    ['on a frame over the bounds', { type: 'room.list', id: 'has space', x: { a: { b: { c: { d: {} } } } } }],
  ];
  for (const [what, frame] of cases) {
    it(`${what} is INVALID_PAYLOAD on path id, without an id`, async () => {
      client.send(frame);
      const reply = await client.waitFor(isReply);
      assert.equal(reply.type, 'error');
      assert.equal(reply.code, 'INVALID_PAYLOAD');
      assert.equal(reply.id, undefined);
      assert.equal(paths(reply)[0], 'id');
      assert.equal(typeof (reply.details as Array<{ message: unknown }>)[0]!.message, 'string');
    });
  }

  it('leaves the frames around it answered normally', async () => {
    assert.equal((await client.request({ type: 'room.list', id: 'A-z_0'.padEnd(64, '9') })).type, 'ack');
  });
});

describe('before authentication, a refused frame with an id is answered, then closed', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: loose({ limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 1 } }) });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  /** Sends one frame on a fresh unauthenticated socket; returns what came back before the close. */
  async function refused(raw: string): Promise<{ frames: Frame[]; code: number | 'open' }> {
    const client = await openSocket(server);
    client.sendRaw(raw);
    const code = await closeCode(client);
    return { frames: client.frames, code };
  }

  it('answers an auth frame with an invalid token: error {id, UNAUTHENTICATED}, then 4401', async () => {
    const mark = recorder.mark();
    const { frames, code } = await refused(JSON.stringify({ type: 'auth', id: 'a1', token: 'not-a-jwt' }));
    assert.equal(code, 4401);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.type, 'error');
    assert.equal(frames[0]!.id, 'a1');
    assert.equal(frames[0]!.code, 'UNAUTHENTICATED');
    assert.equal(typeof frames[0]!.message, 'string');
    assert.equal((await recorder.waitFor(mark, 'auth_failed')).length, 1);
  });

  it('answers an auth frame with an expired token the same way', async () => {
    const token = await signHs(server, { sub: uniq('expired'), exp: epoch(-600) });
    const { frames, code } = await refused(JSON.stringify({ type: 'auth', id: 'a2', token }));
    assert.equal(code, 4401);
    assert.deepEqual(
      frames.map((f) => [f.type, f.id, f.code]),
      [['error', 'a2', 'UNAUTHENTICATED']],
    );
  });

  it('answers an auth frame refused by the per-user cap with RATE_LIMITED and retryAfterMs, then 4429', async () => {
    const sub = uniq('capped');
    const first = await connect(server, sub);
    const { frames, code } = await refused(JSON.stringify({ type: 'auth', id: 'a3', token: await server.token(sub) }));
    assert.equal(code, 4429);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.id, 'a3');
    assert.equal(frames[0]!.code, 'RATE_LIMITED');
    assert.equal(typeof frames[0]!.retryAfterMs, 'number');
    first.close();
  });

  it('answers an auth frame that fails its schema with INVALID_PAYLOAD and details, then 4401', async () => {
    const { frames, code } = await refused(JSON.stringify({ type: 'auth', id: 'a4', token: 't', extra: 1 }));
    assert.equal(code, 4401);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.id, 'a4');
    assert.equal(frames[0]!.code, 'INVALID_PAYLOAD');
    assert.deepEqual(paths(frames[0]!), ['extra']);
  });

  it('answers an over-deep auth frame with INVALID_PAYLOAD and its id, then 4401', async () => {
    const { frames, code } = await refused('{"type":"auth","id":"a5","token":{"a":{"b":{"c":{"d":{}}}}}}');
    assert.equal(code, 4401);
    assert.deepEqual(
      frames.map((f) => [f.type, f.id, f.code]),
      [['error', 'a5', 'INVALID_PAYLOAD']],
    );
  });

  it('answers another frame sent first with error {id, UNAUTHENTICATED}, then 4401', async () => {
    const { frames, code } = await refused(JSON.stringify({ type: 'room.list', id: 'early' }));
    assert.equal(code, 4401);
    assert.deepEqual(
      frames.map((f) => [f.type, f.id, f.code]),
      [['error', 'early', 'UNAUTHENTICATED']],
    );
  });

  it('answers an auth frame with a malformed id without an id, then 4401', async () => {
    const { frames, code } = await refused(JSON.stringify({ type: 'auth', id: 'has space', token: await server.token(uniq('badid')) }));
    assert.equal(code, 4401);
    assert.equal(frames.length, 1);
    assert.equal(frames[0]!.id, undefined);
    assert.equal(frames[0]!.code, 'INVALID_PAYLOAD');
    assert.deepEqual(paths(frames[0]!), ['id']);
  });

  it('still only closes, without a reply, when the refused frame has no id', async () => {
    const { frames, code } = await refused(JSON.stringify({ type: 'auth', token: 'not-a-jwt' }));
    assert.equal(code, 4401);
    assert.deepEqual(frames, []);
    const garbage = await refused('not json');
    assert.equal(garbage.code, 4401);
    assert.deepEqual(garbage.frames, []);
  });

  it('answers a valid auth frame with its id on welcome', async () => {
    const client = await openSocket(server);
    client.send({ type: 'auth', id: 'ok1', token: await server.token(uniq('fine')) });
    const welcome = await client.next('welcome');
    assert.equal(welcome.id, 'ok1');
    client.close();
  });
});
