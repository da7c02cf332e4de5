/**
 * The `bulwark/guard` examples, run against real clients: an existing Socket.IO app and an
 * existing `ws` app get Bulwark's handshake and frame defences and report its security events.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { mintToken } from '../../src/auth/jwt.js';
import { AuthSchema } from '../../src/config/schema.js';
import type { SecurityEventRecord } from '../../src/embed/index.js';
import { start as startSocketIoApp } from '../../examples/socketio-app.js';
import { start as startWsApp } from '../../examples/ws-app.js';

const SECRET = 'an-example-secret-of-at-least-32-characters';
const ORIGIN = 'http://app.example';
const token = (sub: string, ttlMs = 60_000): Promise<string> => mintToken(new TextEncoder().encode(SECRET), AuthSchema.parse({}), { sub, ttlMs });
type Frame = Record<string, unknown>;

function config(dataDir: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    dataDir,
    auth: { secret: SECRET },
    origins: { allowed: [ORIGIN] },
    rateLimits: { 'chat.send': { points: 5, durationMs: 60_000 } },
    ...extra,
  };
}

describe('examples/socketio-app.ts', () => {
  let app: Awaited<ReturnType<typeof startSocketIoApp>>;
  let dataDir: string;
  const events: SecurityEventRecord[] = [];
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bulwark-guard-'));
    app = await startSocketIoApp(config(dataDir));
    app.guard.onEvent((e) => events.push(e));
  });
  after(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const open = (auth: Record<string, unknown>, origin = ORIGIN): Socket =>
    io(app.url, { transports: ['websocket'], auth, extraHeaders: { Origin: origin }, reconnection: false, forceNew: true });
  const connected = (socket: Socket): Promise<void> =>
    new Promise((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
  const refused = async (socket: Socket): Promise<{ message: string; data: unknown }> => {
    try {
      await connected(socket);
      throw new Error('connected');
    } catch (error) {
      return { message: (error as Error).message, data: (error as { data?: unknown }).data };
    } finally {
      socket.close();
    }
  };

  it('runs the app for a valid token: join, send, and the room gets sanitized text', async () => {
    const socket = open({ token: await token('alice') });
    await connected(socket);
    const messages: Frame[] = [];
    socket.on('chat:message', (m: Frame) => messages.push(m));
    assert.deepEqual(await socket.emitWithAck('room:join', { room: 'lobby' }), { type: 'ack', room: 'lobby' });
    const ack = (await socket.emitWithAck('chat:send', { id: 'm1', room: 'lobby', text: 'hi <script>x()</script>' })) as Frame;
    assert.equal(ack.type, 'ack');
    assert.equal(ack.delivered, true);
    for (let i = 0; i < 50 && messages.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(messages, [{ room: 'lobby', from: 'alice', text: 'hi &lt;script&gt;x()&lt;/script&gt;' }]);
    socket.close();
  });

  it('refuses a forged Origin and a bad token with connect_error data, and reports the events', async () => {
    const mark = events.length;
    assert.deepEqual((await refused(open({ token: await token('alice') }, 'http://evil.example'))).data, { code: 'FORBIDDEN', closeCode: 4403 });
    assert.deepEqual((await refused(open({ token: 'forged' }))).data, { code: 'UNAUTHENTICATED', closeCode: 4401 });
    assert.deepEqual((await refused(open({}))).data, { code: 'UNAUTHENTICATED', closeCode: 4401 });
    assert.deepEqual(
      events.slice(mark).map((e) => e.type),
      ['origin_rejected', 'auth_failed', 'auth_failed'],
    );
  });

  it('validates with the app schema, answers a replayed id with the first ack, refuses spam and rate excess', async () => {
    const socket = open({ token: await token('bob') });
    await connected(socket);
    await socket.emitWithAck('room:join', { room: 'r2' });
    const invalid = (await socket.emitWithAck('chat:send', { id: 'x', room: 'r2', text: 'hi', admin: true })) as Frame;
    assert.equal(invalid.code, 'INVALID_PAYLOAD');
    const first = (await socket.emitWithAck('chat:send', { id: 'same', room: 'r2', text: 'once' })) as Frame;
    const again = (await socket.emitWithAck('chat:send', { id: 'same', room: 'r2', text: 'once' })) as Frame;
    assert.equal(first.delivered, true);
    assert.equal(again.duplicate, true);
    assert.equal(((await socket.emitWithAck('chat:send', { id: 'sp', room: 'r2', text: 'buy now!!' })) as Frame).code, 'SPAM');
    const codes: unknown[] = [];
    for (let i = 0; i < 5; i++) codes.push(((await socket.emitWithAck('chat:send', { id: `n${i}`, room: 'r2', text: `message ${i}` })) as Frame).code);
    assert.ok(codes.includes('RATE_LIMITED'), JSON.stringify(codes));
    socket.close();
  });

  it('answers an over-deep message INVALID_PAYLOAD with its id and the field, as the server does', async () => {
    const socket = open({ token: await token('dave') });
    await connected(socket);
    const mark = events.length;
    const reply = (await socket.emitWithAck('chat:send', { id: 'deep-1', room: 'r', text: 'x', meta: { a: { b: { c: { d: {} } } } } })) as Frame;
    assert.deepEqual(reply, {
      type: 'error',
      id: 'deep-1',
      code: 'INVALID_PAYLOAD',
      message: reply.message,
      details: [{ path: 'meta', message: 'nested deeper than 4 levels or more than 32 keys or items' }],
    });
    assert.deepEqual(
      events.slice(mark).map((e) => [e.type, e.detail?.reason]),
      [['invalid_payload', 'too_complex']],
    );
    socket.close();
  });

  it('closes a socket that sends binary with close {1003}', async () => {
    const socket = open({ token: await token('carol') });
    await connected(socket);
    const closed = new Promise<Frame>((resolve) => socket.once('close', resolve));
    socket.emit('chat:send', { id: 'b', room: 'r', text: 'x', blob: Buffer.from([1]) });
    assert.deepEqual(await closed, { code: 1003, reason: 'binary frames are not accepted' });
    socket.close();
  });
});

describe('examples/ws-app.ts', () => {
  let app: Awaited<ReturnType<typeof startWsApp>>;
  let dataDir: string;
  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'bulwark-guard-'));
    app = await startWsApp(config(dataDir));
  });
  after(async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const wsUrl = (): string => app.url.replace(/^http/, 'ws');
  function open(headers: Record<string, string>, protocols: string[] = []): Promise<{ ws: WebSocket; frames: Frame[]; next: () => Promise<Frame>; closed: Promise<number> }> {
    const ws = new WebSocket(wsUrl(), protocols, { headers });
    const frames: Frame[] = [];
    const waiters: Array<(f: Frame) => void> = [];
    ws.on('message', (d) => {
      const f = JSON.parse(String(d)) as Frame;
      const w = waiters.shift();
      if (w) w(f);
      else frames.push(f);
    });
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    const next = (): Promise<Frame> => (frames.length ? Promise.resolve(frames.shift()!) : new Promise((resolve) => waiters.push(resolve)));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve({ ws, frames, next, closed }));
      ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(String(res.statusCode)), { status: res.statusCode })));
      ws.once('error', reject);
    });
  }
  const status = async (headers: Record<string, string>, protocols?: string[]): Promise<number> => {
    try {
      (await open(headers, protocols)).ws.close();
      return 101;
    } catch (error) {
      return (error as { status: number }).status;
    }
  };

  it('refuses the handshake for a forged Origin (403), no token (401) and a bad token (401)', async () => {
    assert.equal(await status({ Origin: 'http://evil.example', Authorization: `Bearer ${await token('a')}` }), 403);
    assert.equal(await status({ Origin: ORIGIN }), 401);
    assert.equal(await status({ Origin: ORIGIN, Authorization: 'Bearer nope' }), 401);
    assert.equal(await status({ Origin: ORIGIN, Authorization: `Bearer ${await token('a')}` }), 101);
  });

  it('accepts a bearer subprotocol without echoing it', async () => {
    const client = await open({ Origin: ORIGIN }, ['chat', `bulwark.bearer.${await token('a')}`]);
    assert.equal(client.ws.protocol, 'chat');
    client.ws.close();
  });

  it('runs the app with contract frames: schema, sanitized text, malformed frames close 4400, binary 1003', async () => {
    const alice = await open({ Origin: ORIGIN, Authorization: `Bearer ${await token('alice')}` });
    alice.ws.send(JSON.stringify({ type: 'room.join', id: 'j1', room: 'lobby' }));
    assert.deepEqual(await alice.next(), { type: 'ack', id: 'j1', room: 'lobby' });
    alice.ws.send(JSON.stringify({ type: 'chat.send', id: 'c1', room: 'lobby', text: '<img src=x onerror=alert(1)>hi' }));
    const [a, b] = [await alice.next(), await alice.next()];
    const message = [a, b].find((f) => f.type === 'chat.message')!;
    assert.equal(message.text, '&lt;img src=x onerror=alert(1)&gt;hi', 'the tag is escaped into text exactly as typed');
    assert.equal([a, b].find((f) => f.type === 'ack')!.delivered, true);
    alice.ws.send(JSON.stringify({ type: 'chat.send', id: 'c2', room: 'lobby', text: 'x', sneaky: 1 }));
    assert.equal((await alice.next()).code, 'INVALID_PAYLOAD');
    // One invalid frame above, four more: limits.maxMalformedFrames (5) closes 4400.
    for (let i = 0; i < 4; i++) alice.ws.send('{not json');
    assert.equal(await alice.closed, 4400);

    const bob = await open({ Origin: ORIGIN, Authorization: `Bearer ${await token('bob')}` });
    bob.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal(await bob.closed, 1003);
  });

  it('answers an over-deep or over-wide frame INVALID_PAYLOAD with its id, and a malformed id without it, as the server does', async () => {
    const carol = await open({ Origin: ORIGIN, Authorization: `Bearer ${await token('carol')}` });
    carol.ws.send(JSON.stringify({ type: 'room.join', id: 'deep-1', room: 'lobby', x: { a: { b: { c: { d: {} } } } } }));
    const deep = await carol.next();
    assert.deepEqual([deep.code, deep.id, deep.details], ['INVALID_PAYLOAD', 'deep-1', [{ path: 'x', message: 'nested deeper than 4 levels or more than 32 keys or items' }]]);
    const wide = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
    carol.ws.send(JSON.stringify({ type: 'room.join', id: 'wide-1', ...wide }));
    const tooWide = await carol.next();
    assert.deepEqual([tooWide.code, tooWide.id, tooWide.details], ['INVALID_PAYLOAD', 'wide-1', [{ path: '(frame)', message: 'more than 32 fields' }]]);
    carol.ws.send(JSON.stringify({ type: 'room.join', id: 'bad id!', x: { a: { b: { c: { d: {} } } } } }));
    const badId = await carol.next();
    assert.equal(badId.id, undefined);
    assert.deepEqual(
      (badId.details as Array<{ path: string }>).map((d) => d.path),
      ['id', 'x'],
    );
    carol.ws.close();
  });
});
