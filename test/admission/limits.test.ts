/**
 * Admission and liveness (contract section 3): per-user cap 4429, auth timeout 4408, heartbeat
 * termination, frame size 1009, binary 1003, permessage-deflate off by default and bounded after
 * inflation when on (an inflation bomb), the slow consumer 4409 with bounded server memory, and
 * bans at the handshake (403) and at `auth` (4403). After every attack a well-behaved client is
 * still served.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { createDeflateRaw } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus, openSocket, TestClient } from '../helpers/client.js';
import { EventRecorder, ROOMY, closeOf, eventually, sleep } from '../handshake/support.js';

/** A fresh, well-behaved client must still be served: authenticate and list rooms. */
async function stillServes(server: TestServer, sub = `good-${randomBytes(3).toString('hex')}`): Promise<void> {
  const client = await connect(server, sub);
  await client.ok({ type: 'room.list' });
  client.close();
}

describe('per-user connection cap', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, limits: { ...ROOMY.limits, maxConnectionsPerUser: 2 } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('closes the connection over limits.maxConnectionsPerUser with 4429 (user_connection_cap), by auth frame and early token', async () => {
    const a = await connect(server, 'alice');
    const b = await connect(server, 'alice');
    const mark = recorder.mark();
    const c = await openSocket(server);
    c.send({ type: 'auth', token: await server.token('alice') });
    assert.equal((await closeOf(c)).code, 4429);
    assert.ok(!c.frames.some((f) => f.type === 'welcome'));
    const early = await openSocket(server, { headers: { Authorization: `Bearer ${await server.token('alice')}` } });
    assert.equal((await closeOf(early)).code, 4429);
    assert.ok(!early.frames.some((f) => f.type === 'welcome'));
    assert.deepEqual(
      recorder.since(mark).map((e) => [e.type, e.user]),
      [
        ['user_connection_cap', 'alice'],
        ['user_connection_cap', 'alice'],
      ],
    );
    // The two admitted connections are untouched, another user is admitted, and a slot frees on close.
    await a.ok({ type: 'room.list' });
    await stillServes(server, 'bob');
    b.close();
    await closeOf(b);
    assert.ok(await eventually(() => server.bulwark.hub.userCount('alice') === 1));
    const again = await connect(server, 'alice');
    again.close();
    a.close();
  });
});

describe('authentication timeout', () => {
  it('closes a connection that sends no auth frame within auth.timeoutMs with 4408 (auth_timeout)', async () => {
    const server = await startServer({ config: { ...ROOMY, auth: { timeoutMs: 500 } } });
    try {
      const recorder = new EventRecorder(server);
      const started = Date.now();
      const idle = await openSocket(server);
      const closed = await closeOf(idle, 5000);
      assert.equal(closed.code, 4408);
      const elapsed = Date.now() - started;
      assert.ok(elapsed >= 400 && elapsed < 3000, `closed after ${elapsed} ms`);
      assert.equal(recorder.events.filter((e) => e.type === 'auth_timeout').length, 1);
      await stillServes(server);
    } finally {
      await server.stop();
    }
  });
});

describe('heartbeat', () => {
  it('terminates a client that never answers pings (heartbeatMs), and keeps one that does', async () => {
    const server = await startServer({ config: { ...ROOMY, heartbeatMs: 1000 } });
    try {
      const recorder = new EventRecorder(server);
      const silent = new TestClient(new WebSocket(server.wsUrl, ['bulwark.v1'], { autoPong: false, headers: { Origin: server.origin } }));
      await new Promise((resolve, reject) => {
        silent.ws.once('open', resolve);
        silent.ws.once('error', reject);
      });
      silent.send({ type: 'auth', token: await server.token('zombie') });
      await silent.next('welcome');
      const healthy = await connect(server, 'alive');
      const started = Date.now();
      const closed = await closeOf(silent, 6000);
      const elapsed = Date.now() - started;
      assert.equal(closed.code, 1006, 'terminated, not closed politely');
      assert.ok(elapsed < 4500, `terminated after ${elapsed} ms`);
      assert.ok(await eventually(() => recorder.events.some((e) => e.type === 'heartbeat_timeout' && e.user === 'zombie')));
      assert.ok(await eventually(() => server.bulwark.hub.userCount('zombie') === 0), 'the server released it');
      // The client that answers pings is still there after several intervals.
      await sleep(Math.max(0, 3000 - (Date.now() - started)));
      assert.equal(healthy.ws.readyState, WebSocket.OPEN);
      await healthy.ok({ type: 'room.list' });
      healthy.close();
    } finally {
      await server.stop();
    }
  });
});

describe('frame size and type', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: { ...ROOMY, limits: { ...ROOMY.limits, maxPayloadBytes: 1024 } } });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('closes 1009 on a frame over limits.maxPayloadBytes, before and after auth (frame_too_big)', async () => {
    const before = await openSocket(server);
    const mark = recorder.mark();
    before.sendRaw(JSON.stringify({ type: 'auth', token: 'x'.repeat(2000) }));
    assert.equal((await closeOf(before)).code, 1009);
    const after = await connect(server, 'alice');
    after.sendRaw(JSON.stringify({ type: 'chat.send', id: 'big', room: 'r', text: 'y'.repeat(5000) }));
    assert.equal((await closeOf(after)).code, 1009);
    assert.equal(recorder.since(mark, 'frame_too_big').length, 2);
    // A frame just under the limit is fine.
    const fits = await connect(server, 'bob');
    const reply = await fits.request({ type: 'room.list', pad: 'z'.repeat(800) });
    assert.equal(reply.type, 'error', 'answered (unknown field), not closed');
    fits.close();
    await stillServes(server);
  });

  it('closes 1003 on a binary frame, before and after auth (binary_frame)', async () => {
    const mark = recorder.mark();
    const before = await openSocket(server);
    before.sendRaw(Buffer.from(JSON.stringify({ type: 'auth', token: await server.token('carol') })), true);
    assert.equal((await closeOf(before)).code, 1003);
    const after = await connect(server, 'carol');
    after.sendRaw(Buffer.from([0xde, 0xad, 0xbe, 0xef]), true);
    assert.equal((await closeOf(after)).code, 1003);
    assert.equal(recorder.since(mark, 'binary_frame').length, 2);
    await stillServes(server);
  });
});

describe('permessage-deflate', () => {
  it('is off by default: a client offering it gets no extension', async () => {
    const server = await startServer({ config: { ...ROOMY } });
    try {
      const client = new WebSocket(server.wsUrl, ['bulwark.v1'], { perMessageDeflate: true, headers: { Origin: server.origin } });
      await new Promise((resolve, reject) => {
        client.once('open', resolve);
        client.once('error', reject);
      });
      assert.equal(client.extensions, '');
      client.close();
    } finally {
      await server.stop();
    }
  });

  it('when compression.enabled, negotiates it and closes an inflation bomb with 1009 without inflating it into memory', async () => {
    const server = await startServer({ config: { ...ROOMY, compression: { enabled: true }, limits: { ...ROOMY.limits, maxPayloadBytes: 65_536 } } });
    try {
      const recorder = new EventRecorder(server);
      const probe = new WebSocket(server.wsUrl, ['bulwark.v1'], { perMessageDeflate: true, headers: { Origin: server.origin } });
      await new Promise((resolve, reject) => {
        probe.once('open', resolve);
        probe.once('error', reject);
      });
      assert.match(probe.extensions, /permessage-deflate/);
      probe.close();

      // 256 MB of zeros deflates to about 250 KB; it is built in chunks so this process never holds it.
      const inflatedBytes = 256 * 1024 * 1024;
      const compressed = await deflateZeros(inflatedBytes);
      assert.ok(compressed.length < 1024 * 1024, `bomb is ${compressed.length} bytes on the wire`);
      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 10);
      const mark = recorder.mark();
      let closeCode: number;
      try {
        closeCode = await sendCompressedFrame(server, compressed);
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      assert.equal(closeCode, 1009);
      const grewMb = (peak - baseline) / 1024 / 1024;
      assert.ok(grewMb < 100, `server RSS grew by ${grewMb.toFixed(1)} MB for a ${inflatedBytes / 1024 / 1024} MB bomb`);
      assert.ok(await eventually(() => recorder.since(mark, 'frame_too_big').length === 1));
      await stillServes(server);
    } finally {
      await server.stop();
    }
  });
});

/** Deflates `size` zero bytes (raw deflate, sync-flushed, without the 00 00 ff ff tail) in 1 MB chunks. */
function deflateZeros(size: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const deflate = createDeflateRaw({ level: 9 });
    const out: Buffer[] = [];
    deflate.on('data', (d: Buffer) => out.push(d));
    deflate.on('error', reject);
    const chunk = Buffer.alloc(1024 * 1024);
    let written = 0;
    const pump = (): void => {
      while (written < size) {
        written += chunk.length;
        if (!deflate.write(chunk)) {
          deflate.once('drain', pump);
          return;
        }
      }
      deflate.flush(() => {
        const all = Buffer.concat(out);
        // permessage-deflate strips the trailing empty stored block of a sync flush.
        resolve(all.subarray(0, all.length - 4));
        deflate.close();
      });
    };
    pump();
  });
}

/**
 * Opens a raw WebSocket with permessage-deflate, sends one compressed text frame (RSV1) holding
 * `payload`, and resolves with the close code the server sends (0 when the socket just ended).
 */
function sendCompressedFrame(server: TestServer, payload: Buffer): Promise<number> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket: Socket = netConnect({ host: url.hostname, port: Number(url.port) });
    let buffer = Buffer.alloc(0);
    let upgraded = false;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no close from the server within 10 s'));
    }, 10_000);
    const done = (code: number): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    socket.on('error', () => done(0));
    socket.on('close', () => done(0));
    socket.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d]);
      if (!upgraded) {
        const end = buffer.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffer.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        if (!/sec-websocket-extensions:\s*permessage-deflate/i.test(head)) return reject(new Error('deflate not negotiated'));
        upgraded = true;
        buffer = buffer.subarray(end + 4);
        // FIN + RSV1 + text, masked (zero mask), 64-bit length.
        const header = Buffer.alloc(14);
        header[0] = 0xc1;
        header[1] = 0x80 | 127;
        header.writeBigUInt64BE(BigInt(payload.length), 2);
        socket.write(Buffer.concat([header, payload]));
      }
      // Server frames are unmasked: look for a close frame (opcode 8).
      while (buffer.length >= 2) {
        const opcode = buffer[0]! & 0x0f;
        let len = buffer[1]! & 0x7f;
        let offset = 2;
        if (len === 126) {
          if (buffer.length < 4) return;
          len = buffer.readUInt16BE(2);
          offset = 4;
        } else if (len === 127) {
          if (buffer.length < 10) return;
          len = Number(buffer.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffer.length < offset + len) return;
        if (opcode === 8) return done(len >= 2 ? buffer.readUInt16BE(offset) : 1005);
        buffer = buffer.subarray(offset + len);
      }
    });
    socket.write(
      [
        'GET /ws HTTP/1.1',
        `Host: ${url.host}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: bulwark.v1',
        'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits',
        `Origin: ${server.origin}`,
        '',
        '',
      ].join('\r\n'),
    );
  });
}

describe('slow consumer', () => {
  it('closes readers that stop reading with 4409 (slow_consumer) while a room floods, and server memory stays bounded', async () => {
    const server = await startServer({
      config: {
        ...ROOMY,
        limits: { ...ROOMY.limits, maxBufferedBytes: 65_536, maxMessageChars: 4000 },
        rateLimits: { ...ROOMY.rateLimits, 'chat.send': { points: 1_000_000, durationMs: 10_000 } },
      },
    });
    try {
      const recorder = new EventRecorder(server);
      const flooder = await connect(server, 'flooder');
      await flooder.ok({ type: 'room.create', room: 'flood', visibility: 'public' });
      await flooder.ok({ type: 'room.join', room: 'flood' });
      const readers: TestClient[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await connect(server, `slow-${i}`);
        await r.ok({ type: 'room.join', room: 'flood' });
        readers.push(r);
      }
      const watcher = await connect(server, 'watcher');
      await watcher.ok({ type: 'room.join', room: 'flood' });
      watcher.ws.on('message', () => undefined);
      // The readers stop reading from their TCP sockets.
      for (const r of readers) (r.ws as unknown as { _socket: Socket })._socket.pause();

      global.gc?.();
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      const mark = recorder.mark();
      // Up to ~8 MB of distinct messages, pipelined in batches far below maxBufferedBytes so a
      // reader that keeps up is never cut off; the slow readers' kernel buffers fill, then their
      // outbound buffers on the server pass the limit.
      const total = 8000;
      const batch = 20;
      let acked = 0;
      try {
        for (let sent = 0; sent < total && recorder.since(mark, 'slow_consumer').length < readers.length; sent += batch) {
          const replies = [];
          for (let i = sent; i < sent + batch; i++) {
            replies.push(flooder.request({ type: 'chat.send', room: 'flood', text: `${i} ${randomBytes(750).toString('base64')}` }, 30_000));
          }
          for (const reply of await Promise.all(replies)) if (reply.type === 'ack') acked++;
          flooder.frames.length = 0;
        }
      } finally {
        clearInterval(sampler);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      assert.ok(acked > 0);
      const slow = await recorder.waitFor(mark, 'slow_consumer', readers.length, 10_000);
      assert.deepEqual(
        slow.map((e) => e.user).sort(),
        readers.map((_, i) => `slow-${i}`),
      );
      assert.ok(!slow.some((e) => e.user === 'watcher' || e.user === 'flooder'), 'readers that keep up are not cut off');
      // Resumed, each slow reader finds its connection closed 4409 (or terminated after the grace).
      for (const r of readers) (r.ws as unknown as { _socket: Socket })._socket.resume();
      for (const r of readers) {
        const closed = await closeOf(r, 10_000);
        assert.ok(closed.code === 4409 || closed.code === 1006, `close ${closed.code}`);
      }
      assert.ok(await eventually(() => readers.every((_, i) => server.bulwark.hub.userCount(`slow-${i}`) === 0), 5000), 'released on the server');
      const grewMb = (peak - baseline) / 1024 / 1024;
      assert.ok(grewMb < 100, `RSS grew by ${grewMb.toFixed(1)} MB during the flood`);
      assert.equal(watcher.ws.readyState, WebSocket.OPEN, 'the reader that kept up is still connected');
      await flooder.ok({ type: 'room.list' });
      await stillServes(server);
      flooder.close();
      watcher.close();
    } finally {
      await server.stop();
    }
  });
});

describe('bans', () => {
  it('refuses a banned IP with 403 at the handshake (banned_refused), and admits it again once lifted', async () => {
    const server = await startServer({ config: { ...ROOMY } });
    try {
      const recorder = new EventRecorder(server);
      await server.bulwark.bans.ban('ip', '127.0.0.1', 'test', { durationMs: 60_000 });
      const mark = recorder.mark();
      assert.equal(await handshakeStatus(server), 403);
      assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${await server.token('alice')}` } }), 403);
      assert.deepEqual(
        recorder.since(mark).map((e) => [e.type, e.detail?.kind]),
        [
          ['banned_refused', 'ip'],
          ['banned_refused', 'ip'],
        ],
      );
      await server.bulwark.bans.unban('ip', '127.0.0.1');
      await stillServes(server);
    } finally {
      await server.stop();
    }
  });

  it('closes a banned user with 4403 at auth, refuses its early token with 403, and closes its live connections', async () => {
    const server = await startServer({ config: { ...ROOMY } });
    try {
      const recorder = new EventRecorder(server);
      const live = await connect(server, 'mallory');
      await server.bulwark.bans.ban('user', 'mallory', 'test', { durationMs: 60_000 });
      assert.equal((await closeOf(live, 3000)).code, 4403);
      const mark = recorder.mark();
      const again = await openSocket(server);
      again.send({ type: 'auth', token: await server.token('mallory') });
      assert.equal((await closeOf(again)).code, 4403);
      assert.ok(!again.frames.some((f) => f.type === 'welcome'));
      assert.equal(await handshakeStatus(server, { headers: { Authorization: `Bearer ${await server.token('mallory')}` } }), 403);
      assert.deepEqual(
        recorder.since(mark).map((e) => e.type),
        ['banned_refused', 'banned_refused'],
      );
      // Other users on the same IP are unaffected.
      await stillServes(server, 'not-mallory');
    } finally {
      await server.stop();
    }
  });
});
