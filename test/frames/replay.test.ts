/**
 * Replay and idempotency (contract section 4 "Replay and idempotency", issue 4 item 6):
 * `chat.send`'s `id` is an idempotency key per user; the same id again (same connection,
 * another connection, after a reconnect) returns the first ack with `duplicate: true` and
 * stores and delivers nothing; another user may use the same id; a refused send may be retried
 * with its id; a `ts` too far from the server clock is `REPLAY`. Every structure keyed by
 * client-controlled values stays under its cap when fed 200,000 distinct keys.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Config } from '../../src/config/schema.js';
import { replayGuard, type SharedIdempotency } from '../../src/guards/frame/replay.js';
import { ExpiringCache } from '../../src/security/expiring-cache.js';
import { runFrameGuards } from '../../src/guards/frame/run.js';
import { spamGuard } from '../../src/guards/frame/spam.js';
import type { FrameContext, FrameGuard } from '../../src/guards/frame/types.js';
import type { Reply } from '../../src/domain/reply.js';
import type { SecurityAudit } from '../../src/security/audit.js';
import type { Connection } from '../../src/transport/connection.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { EventRecorder, discard, loose, outcome, uniq } from './support.js';

const MAX_SKEW = 5000;
const MAX_KEYS = 1000;
const DISTINCT = 200_000;

describe('idempotency of chat.send and the ts skew check', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({
      config: loose({
        abuse: { threshold: 1_000_000, maxTracked: MAX_KEYS },
        replay: { windowMs: 600_000, maxSkewMs: MAX_SKEW, maxKeys: MAX_KEYS },
        spam: { keywords: ['forbiddenword'], maxRepeats: 100_000 },
      }),
    });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  async function historyLength(c: TestClient, room: string): Promise<number> {
    return ((await c.ok({ type: 'chat.history', room })).messages as unknown[]).length;
  }

  /** Counts the chat.message frames `c` got for `room` (after a short settle) and drops them. */
  async function deliveredCount(c: TestClient, room: string): Promise<number> {
    await c.quiet(() => false, 200);
    const n = c.frames.filter((f) => f.type === 'chat.message' && f.room === room).length;
    discard(c, 'chat.message');
    return n;
  }

  async function pair(): Promise<{ user: string; a: TestClient; other: TestClient; room: string }> {
    const user = uniq('idem');
    const a = await connect(server, user);
    const other = await connect(server, uniq('idem-other'));
    const room = uniq('idem-room');
    await a.ok({ type: 'room.create', room, visibility: 'public' });
    await a.ok({ type: 'room.join', room });
    await other.ok({ type: 'room.join', room });
    return { user, a, other, room };
  }

  function assertDuplicateOf(dup: Frame, first: Frame): void {
    assert.equal(dup.type, 'ack', JSON.stringify(dup));
    assert.equal(dup.duplicate, true);
    assert.deepEqual(dup.message, first.message, "the first ack's message, unchanged");
    assert.equal(first.duplicate, undefined, 'the first ack is not marked duplicate');
  }

  it('answers a repeated id with the first ack and duplicate: true, storing and delivering nothing', async () => {
    const { a, other, room } = await pair();
    const first = await a.request({ type: 'chat.send', id: 'once', room, text: 'hello once' });
    assert.equal(first.type, 'ack');
    assert.equal(await deliveredCount(other, room), 1);
    const dup = await a.request({ type: 'chat.send', id: 'once', room, text: 'hello once' });
    assertDuplicateOf(dup, first);
    // Even a different text under the same id is the same send.
    const dup2 = await a.request({ type: 'chat.send', id: 'once', room, text: 'a different text' });
    assertDuplicateOf(dup2, first);
    assert.equal(await historyLength(a, room), 1, 'stored once');
    assert.equal(await deliveredCount(other, room), 0, 'delivered once');
    a.close();
    other.close();
  });

  it('stores one message when the same id is pipelined twice before the first is answered', async () => {
    const { a, other, room } = await pair();
    a.send({ type: 'chat.send', id: 'twice', room, text: 'racing' });
    a.send({ type: 'chat.send', id: 'twice', room, text: 'racing' });
    const r1 = await a.waitFor((f) => f.type === 'ack' && f.id === 'twice');
    const r2 = await a.waitFor((f) => f.type === 'ack' && f.id === 'twice');
    assert.deepEqual(r1.message, r2.message);
    assert.equal([r1, r2].filter((r) => r.duplicate === true).length, 1);
    assert.equal(await historyLength(a, room), 1);
    assert.equal(await deliveredCount(other, room), 1);
    a.close();
    other.close();
  });

  it('remembers the id across a reconnect of the same user', async () => {
    const { user, a, other, room } = await pair();
    const first = await a.request({ type: 'chat.send', id: 'before-drop', room, text: 'sent before the drop' });
    a.close();
    await a.closed;
    const again = await connect(server, user);
    await again.ok({ type: 'room.join', room });
    assertDuplicateOf(await again.request({ type: 'chat.send', id: 'before-drop', room, text: 'sent before the drop' }), first);
    assert.equal(await historyLength(again, room), 1);
    assert.equal(await deliveredCount(other, room), 1, 'only the original was delivered');
    again.close();
    other.close();
  });

  it('remembers the id on a second connection of the same user', async () => {
    const { user, a, other, room } = await pair();
    const second = await connect(server, user);
    await second.ok({ type: 'room.join', room });
    const first = await a.request({ type: 'chat.send', id: 'two-tabs', room, text: 'from tab one' });
    assertDuplicateOf(await second.request({ type: 'chat.send', id: 'two-tabs', room, text: 'from tab one' }), first);
    assert.equal(await historyLength(a, room), 1);
    assert.equal(await deliveredCount(other, room), 1);
    for (const c of [a, second, other]) c.close();
  });

  it('lets another user use the same id', async () => {
    const { a, other, room } = await pair();
    const mine = await a.request({ type: 'chat.send', id: 'shared-id', room, text: 'mine' });
    const theirs = await other.request({ type: 'chat.send', id: 'shared-id', room, text: 'theirs' });
    assert.equal(theirs.type, 'ack');
    assert.equal(theirs.duplicate, undefined);
    assert.notDeepEqual(theirs.message, mine.message);
    assert.equal(await historyLength(a, room), 2);
    a.close();
    other.close();
  });

  it('lets a refused send be retried with the same id', async () => {
    const { a, other, room } = await pair();
    const spam = await a.request({ type: 'chat.send', id: 'retry-me', room, text: 'forbiddenword' });
    assert.equal(spam.code, 'SPAM');
    const retried = await a.request({ type: 'chat.send', id: 'retry-me', room, text: 'a clean text' });
    assert.equal(retried.type, 'ack', JSON.stringify(retried));
    assert.equal(retried.duplicate, undefined);
    // The same after a domain refusal: not a member yet.
    const outsider = await connect(server, uniq('idem-outsider'));
    assert.equal(outcome(await outsider.request({ type: 'chat.send', id: 'join-first', room, text: 'early' })), 'NOT_A_MEMBER');
    await outsider.ok({ type: 'room.join', room });
    const ok = await outsider.request({ type: 'chat.send', id: 'join-first', room, text: 'early' });
    assert.equal(ok.type, 'ack');
    assert.equal(ok.duplicate, undefined);
    assert.equal(await historyLength(a, room), 2);
    for (const c of [a, other, outsider]) c.close();
  });

  it('refuses a ts further than replay.maxSkewMs from the server clock with REPLAY and a replay_detected event', async () => {
    const { user, a, other, room } = await pair();
    const mark = recorder.mark();
    for (const ts of [Date.now() - MAX_SKEW - 10_000, Date.now() + MAX_SKEW + 10_000, 0]) {
      const reply = await a.request({ type: 'chat.send', room, text: `stale ${ts}`, ts });
      assert.equal(reply.code, 'REPLAY', `ts ${ts}`);
    }
    const events = await recorder.waitFor(mark, 'replay_detected', 3);
    assert.equal(events.length, 3);
    assert.ok(events.every((e) => e.user === user));
    assert.equal(await historyLength(a, room), 0, 'nothing stored');
    assert.equal(await deliveredCount(other, room), 0, 'nothing delivered');
    // A ts within the window (either side) is fine.
    assert.equal(outcome(await a.request({ type: 'chat.send', room, text: 'fresh', ts: Date.now() })), 'ack');
    assert.equal(outcome(await a.request({ type: 'chat.send', room, text: 'slightly behind', ts: Date.now() - MAX_SKEW / 2 })), 'ack');
    assert.equal(outcome(await a.request({ type: 'chat.send', room, text: 'slightly ahead', ts: Date.now() + MAX_SKEW / 2 })), 'ack');
    a.close();
    other.close();
  });

  it(`keeps at most replay.maxKeys (${MAX_KEYS}) idempotency keys after thousands of real sends`, async () => {
    const { a, room } = await pair();
    const before = server.bulwark.boundedSizes().idempotencyKeys!;
    for (let i = 0; i < MAX_KEYS + 500; i++) await a.ok({ type: 'chat.send', id: `flood-${i}`, room, text: `flood message ${i}` });
    const size = server.bulwark.boundedSizes().idempotencyKeys!;
    assert.ok(size <= MAX_KEYS, `idempotencyKeys ${size} <= ${MAX_KEYS}`);
    assert.ok(size >= Math.min(MAX_KEYS, before + 1), 'keys are being remembered at all');
    // The oldest key was forgotten first; the newest is still remembered.
    assert.equal((await a.request({ type: 'chat.send', id: `flood-${MAX_KEYS + 499}`, room, text: 'again' })).duplicate, true);
    a.close();
  });

  it(`keeps the abuse score table under abuse.maxTracked after ${DISTINCT.toLocaleString('en')} distinct users and IPs`, async () => {
    const cap = server.config.abuse.maxTracked;
    for (let i = 0; i < DISTINCT; i++) {
      server.bulwark.audit.emit('malformed_frame', { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, user: `ghost-${i}` });
    }
    const size = server.bulwark.boundedSizes().abuseScores!;
    assert.equal(cap, MAX_KEYS);
    assert.ok(size <= cap, `abuseScores ${size} <= maxTracked ${cap}`);
    assert.ok(size > cap / 2, 'the table was filled, so the cap is what bounds it');
  });
});

describe('bounded guard memory, driven directly with 200,000 distinct keys', () => {
  const conn = (userId: string): Connection => ({ userId, ip: '192.0.2.1' }) as unknown as Connection;
  const ack: Reply = { ok: true, body: { message: { id: 'm', seq: 1, ts: 1 } } };

  it(`replay guard: at most maxKeys (${MAX_KEYS}) keys, distinct ids or distinct users`, async () => {
    const guard = replayGuard({ windowMs: 600_000, maxSkewMs: 120_000, maxKeys: MAX_KEYS });
    for (let i = 0; i < DISTINCT; i++) {
      const ctx: FrameContext = { conn: conn(i % 2 === 0 ? 'same-user' : `user-${i}`), frame: { type: 'chat.send', id: `id-${i}`, room: 'r', text: 't' } };
      const verdict = await guard.check(ctx);
      assert.equal(verdict, undefined);
      guard.after!(ctx, ack);
    }
    assert.ok(guard.size <= MAX_KEYS, `size ${guard.size}`);
    // Keys are dropped a generation (a fifth of the cap) at a time, oldest first.
    assert.ok(guard.size >= (MAX_KEYS * 4) / 5, `full, not empty: the cap, not an accident, bounds it (size ${guard.size})`);
  });

  it('spam guard: per-user tracking stays under abuse.maxTracked', () => {
    const rules: Config['spam'] = {
      maxLinks: 3,
      maxCharRun: 20,
      keywords: ['spamword'],
      patterns: [],
      maxRepeats: 2,
      repeatWindowMs: 30_000,
      muteAfter: 3,
      muteMs: 60_000,
    };
    const audit = { emit: () => undefined } as unknown as SecurityAudit;
    const guard = spamGuard(rules, MAX_KEYS, audit);
    for (let i = 0; i < DISTINCT; i++) {
      // Half clean (tracked for repeats), half spam (tracked as strikes).
      const text = i % 2 === 0 ? `hello ${i}` : 'spamword';
      void guard.check({ conn: conn(`spam-user-${i}`), frame: { type: 'chat.send', id: `s${i}`, room: 'r', text } });
    }
    assert.ok(guard.size <= 2 * MAX_KEYS, `size ${guard.size} <= 2 x ${MAX_KEYS} (recent + strikes)`);
  });
});

describe('an idempotency key is released when its frame fails inside the guards', () => {
  const conn = { userId: 'fail-user', ip: '192.0.2.9' } as unknown as Connection;
  const audit = { emit: () => undefined } as unknown as SecurityAudit;
  const frame = (id: string): FrameContext => ({ conn, frame: { type: 'chat.send', id, room: 'r', text: 't' } });
  const stored: Reply = { ok: true, body: { message: { id: 'm', seq: 1, ts: 1 } } };

  it('a later guard that throws releases the key: the same id is handled again, not left waiting', async () => {
    const replay = replayGuard({ windowMs: 600_000, maxSkewMs: 120_000, maxKeys: 100 });
    const broken: FrameGuard = {
      name: 'broken',
      check: () => {
        throw new Error('dependency down');
      },
    };
    await assert.rejects(
      runFrameGuards([replay, broken], audit, frame('x1'), async () => stored),
      /dependency down/,
    );
    // Retried with the same id once the dependency is back: answered by the handler, not as a duplicate.
    let answered = 0;
    const reply = await runFrameGuards([replay], audit, frame('x1'), async () => (answered++, stored));
    assert.equal(answered, 1);
    assert.deepEqual(reply, stored);
    const again = await runFrameGuards([replay], audit, frame('x1'), async () => (answered++, stored));
    assert.equal(answered, 1, 'the successful retry is now the remembered first answer');
    assert.equal((again as { body: { duplicate?: boolean } }).body.duplicate, true);
  });

  it('a shared store that fails on claim releases the key on this node too', async () => {
    let down = true;
    const shared: SharedIdempotency = {
      claim: async () => {
        if (down) throw new Error('redis down');
        return { first: true };
      },
      settle: () => undefined,
    };
    const replay = replayGuard({ windowMs: 600_000, maxSkewMs: 120_000, maxKeys: 100 }, shared);
    await assert.rejects(
      runFrameGuards([replay], audit, frame('y1'), async () => stored),
      /redis down/,
    );
    down = false;
    let answered = 0;
    const reply = await Promise.race([
      runFrameGuards([replay], audit, frame('y1'), async () => (answered++, stored)),
      new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 2000)),
    ]);
    assert.notEqual(reply, 'hung', 'the retry was not left waiting on the failed claim');
    assert.equal(answered, 1);
  });
});

describe('idempotency keys are forgotten once replay.windowMs has passed (clock injected)', () => {
  const conn = { userId: 'aging-user', ip: '192.0.2.7' } as unknown as Connection;
  const audit = { emit: () => undefined } as unknown as SecurityAudit;
  const stored: Reply = { ok: true, body: { message: { id: 'm', seq: 1, ts: 1 } } };
  const WINDOW = 60_000;

  it('a key is a duplicate within the window and a fresh send after it; the cache empties by age, not by count', async () => {
    let now = 1_000_000;
    const replay = replayGuard({ windowMs: WINDOW, maxSkewMs: 120_000, maxKeys: 100_000, now: () => now });
    let answered = 0;
    const send = (id: string): Promise<Reply> =>
      runFrameGuards([replay], audit, { conn, frame: { type: 'chat.send', id, room: 'r', text: 't' } }, async () => (answered++, stored));
    for (let i = 0; i < 500; i++) await send(`k${i}`);
    assert.equal(replay.size, 500);
    assert.equal(answered, 500);
    now += WINDOW - 1;
    const again = await send('k0');
    assert.equal((again as { body: { duplicate?: boolean } }).body.duplicate, true, 'still remembered just inside the window');
    assert.equal(answered, 500);
    // Past the window plus one slice (a quarter window), every old key is gone: far below maxKeys.
    now += WINDOW / 4 + 2;
    const fresh = await send('k1');
    assert.equal((fresh as { body: { duplicate?: boolean } }).body.duplicate, undefined, 'an expired id is a new send');
    assert.equal(answered, 501);
    assert.equal(replay.size, 1, 'only the key sent after the window remains');
  });
});

describe('ExpiringCache', () => {
  it('keeps an entry at least ttlMs and at most ttlMs plus one slice', () => {
    let now = 0;
    const cache = new ExpiringCache<string, number>({ ttlMs: 1000, maxEntries: 1000, slices: 4, now: () => now });
    cache.set('a', 1);
    now = 999;
    assert.equal(cache.get('a'), 1);
    now = 1249;
    assert.equal(cache.get('a'), 1, 'within the extra slice');
    now = 1251;
    assert.equal(cache.get('a'), undefined);
    assert.equal(cache.size, 0);
  });

  it('a key written again starts its age again and is counted once', () => {
    let now = 0;
    const cache = new ExpiringCache<string, number>({ ttlMs: 1000, maxEntries: 1000, now: () => now });
    cache.set('a', 1);
    now = 800;
    cache.set('a', 2);
    assert.equal(cache.size, 1);
    now = 1700;
    assert.equal(cache.get('a'), 2);
    assert.equal(cache.delete('a'), true);
    assert.equal(cache.size, 0);
    assert.equal(cache.delete('a'), false);
  });

  it('stays within maxEntries under a flood, keeping the newest entries', () => {
    const cache = new ExpiringCache<number, number>({ ttlMs: 600_000, maxEntries: 1000, now: () => 0 });
    for (let i = 0; i < 50_000; i++) cache.add(i, i);
    assert.ok(cache.size <= 1000, `size ${cache.size}`);
    assert.ok(cache.size >= 800, `size ${cache.size}`);
    assert.equal(cache.get(49_999), 49_999);
    assert.equal(cache.get(0), undefined);
  });
});
