/**
 * `seq` increases by one per room without gaps (contract section 4) while 20 clients send to one
 * room at the same time: every ack gets a distinct seq, the acks cover 1..N exactly, every
 * member sees all N messages once and in seq order, and history agrees with what was delivered.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { LOOSE_LIMITS, messagesOf, range, type WireMessage } from './fixtures.js';

const CLIENTS = 20;
const PER_CLIENT = 25;
const TOTAL = CLIENTS * PER_CLIENT;
const ROOM = 'crowd';

describe('20 clients sending to one room at once', () => {
  let server: TestServer;
  let clients: TestClient[];
  /** Every chat.message each client received, in arrival order. */
  let received: WireMessage[][];

  before(async () => {
    server = await startServer({ config: LOOSE_LIMITS });
    clients = await Promise.all(range(1, CLIENTS).map((i) => connect(server, `sender-${i}`, { name: `Sender ${i}` })));
    await clients[0]!.ok({ type: 'room.create', room: ROOM, visibility: 'public' });
    await Promise.all(clients.map((c) => c.ok({ type: 'room.join', room: ROOM })));
    received = clients.map((c) => {
      const got: WireMessage[] = [];
      c.ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as Frame;
        if (frame.type === 'chat.message') got.push(frame.message as WireMessage);
      });
      return got;
    });
  });
  after(() => server.stop());

  it('gives every message its own seq, 1..N without a gap, delivered once and in order to everyone', async () => {
    // Every client pipelines all its frames at once; the server sees 20 interleaved streams.
    const acks = await Promise.all(
      clients.map((client, c) =>
        Promise.all(range(1, PER_CLIENT).map((i) => client.request({ type: 'chat.send', id: `c${c}-m${i}`, room: ROOM, text: `client ${c} message ${i}` }, 20_000))),
      ),
    );
    const flat = acks.flat();
    for (const ack of flat) assert.equal(ack.type, 'ack', JSON.stringify(ack));
    const ackSeqs = flat.map((a) => (a.message as { seq: number }).seq).sort((x, y) => x - y);
    assert.deepEqual(ackSeqs, range(1, TOTAL), 'acks cover 1..N exactly once');

    // A client's own messages were handled in its send order, so their seqs increase.
    for (const clientAcks of acks) {
      const own = clientAcks.map((a) => (a.message as { seq: number }).seq);
      assert.deepEqual(
        own,
        [...own].sort((x, y) => x - y),
      );
    }

    // Every client receives all N, each once, in seq order (the ack may overtake other clients' messages).
    const deadline = Date.now() + 10_000;
    while (received.some((r) => r.length < TOTAL) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const [c, got] of received.entries()) {
      assert.deepEqual(
        got.map((m) => m.seq),
        range(1, TOTAL),
        `client ${c} saw every seq once, in order`,
      );
    }

    // The ack, the delivery and the history name the same message for each seq.
    const bySeq = new Map(flat.map((a) => [(a.message as { seq: number }).seq, a]));
    const history: WireMessage[] = [];
    let after = 0;
    for (;;) {
      const page = await clients[0]!.ok({ type: 'chat.history', room: ROOM, after, limit: 100 });
      history.push(...messagesOf(page));
      if (!page.hasMore) break;
      after = history.at(-1)!.seq;
    }
    assert.deepEqual(
      history.map((m) => m.seq),
      range(1, TOTAL),
    );
    for (const m of history) {
      const ack = bySeq.get(m.seq)!;
      assert.equal(m.id, (ack.message as { id: string }).id);
      const [c, i] = /^c(\d+)-m(\d+)$/.exec(String(ack.id))!.slice(1);
      assert.equal(m.text, `client ${c} message ${i}`);
      assert.equal(m.user?.id, `sender-${Number(c) + 1}`);
    }
    assert.deepEqual(received[7], history, 'what was delivered is what was stored');
  });

  it('keeps counting from N+1 afterwards', async () => {
    const ack = await clients[3]!.ok({ type: 'chat.send', room: ROOM, text: 'one more' });
    assert.equal((ack.message as { seq: number }).seq, TOTAL + 1);
  });
});
