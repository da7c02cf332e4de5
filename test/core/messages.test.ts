/**
 * Messages (contract section 4): `chat.send` and its delivery, `replyTo`, message text rules,
 * `chat.history` paging with `before`/`after`/`limit`, `room.join` with `since` (resume after a
 * reconnect), `chat.delete` and the deleted marker, and `admin.broadcast`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, openSocket, type Frame, type TestClient } from '../helpers/client.js';
import { LOOSE_LIMITS, discard, messagesOf, outcome, range, sendMany, seqs, variedText, type WireMessage } from './fixtures.js';

const MAX_CHARS = 200;

describe('messages', () => {
  let server: TestServer;
  let olga: TestClient;
  let max: TestClient;
  let n = 0;

  /** A fresh public room owned by olga, with olga and max joined. */
  async function room(): Promise<string> {
    const name = `msg-${++n}`;
    await olga.ok({ type: 'room.create', room: name, visibility: 'public' });
    await olga.ok({ type: 'room.join', room: name });
    await max.ok({ type: 'room.join', room: name });
    return name;
  }

  before(async () => {
    server = await startServer({ config: { ...LOOSE_LIMITS, limits: { maxMessageChars: MAX_CHARS } } });
    olga = await connect(server, 'olga', { name: 'Olga' });
    max = await connect(server, 'max', { name: 'Max' });
  });
  after(() => server.stop());

  describe('chat.send', () => {
    it('acks {id, message: {id, seq, ts}} and delivers chat.message {room, message} to every joined connection', async () => {
      const name = await room();
      const bystander = await connect(server, 'bystander');
      const olgaTwo = await connect(server, 'olga', { name: 'Olga' });
      await olgaTwo.ok({ type: 'room.join', room: name });
      const before = Date.now();
      const ack = await max.ok({ type: 'chat.send', id: 'send-1', room: name, text: 'hello all' });
      assert.equal(ack.id, 'send-1');
      const meta = ack.message as { id: string; seq: number; ts: number };
      assert.deepEqual(Object.keys(meta).sort(), ['id', 'seq', 'ts']);
      assert.equal(meta.seq, 1);
      assert.ok(meta.ts >= before - 1000 && meta.ts <= Date.now() + 1000);
      const expected = { id: meta.id, seq: 1, room: name, user: { id: 'max', name: 'Max' }, text: 'hello all', ts: meta.ts };
      for (const conn of [max, olga, olgaTwo]) {
        const frame = await conn.waitFor((f) => f.type === 'chat.message' && f.room === name);
        assert.deepEqual(frame, { type: 'chat.message', room: name, message: expected });
      }
      assert.equal(await bystander.quiet((f) => f.type === 'chat.message'), true, 'a connection that did not join gets nothing');
      bystander.close();
      olgaTwo.close();
    });

    it('delivers to the sender before acknowledging', async () => {
      const name = await room();
      const arrived: string[] = [];
      const listener = (data: unknown): void => {
        const frame = JSON.parse(String(data)) as Frame;
        if (frame.id === 'order-1' || frame.type === 'chat.message') arrived.push(frame.type);
      };
      max.ws.on('message', listener);
      await max.ok({ type: 'chat.send', id: 'order-1', room: name, text: 'ordered' });
      max.ws.off('message', listener);
      assert.deepEqual(arrived, ['chat.message', 'ack']);
    });

    it('numbers messages per room from 1, without gaps, each room on its own', async () => {
      const a = await room();
      const b = await room();
      const seen: Array<[string, number]> = [];
      for (const [name, client] of [
        [a, olga],
        [b, max],
        [a, max],
        [a, olga],
        [b, olga],
      ] as const) {
        const ack = await client.ok({ type: 'chat.send', room: name, text: 'x' });
        seen.push([name === a ? 'a' : 'b', (ack.message as { seq: number }).seq]);
      }
      assert.deepEqual(seen, [
        ['a', 1],
        ['b', 1],
        ['a', 2],
        ['a', 3],
        ['b', 2],
      ]);
    });

    it('carries replyTo to the delivery and the history, and refuses an unknown target with NOT_FOUND', async () => {
      const name = await room();
      const first = await olga.ok({ type: 'chat.send', room: name, text: 'question?' });
      const firstId = (first.message as { id: string }).id;
      const reply = await max.ok({ type: 'chat.send', room: name, text: 'answer', replyTo: firstId });
      const delivered = await olga.waitFor((f) => f.type === 'chat.message' && (f.message as WireMessage).text === 'answer');
      assert.equal((delivered.message as WireMessage).replyTo, firstId);
      const history = messagesOf(await max.ok({ type: 'chat.history', room: name }));
      assert.equal(history.find((m) => m.id === (reply.message as { id: string }).id)?.replyTo, firstId);
      assert.equal(history.find((m) => m.id === firstId)?.replyTo, undefined, 'no replyTo key when there is none');
      assert.equal(outcome(await max.request({ type: 'chat.send', room: name, text: 'to nothing', replyTo: 'no-such-message' })), 'NOT_FOUND');
      const other = await room();
      assert.equal(outcome(await max.request({ type: 'chat.send', room: other, text: 'cross-room', replyTo: firstId })), 'NOT_FOUND');
    });

    it('trims the text and refuses an empty or over-long one with INVALID_PAYLOAD on path text', async () => {
      const name = await room();
      await max.ok({ type: 'chat.send', room: name, text: '   padded  \n' });
      const delivered = await max.waitFor((f) => f.type === 'chat.message' && f.room === name);
      assert.equal((delivered.message as WireMessage).text, 'padded');
      for (const text of ['', '   \n\t ', variedText(MAX_CHARS + 1)]) {
        const reply = await max.request({ type: 'chat.send', room: name, text });
        assert.equal(reply.code, 'INVALID_PAYLOAD', JSON.stringify(text.slice(0, 10)));
        assert.deepEqual(
          (reply.details as Array<{ path: string }>).map((d) => d.path),
          ['text'],
        );
      }
      assert.equal(outcome(await max.request({ type: 'chat.send', room: name, text: ` ${variedText(MAX_CHARS)} ` })), 'ack', 'exactly the limit after trimming');
      const history = messagesOf(await max.ok({ type: 'chat.history', room: name }));
      assert.deepEqual(seqs(history), [1, 2], 'the refused messages took no seq');
    });

    it('counts characters, not UTF-16 code units, against limits.maxMessageChars', async () => {
      const name = await room();
      const emoji = '\u{1F600}\u{1F389}\u{1F680}\u{1F30D}';
      const text = Array.from({ length: MAX_CHARS }, (_, i) => [...emoji][i % 4]).join('');
      assert.equal([...text].length, MAX_CHARS);
      assert.equal(outcome(await max.request({ type: 'chat.send', room: name, text })), 'ack');
    });

    it('stores and delivers markup as visible text, keeping only the allowed tags', async () => {
      const name = await room();
      await max.ok({ type: 'chat.send', room: name, text: '<script>alert(1)</script><b>bold</b>' });
      const delivered = await olga.waitFor((f) => f.type === 'chat.message' && f.room === name);
      const text = (delivered.message as WireMessage).text!;
      assert.ok(text.includes('&lt;script&gt;'), text);
      assert.ok(!text.includes('<script'), text);
      assert.ok(text.includes('<b>bold</b>'), text);
      const stored = messagesOf(await olga.ok({ type: 'chat.history', room: name }))[0]!;
      assert.equal(stored.text, text, 'history holds exactly what was delivered');
    });
  });

  describe('chat.history', () => {
    let name: string;
    const TOTAL = 250;

    before(async () => {
      name = await room();
      await sendMany(olga, name, TOTAL, (i) => `line ${i}`);
      discard(olga, 'chat.message');
      discard(max, 'chat.message');
    });

    async function page(query: Record<string, unknown>): Promise<{ seqs: number[]; hasMore: boolean; messages: WireMessage[] }> {
      const reply = await max.ok({ type: 'chat.history', room: name, ...query });
      const messages = messagesOf(reply);
      return { seqs: seqs(messages), hasMore: reply.hasMore as boolean, messages };
    }

    it('acks {id, messages, hasMore}: by default the latest 100, ascending', async () => {
      const reply = await max.ok({ type: 'chat.history', id: 'hist-1', room: name });
      assert.equal(reply.id, 'hist-1');
      assert.deepEqual(seqs(messagesOf(reply)), range(151, 250));
      assert.equal(reply.hasMore, true);
      const m = messagesOf(reply)[0]!;
      assert.deepEqual(m, { id: m.id, seq: 151, room: name, user: { id: 'olga', name: 'Olga' }, text: 'line 151', ts: m.ts });
    });

    it('pages backwards with before until hasMore is false, covering every seq once', async () => {
      const all: number[] = [];
      let cursor: number | undefined;
      let pages = 0;
      for (;;) {
        const p = await page(cursor === undefined ? { limit: 100 } : { before: cursor, limit: 100 });
        all.unshift(...p.seqs);
        pages++;
        if (!p.hasMore) break;
        cursor = p.seqs[0];
      }
      assert.equal(pages, 3);
      assert.deepEqual(all, range(1, TOTAL));
    });

    it('pages forwards with after until hasMore is false, covering every seq once', async () => {
      const all: number[] = [];
      let cursor = 0;
      for (;;) {
        const p = await page({ after: cursor, limit: 64 });
        all.push(...p.seqs);
        if (!p.hasMore) break;
        cursor = p.seqs.at(-1)!;
      }
      assert.deepEqual(all, range(1, TOTAL));
    });

    it('honours before, after and limit alone and together', async () => {
      const head = await page({ before: 11 });
      assert.deepEqual(head.seqs, range(1, 10));
      assert.equal(head.hasMore, false);
      assert.deepEqual((await page({ before: 151, limit: 5 })).seqs, range(146, 150));
      assert.equal((await page({ before: 151, limit: 5 })).hasMore, true);
      const tail = await page({ after: 245 });
      assert.deepEqual(tail.seqs, range(246, 250));
      assert.equal(tail.hasMore, false);
      const between = await page({ after: 10, before: 20 });
      assert.deepEqual(between.seqs, range(11, 19));
      assert.equal(between.hasMore, false);
      const capped = await page({ after: 10, before: 200, limit: 3 });
      assert.deepEqual(capped.seqs, [11, 12, 13]);
      assert.equal(capped.hasMore, true);
      const one = await page({ limit: 1 });
      assert.deepEqual(one.seqs, [250]);
      assert.equal(one.hasMore, true);
      const none = await page({ after: 250 });
      assert.deepEqual(none.seqs, []);
      assert.equal(none.hasMore, false);
      assert.deepEqual((await page({ before: 1 })).seqs, []);
      assert.deepEqual(
        (await page({ after: 100, limit: 100 })).messages.map((m) => m.text),
        range(101, 200).map((i) => `line ${i}`),
      );
    });

    it('refuses a limit over 100 or under 1, and a negative or fractional cursor, with INVALID_PAYLOAD', async () => {
      // A connection of its own: five malformed frames would close it (limits.maxMalformedFrames).
      const strict = await connect(server, 'max', { name: 'Max' });
      for (const query of [{ limit: 101 }, { limit: 0 }, { before: -1 }, { after: 1.5 }]) {
        const reply = await strict.request({ type: 'chat.history', room: name, ...query });
        assert.equal(reply.code, 'INVALID_PAYLOAD', JSON.stringify(query));
        assert.deepEqual(
          (reply.details as Array<{ path: string }>).map((d) => d.path),
          Object.keys(query),
        );
      }
      strict.close();
    });

    it('room.join with since returns the messages with seq > since, at most 100, with hasMore', async () => {
      const reader = await connect(server, 'reader');
      const late = await reader.ok({ type: 'room.join', room: name, since: 240 });
      assert.deepEqual(seqs(messagesOf(late, 'history')), range(241, 250));
      assert.equal(late.hasMore, false);
      const from0 = await reader.ok({ type: 'room.join', room: name, since: 0 });
      assert.deepEqual(seqs(messagesOf(from0, 'history')), range(1, 100));
      assert.equal(from0.hasMore, true);
      const upToDate = await reader.ok({ type: 'room.join', room: name, since: 250 });
      assert.deepEqual(messagesOf(upToDate, 'history'), []);
      assert.equal(upToDate.hasMore, false);
      const ahead = await reader.ok({ type: 'room.join', room: name, since: 10_000 });
      assert.deepEqual(messagesOf(ahead, 'history'), []);
      const plain = await reader.ok({ type: 'room.join', room: name });
      assert.deepEqual(seqs(messagesOf(plain, 'history')), range(151, 250), 'without since: the latest page');
      assert.equal(plain.hasMore, true);
      reader.close();
    });
  });

  describe('resume after a reconnect', () => {
    it('gives a reconnecting client exactly what it missed, deletions included, then live messages', async () => {
      const name = await room();
      const acks = await sendMany(olga, name, 3, (i) => `before ${i}`);
      await max.waitFor((f) => f.type === 'chat.message' && (f.message as WireMessage).seq === 3);
      const lastSeen = 3;
      // A device of max that saw up to seq 3 goes away; the room moves on without it.
      const missed = await sendMany(olga, name, 5, (i) => `missed ${i}`);
      const deletedId = (missed[1]!.message as { id: string }).id;
      await olga.ok({ type: 'chat.delete', room: name, message: deletedId });
      const earlyDeleted = (acks[0]!.message as { id: string }).id;
      await olga.ok({ type: 'chat.delete', room: name, message: earlyDeleted });

      const back = await connect(server, 'max', { name: 'Max' });
      const join = await back.ok({ type: 'room.join', room: name, since: lastSeen });
      const history = messagesOf(join, 'history');
      assert.deepEqual(seqs(history), [4, 5, 6, 7, 8]);
      assert.equal(join.hasMore, false);
      assert.deepEqual(history[1], { id: deletedId, seq: 5, room: name, deleted: true });
      assert.deepEqual(
        history.filter((m) => !m.deleted).map((m) => m.text),
        ['missed 1', 'missed 3', 'missed 4', 'missed 5'],
      );
      assert.ok(!history.some((m) => m.id === earlyDeleted), 'a deletion before the resume point is not resent');
      await olga.ok({ type: 'chat.send', room: name, text: 'live again' });
      const live = await back.waitFor((f) => f.type === 'chat.message' && f.room === name);
      assert.equal((live.message as WireMessage).seq, 9);
      back.close();
    });
  });

  describe('chat.delete', () => {
    it('acks, sends chat.deleted {room, message} to the members and keeps the seq as a deleted marker', async () => {
      const name = await room();
      await sendMany(max, name, 3, (i) => `d${i}`);
      const history = messagesOf(await max.ok({ type: 'chat.history', room: name }));
      const target = history[1]!;
      const ack = await max.ok({ type: 'chat.delete', id: 'del-1', room: name, message: target.id });
      assert.equal(ack.id, 'del-1');
      for (const conn of [olga, max]) {
        const frame = await conn.waitFor((f) => f.type === 'chat.deleted' && f.room === name);
        assert.deepEqual(frame, { type: 'chat.deleted', room: name, message: target.id });
      }
      const after = messagesOf(await olga.ok({ type: 'chat.history', room: name }));
      assert.deepEqual(seqs(after), [1, 2, 3]);
      assert.deepEqual(after[1], { id: target.id, seq: 2, room: name, deleted: true });
      assert.equal(after[0]!.text, 'd1');
      const next = await max.ok({ type: 'chat.send', room: name, text: 'd4' });
      assert.equal((next.message as { seq: number }).seq, 4, 'a deleted seq is never reused');
    });

    it('answers NOT_FOUND for a message that does not exist', async () => {
      const name = await room();
      assert.equal(outcome(await olga.request({ type: 'chat.delete', room: name, message: 'nope' })), 'NOT_FOUND');
    });
  });

  describe('admin.broadcast', () => {
    it('acks and sends announcement {text, from, ts} to every authenticated connection', async () => {
      const admin = await connect(server, 'root', { name: 'Operator', roles: ['admin'] });
      const loner = await connect(server, 'loner');
      const anonymous = await openSocket(server);
      const before = Date.now();
      const ack = await admin.ok({ type: 'admin.broadcast', id: 'bc-1', text: 'restart at 5' });
      assert.equal(ack.id, 'bc-1');
      for (const conn of [admin, loner, olga, max]) {
        const frame = await conn.waitFor((f) => f.type === 'announcement' && f.text === 'restart at 5');
        assert.deepEqual(Object.keys(frame).sort(), ['from', 'text', 'ts', 'type']);
        assert.equal(frame.from, 'Operator');
        assert.ok((frame.ts as number) >= before - 1000 && (frame.ts as number) <= Date.now() + 1000);
      }
      assert.equal(await anonymous.quiet((f) => f.type === 'announcement', 100), true, 'not to a socket that never authenticated');
      admin.close();
      loner.close();
      anonymous.close();
    });
  });
});
