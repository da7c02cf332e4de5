/**
 * The fan-out writer (src/fanout/turn-writer.ts) over real loopback sockets: frames are encoded
 * once per broadcast, corked per turn, and, when flushes are paced, held back without losing or
 * reordering anything — also when the writer is interleaved with the socket's own writes (ws's
 * pings and close frames go straight to the socket).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { TurnWriter, encodeTextFrame } from '../../src/fanout/turn-writer.js';

/** Server-side sockets of `count` loopback connections, and what each client end received. */
async function pairs(count: number): Promise<{ server: Server; sockets: Socket[]; received: Buffer[][]; clients: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((s) => sockets.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const received: Buffer[][] = [];
  const clients: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const c = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    received.push(chunks);
    clients.push(c);
    await once(c, 'connect');
  }
  while (sockets.length < count) await new Promise((r) => setImmediate(r));
  return { server, sockets, received, clients };
}

/** Text payloads of the server frames in `bytes` (unmasked, as the writer encodes them). */
function texts(bytes: Buffer): string[] {
  const out: string[] = [];
  let at = 0;
  while (at < bytes.length) {
    assert.equal(bytes[at], 0x81, 'FIN + text');
    let length = bytes[at + 1]!;
    let header = 2;
    if (length === 126) {
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (length === 127) {
      length = bytes.readUInt32BE(at + 6);
      header = 10;
    }
    out.push(bytes.toString('utf8', at + header, at + header + length));
    at += header + length;
  }
  return out;
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the fan-out turn writer', () => {
  it('encodes frames of every length class as RFC 6455 server text frames', () => {
    for (const n of [0, 125, 126, 65_535, 65_536]) {
      const data = 'é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2);
      assert.deepEqual(texts(encodeTextFrame(data)), [data]);
    }
  });

  it('delivers every frame, in order, to every socket when each flush is paced, interleaved with direct writes', async () => {
    const { server, sockets, received, clients } = await pairs(50);
    // Pace every flush (as a loaded server does): each one after the first is held on a timer.
    const writer = new TurnWriter({ paceAboveMs: 0, maxHoldMs: 5 });
    try {
      const expected: string[] = [];
      for (let round = 0; round < 30; round++) {
        const data = JSON.stringify({ type: 'chat.message', round });
        expected.push(data);
        for (const s of sockets) writer.write(s, data);
        // A write that does not go through the writer (ws's own ping) stays in order.
        if (round % 10 === 5) {
          const own = JSON.stringify({ type: 'direct', round });
          expected.push(own);
          for (const s of sockets) s.write(encodeTextFrame(own));
        }
        await turn();
      }
      await new Promise((r) => setTimeout(r, 50));
      writer.flush();
      const total = Buffer.concat(received[0]!).length;
      await new Promise<void>((resolve) => {
        const check = (): void => {
          if (received.every((chunks) => Buffer.concat(chunks).length === total && total > 0)) resolve();
          else setTimeout(check, 5);
        };
        check();
      });
      for (const chunks of received) assert.deepEqual(texts(Buffer.concat(chunks)), expected);
      assert.ok(writer.heldFlushes > 0, 'flushes were held');
      assert.ok(writer.flushes < 30 + 1, 'never more than one flush per turn');
    } finally {
      for (const c of clients) c.destroy();
      server.close();
    }
  });

  it('holds nothing while flushes are quick: the next turn flushes', async () => {
    const { server, sockets, received, clients } = await pairs(2);
    const writer = new TurnWriter({ paceAboveMs: 10_000 });
    try {
      for (let round = 0; round < 5; round++) {
        for (const s of sockets) writer.write(s, `m${round}`);
        await turn();
        assert.equal(sockets[0]!.writableLength, 0, 'flushed at the end of the turn');
      }
      assert.equal(writer.heldFlushes, 0);
      assert.equal(writer.flushes, 5);
      await new Promise<void>((resolve) => {
        const check = (): void => (received.every((c) => texts(Buffer.concat(c)).length === 5) ? resolve() : void setTimeout(check, 5));
        check();
      });
    } finally {
      for (const c of clients) c.destroy();
      server.close();
    }
  });
});
