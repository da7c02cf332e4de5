/**
 * Strict frame schemas (contract section 4, issue 4 item 3): for every client frame type an
 * unknown field, a wrong type, an over-long string or a missing field is `INVALID_PAYLOAD` with
 * `details: [{path, message}]`; a malformed `id` is refused without being echoed; every frame
 * that carries a well-formed `id` gets exactly one reply.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_FRAME_TYPES, TEXT_HARD_MAX } from '../../src/protocol/frames.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { discard, loose, outcome, sleep, uniq } from './support.js';

const MAX_CHARS = 500;

/** A valid frame of each type (ids are added per request). */
const VALID: Record<string, Record<string, unknown>> = {
  auth: { type: 'auth', token: 'x.y.z' },
  'auth.refresh': { type: 'auth.refresh', token: 'x.y.z' },
  'room.create': { type: 'room.create', room: 'schema-room', visibility: 'public' },
  'room.join': { type: 'room.join', room: 'schema-room', since: 0 },
  'room.leave': { type: 'room.leave', room: 'schema-room' },
  'room.invite': { type: 'room.invite', room: 'schema-room', user: 'someone' },
  'room.kick': { type: 'room.kick', room: 'schema-room', user: 'someone' },
  'room.delete': { type: 'room.delete', room: 'schema-room' },
  'room.list': { type: 'room.list' },
  'chat.send': { type: 'chat.send', room: 'schema-room', text: 'hello', replyTo: 'm1', ts: Date.now() },
  'chat.history': { type: 'chat.history', room: 'schema-room', before: 10, after: 1, limit: 5 },
  'chat.delete': { type: 'chat.delete', room: 'schema-room', message: 'm1' },
  'chat.edit': { type: 'chat.edit', room: 'schema-room', message: 'm1', text: 'hello again' },
  // No id in its schema: the id these tests add is one more unknown field, reported beside the one under test.
  'chat.typing': { type: 'chat.typing', room: 'schema-room' },
  presence: { type: 'presence', room: 'schema-room' },
  'admin.broadcast': { type: 'admin.broadcast', text: 'hello' },
};

/** Per field: values of the wrong type, and (for strings) one just over the limit. */
const WRONG: Record<string, unknown[]> = {
  token: [42, null, {}, ['a'], true],
  room: [42, null, {}, ['r'], true, '', 'has space', 'semi;colon', 'x'.repeat(65)],
  visibility: ['secret', 1, null, true],
  since: ['1', -1, 1.5, null, {}],
  user: [42, null, {}, ['u'], '', 'u'.repeat(129), 'bell\u0007'],
  text: [42, null, {}, ['t'], true, 'x'.repeat(TEXT_HARD_MAX + 1)],
  replyTo: [42, null, {}, '', 'has space', 'm'.repeat(65)],
  ts: ['now', -1, 1.5, null, {}],
  before: ['1', -1, 1.5, null],
  after: ['1', -1, 1.5, null],
  limit: ['5', 0, 101, 1.5, null],
  message: [42, null, {}, '', 'has space', 'm'.repeat(65)],
};

/** Required fields per type (besides `type`). */
const REQUIRED: Record<string, string[]> = {
  auth: ['token'],
  'auth.refresh': ['id', 'token'],
  'room.create': ['id', 'room', 'visibility'],
  'room.join': ['id', 'room'],
  'room.leave': ['id', 'room'],
  'room.invite': ['id', 'room', 'user'],
  'room.kick': ['id', 'room', 'user'],
  'room.delete': ['id', 'room'],
  'room.list': ['id'],
  'chat.send': ['id', 'room', 'text'],
  'chat.history': ['id', 'room'],
  'chat.delete': ['id', 'room', 'message'],
  'chat.edit': ['id', 'room', 'message', 'text'],
  'chat.typing': ['room'],
  presence: ['id', 'room'],
  'admin.broadcast': ['id', 'text'],
};

interface Detail {
  path: string;
  message: string;
}

function assertDetails(reply: Frame, path: string, what: string): void {
  assert.equal(reply.type, 'error', `${what}: refused (${JSON.stringify(reply).slice(0, 300)})`);
  assert.equal(reply.code, 'INVALID_PAYLOAD', `${what}: ${JSON.stringify(reply).slice(0, 300)}`);
  assert.ok(Array.isArray(reply.details) && reply.details.length > 0, `${what}: details present`);
  const details = reply.details as Detail[];
  for (const d of details) {
    assert.equal(typeof d.path, 'string', `${what}: detail.path is a string`);
    assert.equal(typeof d.message, 'string', `${what}: detail.message is a string`);
    assert.ok(d.message.length > 0 && d.message.length < 300, `${what}: detail.message is a short sentence`);
  }
  assert.ok(
    details.some((d) => d.path === path || d.path.startsWith(`${path}.`)),
    `${what}: a detail names "${path}": ${JSON.stringify(details)}`,
  );
}

describe('strict frame schemas', () => {
  let server: TestServer;
  let client: TestClient;
  let admin: TestClient;
  before(async () => {
    server = await startServer({
      config: loose({ limits: { maxPayloadBytes: 256 * 1024, maxMalformedFrames: 1_000_000, maxMessageChars: MAX_CHARS, maxConnectionsPerIp: 1000 } }),
    });
    client = await connect(server, uniq('schema'));
    admin = await connect(server, uniq('schema-admin'), { roles: ['admin'] });
  });
  after(() => server.stop());

  it('covers every client frame type of the protocol', () => {
    assert.deepEqual(Object.keys(VALID).sort(), [...CLIENT_FRAME_TYPES].sort());
  });

  for (const type of CLIENT_FRAME_TYPES) {
    it(`${type}: an unknown field is INVALID_PAYLOAD with details naming the field`, async () => {
      const reply = await client.request({ ...VALID[type], sneaky: 1 });
      assertDetails(reply, 'sneaky', `${type} + sneaky`);
      assert.equal((reply.details as Detail[]).find((d) => d.path === 'sneaky')!.message, 'unknown field');
    });

    const fields = Object.keys(VALID[type]!).filter((f) => f !== 'type');
    for (const field of fields) {
      it(`${type}: a wrong type or over-long value for "${field}" is INVALID_PAYLOAD naming "${field}"`, async () => {
        for (const bad of WRONG[field]!) {
          const reply = await client.request({ ...VALID[type], [field]: bad });
          assertDetails(reply, field, `${type}.${field} = ${JSON.stringify(bad).slice(0, 40)}`);
        }
      });
    }

    for (const field of REQUIRED[type]!.filter((f) => f !== 'id')) {
      it(`${type}: a missing "${field}" is INVALID_PAYLOAD naming "${field}"`, async () => {
        const frame: Record<string, unknown> = { ...VALID[type], id: uniq('miss') };
        delete frame[field];
        client.send(frame);
        assertDetails(await client.waitFor((f) => f.id === frame.id), field, `${type} without ${field}`);
      });
    }

    if (REQUIRED[type]!.includes('id')) {
      it(`${type}: a missing id is INVALID_PAYLOAD (with no id to correlate)`, async () => {
        client.send({ ...VALID[type] });
        const reply = await client.waitFor((f) => f.type === 'error' || f.type === 'ack');
        assertDetails(reply, 'id', `${type} without id`);
        assert.equal(reply.id, undefined);
      });
    }
  }

  it('refuses a frame without a type or with a non-string type as INVALID_PAYLOAD naming "type"', async () => {
    for (const type of [undefined, 42, null, ['room.list'], { x: 1 }]) {
      const id = uniq('typ');
      client.send({ type, id });
      assertDetails(await client.waitFor((f) => f.id === id), 'type', `type = ${JSON.stringify(type)}`);
    }
  });

  it('answers an unknown type with UNKNOWN_TYPE, correlated by id', async () => {
    for (const type of ['room.destroy', 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'welcome', 'ack']) {
      const reply = await client.request({ type });
      assert.equal(reply.code, 'UNKNOWN_TYPE', `type ${type}`);
    }
  });

  it('applies limits.maxMessageChars after trimming to chat.send and admin.broadcast text', async () => {
    const room = uniq('chars');
    await client.ok({ type: 'room.create', room, visibility: 'public' });
    await client.ok({ type: 'room.join', room });
    assertDetails(
      await client.request({ type: 'chat.send', room, text: 'y'.repeat(MAX_CHARS + 1).replace(/y/g, (_m, i: number) => 'abcdefghij'[i % 10]!) }),
      'text',
      'text over maxMessageChars',
    );
    assertDetails(await client.request({ type: 'chat.send', room, text: '   \n\t  ' }), 'text', 'whitespace-only text');
    assertDetails(
      await admin.request({ type: 'admin.broadcast', text: 'z'.repeat(MAX_CHARS + 1).replace(/z/g, (_m, i: number) => 'klmnopqrst'[i % 10]!) }),
      'text',
      'broadcast over maxMessageChars',
    );
    const padded = `   ${'abcdefghij'.repeat(MAX_CHARS / 10)}   `;
    assert.equal(outcome(await client.request({ type: 'chat.send', room, text: padded })), 'ack', 'exactly maxMessageChars after trimming passes');
    discard(client, 'chat.message');
  });

  describe('malformed ids', () => {
    const badIds: Array<[string, unknown]> = [
      ['65 characters', 'a'.repeat(65)],
      ['spaces', 'has a space'],
      ['markup', '<script>alert(1)</script>'],
      ['a newline', 'line\nbreak'],
      ['an empty string', ''],
      ['unicode letters', 'ünïcødé'],
      ['a number', 12345],
      ['an object', { nested: 'id' }],
    ];
    for (const [what, id] of badIds) {
      it(`refuses an id with ${what} as INVALID_PAYLOAD naming "id", without echoing it`, async () => {
        client.send({ type: 'room.list', id });
        const reply = await client.waitFor((f) => f.type === 'error' || f.type === 'ack');
        assertDetails(reply, 'id', `id with ${what}`);
        assert.equal(reply.id, undefined, 'the bad id is not put back on the wire as an id');
        if (typeof id === 'string' && id.length > 0) assert.ok(!JSON.stringify(reply).includes(JSON.stringify(id).slice(1, -1)), 'the bad id appears nowhere in the reply');
      });
    }

    it('accepts an id of exactly 64 characters of the id alphabet', async () => {
      const id = `${'A-z_9'.repeat(12)}abcd`;
      assert.equal(id.length, 64);
      const reply = await client.request({ type: 'room.list', id });
      assert.equal(reply.type, 'ack');
      assert.equal(reply.id, id);
    });
  });

  it('gives exactly one reply per id across a pipelined mix of good, invalid, refused and failing frames', async () => {
    const mixer = await connect(server, uniq('mixer'));
    const room = uniq('mix');
    const frames: Array<Record<string, unknown>> = [
      { type: 'room.create', room, visibility: 'public' },
      { type: 'room.join', room },
      { type: 'chat.send', room, text: 'first' },
      { type: 'chat.send', room, text: 'second', extra: true },
      { type: 'chat.send', room: 'no-such-room', text: 'third' },
      { type: 'room.create', room, visibility: 'public' },
      { type: 'chat.history', room, limit: 500 },
      { type: 'chat.history', room },
      { type: 'room.list' },
      { type: 'room.kick', room, user: mixer.welcome ? 'x' : 'y' },
      { type: 'admin.broadcast', text: 'not an admin' },
      { type: 'no.such.type' },
      { type: 'chat.delete', room, message: 'nope' },
      { type: 'auth', token: 'again' },
      { type: 'chat.send', room, text: 'fourth', ts: 1 },
      { type: 'room.leave', room },
    ];
    const ids = frames.map((_, i) => `mix${i}`);
    frames.forEach((f, i) => mixer.send({ ...f, id: ids[i] }));
    // Wait for every reply, then give a stray second reply time to show up.
    for (const id of ids) await mixer.waitFor((f) => (f.type === 'ack' || f.type === 'error') && f.id === id).then((f) => mixer.frames.push(f));
    await sleep(300);
    const replies = mixer.frames.filter((f) => f.type === 'ack' || f.type === 'error');
    for (const id of ids) assert.equal(replies.filter((f) => f.id === id).length, 1, `one reply for ${id}`);
    assert.equal(replies.length, ids.length, 'no reply without an id, no extra reply');
    const byId = Object.fromEntries(replies.map((f) => [f.id as string, outcome(f)]));
    assert.deepEqual(byId, {
      mix0: 'ack',
      mix1: 'ack',
      mix2: 'ack',
      mix3: 'INVALID_PAYLOAD',
      mix4: 'NOT_FOUND',
      mix5: 'CONFLICT',
      mix6: 'INVALID_PAYLOAD',
      mix7: 'ack',
      mix8: 'ack',
      mix9: 'ack',
      mix10: 'FORBIDDEN',
      mix11: 'UNKNOWN_TYPE',
      mix12: 'NOT_FOUND',
      mix13: 'BAD_REQUEST',
      mix14: 'REPLAY',
      mix15: 'ack',
    });
    mixer.close();
  });
});
