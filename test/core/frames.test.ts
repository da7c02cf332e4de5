/**
 * Contract section 4, the frame router: one strict schema per client frame type, the error
 * shapes (BAD_REQUEST, INVALID_PAYLOAD with details, UNKNOWN_TYPE), exactly one reply per `id`,
 * frames of a connection answered in order, prototype keys inert, and the session-level closes
 * (1003 binary, 1009 too big, 4400 too many malformed frames).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CLIENT_FRAME_TYPES } from '../../src/protocol/frames.js';
import { ERROR_CODES } from '../../src/protocol/errors.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { closedWithin, LOOSE_LIMITS, variedText } from './fixtures.js';

/**
 * One valid frame of every client type (written from the contract's table), sent by `owner`,
 * an admin who owns room `lobby` where `guest` is a member and message `msg` was written.
 */
function validFrames(ctx: { token: string; msgId: string }): Record<string, Record<string, unknown>> {
  return {
    auth: { type: 'auth', token: ctx.token },
    'auth.refresh': { type: 'auth.refresh', id: 'f-refresh', token: ctx.token },
    'room.create': { type: 'room.create', id: 'f-create', room: 'schema-room', visibility: 'private' },
    'room.join': { type: 'room.join', id: 'f-join', room: 'lobby', since: 0 },
    'room.leave': { type: 'room.leave', id: 'f-leave', room: 'lobby' },
    'room.invite': { type: 'room.invite', id: 'f-invite', room: 'lobby', user: 'guest' },
    'room.kick': { type: 'room.kick', id: 'f-kick', room: 'lobby', user: 'guest' },
    'room.delete': { type: 'room.delete', id: 'f-delete', room: 'lobby' },
    'room.list': { type: 'room.list', id: 'f-list' },
    'chat.send': { type: 'chat.send', id: 'f-send', room: 'lobby', text: 'hi', replyTo: ctx.msgId, ts: Date.now() },
    'chat.history': { type: 'chat.history', id: 'f-history', room: 'lobby', before: 10, after: 0, limit: 5 },
    'chat.delete': { type: 'chat.delete', id: 'f-chatdelete', room: 'lobby', message: ctx.msgId },
    'chat.edit': { type: 'chat.edit', id: 'f-edit', room: 'lobby', message: ctx.msgId, text: 'edited' },
    'chat.typing': { type: 'chat.typing', room: 'lobby' },
    presence: { type: 'presence', id: 'f-presence', room: 'lobby' },
    'admin.broadcast': { type: 'admin.broadcast', id: 'f-broadcast', text: 'notice' },
  };
}

describe('the frame router', () => {
  let server: TestServer;
  let owner: TestClient;
  let msgId: string;

  before(async () => {
    server = await startServer({ config: { ...LOOSE_LIMITS, limits: { maxPayloadBytes: 4096, maxMalformedFrames: 5, maxMessageChars: 8000 } } });
    owner = await connect(server, 'owner', { roles: ['admin'] });
    await owner.ok({ type: 'room.create', room: 'lobby', visibility: 'public' });
    await owner.ok({ type: 'room.join', room: 'lobby' });
    const ack = await owner.ok({ type: 'chat.send', room: 'lobby', text: 'first' });
    msgId = (ack.message as { id: string }).id;
  });
  after(() => server.stop());

  /** A fresh connection per test, so malformed-frame counts never add up across tests. */
  async function fresh(sub = 'router'): Promise<TestClient> {
    return connect(server, sub);
  }

  it('has a valid sample for every client frame type', () => {
    assert.deepEqual(Object.keys(validFrames({ token: 't', msgId: 'm' })).sort(), [...CLIENT_FRAME_TYPES].sort());
  });

  for (const type of CLIENT_FRAME_TYPES) {
    it(`refuses an unknown field on ${type} with INVALID_PAYLOAD naming the field`, async () => {
      const client = await fresh();
      const frame = validFrames({ token: await server.token('router'), msgId })[type]!;
      const id = `unknown-${type.replace('.', '-')}`;
      const reply = await client.request({ ...frame, id, sneaky: 1 });
      assert.equal(reply.type, 'error');
      assert.equal(reply.code, 'INVALID_PAYLOAD');
      // `chat.typing` takes no id: the one added here to correlate the reply is unknown too.
      const unknown = type === 'chat.typing' ? ['id', 'sneaky'] : ['sneaky'];
      assert.deepEqual(
        reply.details,
        unknown.map((path) => ({ path, message: 'unknown field' })),
      );
      assert.equal(typeof reply.message, 'string');
      client.close();
    });
  }

  it('accepts the full sample of every frame type through the schema (no INVALID_PAYLOAD)', async () => {
    // The owner is an admin: every frame is allowed; the order leaves `lobby` deleted at the end.
    const client = await connect(server, 'owner', { roles: ['admin'] });
    const frames = validFrames({ token: await server.token('owner', { roles: ['admin'] }), msgId });
    for (const type of [
      'room.create',
      'room.join',
      'room.invite',
      'room.list',
      'chat.send',
      'chat.history',
      'chat.edit',
      'presence',
      'auth.refresh',
      'admin.broadcast',
      'chat.delete',
      'room.kick',
      'room.leave',
      'room.delete',
    ]) {
      const reply = await client.request(frames[type]!);
      assert.equal(reply.type, 'ack', `${type}: ${JSON.stringify(reply)}`);
    }
    client.close();
    // Put the shared room back for the remaining tests.
    await owner.ok({ type: 'room.create', room: 'lobby', visibility: 'public' });
    await owner.ok({ type: 'room.join', room: 'lobby' });
    const ack = await owner.ok({ type: 'chat.send', room: 'lobby', text: 'first again' });
    msgId = (ack.message as { id: string }).id;
  });

  it('refuses a wrong type, a missing field and a too-long string with INVALID_PAYLOAD and one detail each', async () => {
    const client = await fresh();
    const wrongType = await client.request({ type: 'room.create', room: 'r1', visibility: 'secret' });
    assert.equal(wrongType.code, 'INVALID_PAYLOAD');
    assert.deepEqual(
      (wrongType.details as Array<{ path: string }>).map((d) => d.path),
      ['visibility'],
    );
    const missing = await client.request({ type: 'chat.send', room: 'lobby' });
    assert.equal(missing.code, 'INVALID_PAYLOAD');
    assert.deepEqual(
      (missing.details as Array<{ path: string }>).map((d) => d.path),
      ['text'],
    );
    client.close();
    const other = await fresh();
    const tooLong = await other.request({ type: 'room.join', room: 'r'.repeat(65) });
    assert.equal(tooLong.code, 'INVALID_PAYLOAD');
    assert.deepEqual(
      (tooLong.details as Array<{ path: string }>).map((d) => d.path),
      ['room'],
    );
    for (const detail of tooLong.details as Array<Record<string, unknown>>) {
      assert.deepEqual(Object.keys(detail).sort(), ['message', 'path']);
      assert.equal(typeof detail.message, 'string');
    }
    other.close();
  });

  it('requires an id on frames whose reply is an ack', async () => {
    const client = await fresh();
    client.send({ type: 'room.list' });
    const reply = await client.next('error');
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.equal(reply.id, undefined);
    assert.deepEqual(
      (reply.details as Array<{ path: string }>).map((d) => d.path),
      ['id'],
    );
    client.close();
  });

  it('refuses an id outside 1-64 characters of [A-Za-z0-9_-] and answers without an id', async () => {
    const client = await fresh();
    client.send({ type: 'room.list', id: 'has space' });
    const reply = await client.next('error');
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.equal(reply.id, undefined);
    client.send({ type: 'room.list', id: 'x'.repeat(65) });
    const second = await client.next('error');
    assert.equal(second.code, 'INVALID_PAYLOAD');
    const okReply = await client.request({ type: 'room.list', id: 'A-z_0'.padEnd(64, '9') });
    assert.equal(okReply.type, 'ack');
    client.close();
  });

  it('answers a frame that is not a JSON object with BAD_REQUEST', async () => {
    const client = await fresh();
    for (const raw of ['not json', '[1,2]', '"text"', 'null']) {
      client.sendRaw(raw);
      const reply = await client.next('error');
      assert.equal(reply.code, 'BAD_REQUEST', raw);
      assert.equal(reply.id, undefined);
    }
    client.close();
  });

  it('answers an unknown frame type with UNKNOWN_TYPE and the id', async () => {
    const client = await fresh();
    const reply = await client.request({ type: 'room.explode', room: 'lobby' });
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'UNKNOWN_TYPE');
    const serverType = await client.request({ type: 'welcome' });
    assert.equal(serverType.code, 'UNKNOWN_TYPE', 'server frame types are not client frames');
    client.close();
  });

  it('answers a frame without a string type with INVALID_PAYLOAD on path type', async () => {
    const client = await fresh();
    const reply = await client.request({ type: 7 } as unknown as Frame);
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.deepEqual(
      (reply.details as Array<{ path: string }>).map((d) => d.path),
      ['type'],
    );
    client.close();
  });

  it('gives every frame with an id exactly one reply, ack or error, with that id', async () => {
    const client = await fresh('burst');
    const ids: string[] = [];
    const frames: Array<Record<string, unknown>> = [
      { type: 'room.list' },
      { type: 'room.join', room: 'lobby' },
      { type: 'chat.send', room: 'lobby', text: 'one' },
      { type: 'chat.send', room: 'nowhere', text: 'two' },
      { type: 'room.delete', room: 'lobby' },
      { type: 'admin.broadcast', text: 'no' },
      { type: 'chat.history', room: 'lobby', limit: 101 },
      { type: 'no.such.type' },
      { type: 'chat.history', room: 'lobby', limit: 3 },
      { type: 'room.create', room: 'lobby', visibility: 'public' },
    ];
    frames.forEach((frame, i) => {
      const id = `burst-${i}`;
      ids.push(id);
      client.send({ ...frame, id });
    });
    // A final marker: once it is answered, every earlier frame has been answered (in-order handling).
    await client.ok({ type: 'room.list', id: 'burst-end' });
    await new Promise((r) => setTimeout(r, 100));
    const replies = client.frames.filter((f) => f.type === 'ack' || f.type === 'error');
    for (const id of ids) assert.equal(replies.filter((f) => f.id === id).length, 1, `replies for ${id}`);
    const codes = ids.map((id) => {
      const r = replies.find((f) => f.id === id)!;
      return r.type === 'ack' ? 'ack' : r.code;
    });
    assert.deepEqual(codes, ['ack', 'ack', 'ack', 'NOT_FOUND', 'FORBIDDEN', 'FORBIDDEN', 'INVALID_PAYLOAD', 'UNKNOWN_TYPE', 'ack', 'CONFLICT']);
    client.close();
  });

  it('answers the frames of one connection in the order they were sent', async () => {
    const client = await fresh('pipeliner');
    const arrived: string[] = [];
    client.ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      if (frame.type === 'ack' || frame.type === 'error') arrived.push(`${String(frame.id)}:${frame.type === 'ack' ? 'ack' : String(frame.code)}`);
    });
    // Sent back to back without waiting: the join only works if the create was handled first.
    client.send({ type: 'room.create', id: 'p1', room: 'pipelined', visibility: 'public' });
    client.send({ type: 'room.join', id: 'p2', room: 'pipelined' });
    client.send({ type: 'chat.send', id: 'p3', room: 'pipelined', text: 'a' });
    client.send({ type: 'chat.send', id: 'p4', room: 'pipelined', text: 'b' });
    client.send({ type: 'room.delete', id: 'p5', room: 'pipelined' });
    await client.waitFor((f) => f.id === 'p5');
    assert.deepEqual(arrived, ['p1:ack', 'p2:ack', 'p3:ack', 'p4:ack', 'p5:ack']);
    client.close();
  });

  it('keeps __proto__ and constructor keys away from prototypes', async () => {
    const client = await fresh('proto');
    client.sendRaw('{"type":"admin.broadcast","id":"pp1","text":"x","__proto__":{"admin":true,"roles":["admin"]}}');
    const reply = await client.waitFor((f) => f.id === 'pp1');
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.deepEqual(
      (reply.details as Array<{ path: string }>).map((d) => d.path),
      ['__proto__'],
    );
    client.sendRaw('{"type":"room.list","id":"pp2","constructor":{"prototype":{"admin":true}}}');
    const second = await client.waitFor((f) => f.id === 'pp2');
    assert.equal(second.code, 'INVALID_PAYLOAD');
    // The server runs in this process: its Object.prototype must be untouched.
    assert.equal(({} as Record<string, unknown>).admin, undefined);
    assert.equal(({} as Record<string, unknown>).roles, undefined);
    const stillForbidden = await client.request({ type: 'admin.broadcast', text: 'x' });
    assert.equal(stillForbidden.code, 'FORBIDDEN');
    client.close();
  });

  it('sends only contract error codes, with a plain message and no stack, path or SQL', async () => {
    const client = await fresh('codes');
    const replies = [
      await client.request({ type: 'room.join', room: 'missing-room' }),
      await client.request({ type: 'room.delete', room: 'lobby' }),
      await client.request({ type: 'room.create', room: 'lobby', visibility: 'public' }),
      await client.request({ type: 'chat.history', room: 'lobby' }),
      await client.request({ type: 'bogus' }),
    ];
    for (const reply of replies) {
      assert.equal(reply.type, 'error');
      assert.ok((ERROR_CODES as readonly string[]).includes(String(reply.code)), String(reply.code));
      const message = String(reply.message);
      assert.ok(message.length > 0);
      assert.doesNotMatch(message, /\n\s+at |\/[a-z]+\/|SELECT|INSERT|SQLITE|\.ts\b|\.js\b/i);
    }
    client.close();
  });

  it('closes 1003 on a binary frame', async () => {
    const client = await fresh();
    client.sendRaw(Buffer.from('{"type":"room.list","id":"b"}'), true);
    assert.equal((await closedWithin(client)).code, 1003);
  });

  it('closes 1009 on a frame over limits.maxPayloadBytes, and accepts one just under it', async () => {
    const client = await fresh();
    const base = { type: 'chat.send', id: 'big', room: 'lobby', text: '' };
    const overhead = JSON.stringify(base).length;
    const under = await client.request({ ...base, text: variedText(4096 - overhead) });
    assert.notEqual(under.code, 'INVALID_PAYLOAD', 'a frame within the limit reaches the schema');
    client.send({ ...base, id: 'big2', text: variedText(4097 - overhead) });
    assert.equal((await closedWithin(client)).code, 1009);
  });

  it('closes 4400 after limits.maxMalformedFrames malformed frames', async () => {
    const client = await fresh();
    for (let i = 0; i < 4; i++) client.sendRaw('{nope');
    for (let i = 0; i < 4; i++) assert.equal((await client.next('error')).code, 'BAD_REQUEST');
    assert.equal((await client.request({ type: 'room.list' })).type, 'ack', 'four are tolerated');
    client.sendRaw('{nope');
    assert.equal((await closedWithin(client)).code, 4400);
  });
});

describe('a failing store', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
  });
  after(() => server.stop());

  it('answers INTERNAL with a plain sentence and leaks nothing about the failure', async () => {
    const client = await connect(server, 'unlucky');
    await server.bulwark.store.close(); // the database goes away under a live server
    const reply = await client.request({ type: 'room.join', room: 'anything' });
    assert.equal(reply.type, 'error');
    assert.equal(reply.code, 'INTERNAL');
    assert.equal(reply.message, 'Something went wrong on the server.');
    assert.deepEqual(Object.keys(reply).sort(), ['code', 'id', 'message', 'type']);
    assert.equal((await client.request({ type: 'room.list' })).code, 'INTERNAL', 'the connection stays usable');
    client.close();
  });
});
