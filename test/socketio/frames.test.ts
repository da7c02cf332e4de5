/**
 * Frame defences (contract sections 3 and 4) observed from the real `socket.io-client`: each
 * frame is an event named by its type, its reply arrives at the acknowledgement, and where `/ws`
 * would close with a code the client gets `close {code, reason}` and is disconnected.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { EventRecorder, ROOMY } from '../handshake/support.js';
import { sioConnect, sioRefused, statusOf, type Frame } from './support.js';

describe('Socket.IO frames', () => {
  let server: TestServer;
  let events: EventRecorder;
  before(async () => {
    server = await startServer({
      config: {
        ...ROOMY,
        rateLimits: { ...ROOMY.rateLimits, 'room.list': { points: 3, durationMs: 60_000 } },
        limits: { maxConnectionsPerIp: 1000, maxPayloadBytes: 4096, maxMessageChars: 8000 },
      },
    });
    events = new EventRecorder(server);
  });
  after(() => server.stop());

  it('answers a schema violation at the acknowledgement with INVALID_PAYLOAD naming the field', async () => {
    const client = await sioConnect(server, 'schema');
    const reply = await client.request({ type: 'room.create', id: 'c1', room: 'ok-room', visibility: 'public', owner: 'mallory' });
    assert.equal(reply.type, 'error');
    assert.equal(reply.id, 'c1');
    assert.equal(reply.code, 'INVALID_PAYLOAD');
    assert.deepEqual(reply.details, [{ path: 'owner', message: 'unknown field' }]);
    const bad = await client.request({ type: 'room.create', room: 'no spaces!', visibility: 'public' });
    assert.equal(bad.code, 'INVALID_PAYLOAD');
    assert.equal((bad.details as Array<{ path: string }>)[0]!.path, 'room');
    client.close();
  });

  it('answers an unknown event with UNKNOWN_TYPE', async () => {
    const client = await sioConnect(server, 'unknown');
    assert.equal((await client.request({ type: 'room.nuke', room: 'x' })).code, 'UNKNOWN_TYPE');
    client.close();
  });

  it('refuses a frame whose type differs from its event name with BAD_REQUEST, and does not run it', async () => {
    const owner = await sioConnect(server, 'owner-m');
    await owner.ok({ type: 'room.create', room: 'mismatch', visibility: 'public' });
    // `room.delete` smuggled inside a `room.list` event.
    const reply = (await owner.socket.timeout(3000).emitWithAck('room.list', { type: 'room.delete', id: 'd1', room: 'mismatch' })) as Frame;
    assert.equal(reply.code, 'BAD_REQUEST');
    const rooms = (await owner.ok({ type: 'room.list' })).rooms as Array<{ name: string }>;
    assert.ok(
      rooms.some((r) => r.name === 'mismatch'),
      'the room still exists',
    );
    owner.close();
  });

  it('answers a payload that is not an object with BAD_REQUEST, and closes 4400 after limits.maxMalformedFrames', async () => {
    const client = await sioConnect(server, 'malformed');
    const mark = events.mark();
    for (let i = 0; i < 4; i++) {
      const reply = (await client.socket.timeout(3000).emitWithAck('chat.send', 'just a string')) as Frame;
      assert.equal(reply.code, 'BAD_REQUEST');
    }
    assert.equal((await client.request({ type: 'room.list' })).type, 'ack', 'four are tolerated');
    client.socket.emit('chat.send', 42);
    assert.deepEqual(await client.closed, { code: 4400, reason: 'too many malformed frames' });
    assert.equal((await events.waitFor(mark, 'malformed_limit')).length, 1);
  });

  it('rate-limits a frame type per rateLimits.<type> with RATE_LIMITED and retryAfterMs', async () => {
    const client = await sioConnect(server, 'limited');
    for (let i = 0; i < 3; i++) assert.equal((await client.request({ type: 'room.list' })).type, 'ack');
    const reply = await client.request({ type: 'room.list' });
    assert.equal(reply.code, 'RATE_LIMITED');
    assert.ok((reply.retryAfterMs as number) > 0);
    client.close();
  });

  it('sanitizes message text before anyone sees it: script escaped, allowed markup kept, links get rel', async () => {
    const client = await sioConnect(server, 'writer');
    await client.ok({ type: 'room.create', room: 'sanitize', visibility: 'public' });
    await client.ok({ type: 'room.join', room: 'sanitize' });
    await client.ok({
      type: 'chat.send',
      room: 'sanitize',
      text: '<script>alert(1)</script> <b>bold</b> <a href="https://example.com">l</a> <a href="https://example.com" onclick="x()">o</a> <a href="javascript:alert(1)">j</a>',
    });
    const live = await client.next('chat.message');
    const text = (live.message as { text: string }).text;
    assert.ok(text.startsWith('&lt;script&gt;alert(1)&lt;/script&gt; <b>bold</b>'), text);
    assert.match(text, /<a href="https:\/\/example.com" rel="noopener noreferrer nofollow ugc">l<\/a>/);
    // A link with any other attribute, or another scheme, is shown as typed, as text.
    assert.match(text, /&lt;a href="https:\/\/example.com" onclick="x\(\)"&gt;o&lt;\/a&gt;/);
    assert.match(text, /&lt;a href="javascript:alert\(1\)"&gt;j&lt;\/a&gt;/);
    assert.doesNotMatch(text, /<script|<a [^>]*(onclick|javascript:)/);
    client.close();
  });

  it('answers a repeated chat.send id with the first ack marked duplicate, and delivers the message once', async () => {
    const client = await sioConnect(server, 'replayer');
    await client.ok({ type: 'room.create', room: 'replay', visibility: 'public' });
    await client.ok({ type: 'room.join', room: 'replay' });
    const first = await client.ok({ type: 'chat.send', id: 'once-1', room: 'replay', text: 'only once' });
    const again = await client.ok({ type: 'chat.send', id: 'once-1', room: 'replay', text: 'only once' });
    assert.deepEqual(again.message, first.message);
    assert.equal(again.duplicate, true);
    await client.next('chat.message');
    assert.ok(await client.quiet((f) => f.type === 'chat.message', 300), 'no second delivery');
    const history = await client.ok({ type: 'chat.history', room: 'replay' });
    assert.equal((history.messages as unknown[]).length, 1);
    client.close();
  });

  it('refuses a ts far from the server clock with REPLAY', async () => {
    const client = await sioConnect(server, 'skewed');
    await client.ok({ type: 'room.create', room: 'skew', visibility: 'public' });
    const reply = await client.request({ type: 'chat.send', room: 'skew', text: 'old news', ts: Date.now() - 3_600_000 });
    assert.equal(reply.code, 'REPLAY');
    client.close();
  });

  it('refuses spam with SPAM', async () => {
    const client = await sioConnect(server, 'spammer');
    await client.ok({ type: 'room.create', room: 'spam', visibility: 'public' });
    assert.equal((await client.request({ type: 'chat.send', room: 'spam', text: 'click here for free money' })).code, 'SPAM');
    client.close();
  });

  it('enforces authorization: FORBIDDEN to delete a room one does not own, or to broadcast without admin', async () => {
    const owner = await sioConnect(server, 'room-owner');
    const other = await sioConnect(server, 'not-owner');
    await owner.ok({ type: 'room.create', room: 'owned', visibility: 'public' });
    assert.equal((await other.request({ type: 'room.delete', room: 'owned' })).code, 'FORBIDDEN');
    assert.equal((await other.request({ type: 'admin.broadcast', text: 'hello all' })).code, 'FORBIDDEN');
    await owner.ok({ type: 'room.create', room: 'secret', visibility: 'private' });
    assert.equal((await other.request({ type: 'room.join', room: 'secret' })).code, 'FORBIDDEN');
    const admin = await sioConnect(server, 'root', { roles: ['admin'] });
    await admin.ok({ type: 'admin.broadcast', text: 'maintenance at noon' });
    assert.equal((await other.next('announcement')).text, 'maintenance at noon');
    owner.close();
    other.close();
    admin.close();
  });

  it('gives each frame with an id exactly one reply, at its acknowledgement and nowhere else', async () => {
    const client = await sioConnect(server, 'counter');
    const replies = await Promise.all([
      client.request({ type: 'room.create', id: 'x1', room: 'count', visibility: 'public' }),
      client.request({ type: 'room.join', id: 'x2', room: 'count' }),
      client.request({ type: 'room.join', id: 'x3', room: 'no-such-room' }),
      client.request({ type: 'room.create', id: 'x4', room: 'count', visibility: 'public' }),
    ]);
    assert.deepEqual(
      replies.map((r) => [r.id, r.type]),
      [
        ['x1', 'ack'],
        ['x2', 'ack'],
        ['x3', 'error'],
        ['x4', 'error'],
      ],
    );
    assert.ok(await client.quiet((f) => f.type === 'ack' || f.type === 'error', 200), 'no reply also arrives as an event');
    client.close();
  });

  it('sends the reply as an event when the client asked for no acknowledgement', async () => {
    const client = await sioConnect(server, 'no-ack');
    client.socket.emit('room.create', { type: 'room.create', id: 'evt-1', room: 'no-ack', visibility: 'public' });
    const ack = await client.waitFor((f) => f.type === 'ack' && f.id === 'evt-1');
    assert.equal((ack.room as { name: string }).name, 'no-ack');
    client.close();
  });

  it('closes 1003 on a binary attachment', async () => {
    const client = await sioConnect(server, 'binary');
    const mark = events.mark();
    client.socket.emit('chat.send', { type: 'chat.send', id: 'b1', room: 'x', text: 'hi', blob: Buffer.from([1, 2, 3]) });
    assert.deepEqual(await client.closed, { code: 1003, reason: 'binary frames are not accepted' });
    assert.equal((await events.waitFor(mark, 'binary_frame')).length, 1);
  });

  it('closes 1009 on a frame over limits.maxPayloadBytes, and accepts one just under it', async () => {
    const client = await sioConnect(server, 'big');
    await client.ok({ type: 'room.create', room: 'big', visibility: 'public' });
    await client.ok({ type: 'room.join', room: 'big' });
    const base = { type: 'chat.send', id: 'big1', room: 'big', text: '' };
    const overhead = JSON.stringify(base).length;
    const varied = (n: number): string => Array.from({ length: n }, (_, i) => 'abcdefghij'[i % 10]).join('');
    const under = await client.request({ ...base, text: varied(4096 - overhead) });
    assert.equal(under.type, 'ack', 'a frame of exactly limits.maxPayloadBytes is accepted, as on /ws');
    client.socket.emit('chat.send', { ...base, id: 'big2', text: varied(4097 - overhead) });
    assert.deepEqual(await client.closed, { code: 1009, reason: 'frame too big' });
  });
});

describe('Socket.IO abuse bans', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, abuse: { threshold: 20 } } });
  });
  after(() => server.stop());

  it('closes 4429 over abuse.threshold, then refuses the banned user at connect with {FORBIDDEN, 4403}', async () => {
    const owner = await sioConnect(server, 'owner');
    await owner.ok({ type: 'room.create', room: 'precious', visibility: 'public' });
    const client = await sioConnect(server, 'abuser');
    // A forbidden action weighs 5: four of them reach a threshold of 20.
    for (let i = 0; i < 4; i++) client.socket.emit('room.delete', { type: 'room.delete', id: `d${i}`, room: 'precious' });
    const closed = await client.closed;
    assert.equal(closed?.code, 4429);
    const refused = await sioRefused(server, { token: await server.token('abuser') });
    assert.deepEqual(refused.data, { code: 'FORBIDDEN', closeCode: 4403 });
    // Loopback is never IP-banned (abuse.banProxyIps), so another user still gets in.
    assert.equal(statusOf(await sioRefused(server, { token: 'x' })), undefined);
    owner.close();
  });
});
