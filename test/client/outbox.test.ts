import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect as rawConnect } from '../helpers/client.js';
import { BulwarkError, type BulwarkClient, type WebSocketImplementation } from '../../client/index.js';
import { gate, nextEvent, sdk } from './sdk.js';

const config = { rateLimits: { 'chat.send': { points: 100_000, durationMs: 1000 } } };

/**
 * A `ws` wrapper that loses the reply to one frame id and then drops the connection, as a network
 * cut between the server's commit and the client's read would. The server has stored the message;
 * the client never learns it.
 */
function losingReplyTo(lost: Set<string>): WebSocketImplementation {
  return class LossyWebSocket {
    private readonly inner: WebSocket;
    onopen: ((e: unknown) => void) | null = null;
    onmessage: ((e: { data: unknown }) => void) | null = null;
    onclose: ((e: { code: number; reason: string }) => void) | null = null;
    onerror: ((e: unknown) => void) | null = null;
    constructor(url: string, protocols: string[], options?: WebSocket.ClientOptions) {
      this.inner = new WebSocket(url, protocols, options);
      this.inner.onopen = (e) => this.onopen?.(e);
      this.inner.onerror = (e) => this.onerror?.(e);
      this.inner.onclose = (e) => this.onclose?.({ code: e.code, reason: e.reason });
      this.inner.onmessage = (e) => {
        const frame = JSON.parse(String(e.data)) as { type: string; id?: string };
        if (frame.type === 'ack' && frame.id && lost.delete(frame.id)) {
          this.inner.terminate();
          return;
        }
        this.onmessage?.({ data: e.data });
      };
    }
    get readyState(): number {
      return this.inner.readyState;
    }
    send(data: string): void {
      this.inner.send(data);
    }
    close(code?: number, reason?: string): void {
      this.inner.close(code, reason);
    }
  } as unknown as WebSocketImplementation;
}

describe('client SDK: outbox', () => {
  let server: TestServer;
  const clients: BulwarkClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await server.stop();
  });

  async function roomTexts(room: string): Promise<string[]> {
    const probe = await rawConnect(server, 'probe');
    const joined = await probe.ok({ type: 'room.join', room });
    probe.close();
    return (joined.history as Array<{ text: string }>).map((m) => m.text);
  }

  it('resends a message whose ack was lost with its original id; the server stores it once', async () => {
    server = await startServer({ config });
    const lost = new Set(['lost-ack-1']);
    const token = await server.token('lossy');
    const client = sdk(server, { token, WebSocket: losingReplyTo(lost), reconnect: { baseMs: 50 } });
    clients.push(client);
    await client.request('room.create', { room: 'outbox', visibility: 'public' });
    await client.join('outbox');
    const reconnecting = nextEvent(client, 'reconnecting');
    const ack = await client.send('outbox', 'exactly once please', { id: 'lost-ack-1' });
    await reconnecting; // the first copy's ack was lost and the socket cut
    assert.equal(lost.size, 0);
    assert.equal(ack.id, 'lost-ack-1');
    assert.equal(ack.duplicate, true, 'the second copy was recognised by its id');
    assert.deepEqual(await roomTexts('outbox'), ['exactly once please']);
  });

  it('queues sends while disconnected and flushes them in order after the reconnect, once each', async () => {
    server = await startServer({ config });
    const hold = gate();
    let holding = false;
    const token = await server.token('queuer');
    const client = sdk(server, {
      reconnect: { baseMs: 50 },
      token: async () => {
        if (holding) await hold.promise;
        return token;
      },
    });
    clients.push(client);
    await client.request('room.create', { room: 'queued', visibility: 'public' });
    await client.join('queued');
    holding = true;
    const down = nextEvent(client, 'reconnecting');
    server = await server.restart();
    await down;
    const sends = [1, 2, 3, 4, 5].map((i) => client.send('queued', `offline ${i}`));
    assert.equal(client.outboxSize, 5);
    hold.open();
    const acks = await Promise.all(sends);
    assert.equal(client.outboxSize, 0);
    assert.deepEqual(
      acks.map((a) => a.message.seq),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(await roomTexts('queued'), ['offline 1', 'offline 2', 'offline 3', 'offline 4', 'offline 5']);
  });

  it('refuses a send with OUTBOX_FULL once the bound is reached, keeping the queued ones', async () => {
    server = await startServer({ config });
    const token = await server.token('full');
    let hold: ReturnType<typeof gate> | undefined = gate();
    const client = sdk(server, {
      outboxLimit: 3,
      token: async () => {
        if (hold) await hold.promise;
        return token;
      },
    });
    clients.push(client);
    const queued = [1, 2, 3].map((i) => client.send('nowhere', `m${i}`));
    await assert.rejects(client.send('nowhere', 'one too many'), (e: unknown) => {
      assert.ok(e instanceof BulwarkError);
      assert.equal(e.code, 'OUTBOX_FULL');
      assert.match(e.message, /outbox is full: 3 messages/);
      return true;
    });
    assert.equal(client.outboxSize, 3);
    // Closing rejects what is still queued, clearly.
    client.close();
    for (const p of queued) await assert.rejects(p, (e: unknown) => e instanceof BulwarkError && e.code === 'CLOSED');
    hold.open();
    hold = undefined;
  });
});
