/**
 * Frame rate limits (contract section 4, issue 4 item 1): each frame type has its own rule
 * (`rateLimits.<type>`), the rest share `default`; limits are counted per user (across all the
 * user's connections) and per IP at ten times the per-user rule; a refusal is `RATE_LIMITED`
 * with a `retryAfterMs` that is honest: waiting that long lets the next frame through.
 *
 * Every test connects from its own address (127.0.0.1 is a trusted proxy here, so
 * `X-Forwarded-For` picks the client IP) so per-IP buckets never leak between tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { WindowLimiter, wrapLimiter } from '../../src/guards/rate-limits.js';
import { startServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/client.js';
import { EventRecorder, LOOSE_RULE, connectFrom, outcome, sleep, uniq } from './support.js';

const SHORT = { points: 3, durationMs: 1000 };
const LONG = { points: 3, durationMs: 60_000 };
const DEFAULT = { points: 5, durationMs: 60_000 };

describe('frame rate limits', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  let ipN = 0;
  const nextIp = (): string => `198.51.100.${++ipN}`;

  before(async () => {
    server = await startServer({
      config: {
        trustProxy: ['127.0.0.1'],
        abuse: { threshold: 1_000_000 },
        limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 100 },
        rateLimits: { handshake: LOOSE_RULE, 'room.list': SHORT, 'chat.history': LONG, default: DEFAULT },
      },
    });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  const list = (c: TestClient): Promise<string> => c.request({ type: 'room.list' }).then(outcome);
  const history = (c: TestClient): Promise<string> => c.request({ type: 'chat.history', room: 'no-such-room' }).then(outcome);

  it("refuses the frame past a type's own rule with RATE_LIMITED, retryAfterMs and a rate_limited event", async () => {
    const user = uniq('rl-type');
    const c = await connectFrom(server, user, nextIp());
    for (let i = 0; i < SHORT.points; i++) assert.equal(await list(c), 'ack', `room.list #${i + 1} is within the rule`);
    const mark = recorder.mark();
    const refused = await c.request({ type: 'room.list' });
    assert.equal(refused.type, 'error');
    assert.equal(refused.code, 'RATE_LIMITED');
    assert.equal(typeof refused.retryAfterMs, 'number');
    const retry = refused.retryAfterMs as number;
    assert.ok(retry > 0 && retry <= SHORT.durationMs, `0 < retryAfterMs (${retry}) <= the rule's window`);
    const events = await recorder.waitFor(mark, 'rate_limited');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.user, user);
    assert.equal(events[0]!.detail?.type, 'room.list');
    // Another type has its own budget: the same user is not throttled there.
    assert.equal(await history(c), 'NOT_FOUND', 'chat.history is counted under its own rule');
    c.close();
  });

  it('gives an honest retryAfterMs: a retry right away is still refused, waiting retryAfterMs lets the next frame through', async () => {
    const c = await connectFrom(server, uniq('rl-honest'), nextIp());
    for (let i = 0; i < SHORT.points; i++) assert.equal(await list(c), 'ack');
    const first = await c.request({ type: 'room.list' });
    assert.equal(first.code, 'RATE_LIMITED');
    const again = await c.request({ type: 'room.list' });
    assert.equal(again.code, 'RATE_LIMITED', 'not through before the announced time');
    assert.ok((again.retryAfterMs as number) <= (first.retryAfterMs as number), 'the announced wait only shrinks');
    await sleep((again.retryAfterMs as number) + 50);
    assert.equal(await list(c), 'ack', 'through once retryAfterMs has passed');
    c.close();
  });

  it('applies the `default` rule to a frame type without its own rule', async () => {
    const c = await connectFrom(server, uniq('rl-default'), nextIp());
    for (let i = 0; i < DEFAULT.points; i++) {
      assert.equal(outcome(await c.request({ type: 'room.leave', room: 'no-such-room' })), 'NOT_FOUND', `room.leave #${i + 1} reaches the domain`);
    }
    const refused = await c.request({ type: 'room.leave', room: 'no-such-room' });
    assert.equal(refused.code, 'RATE_LIMITED');
    assert.ok((refused.retryAfterMs as number) > 0 && (refused.retryAfterMs as number) <= DEFAULT.durationMs);
    c.close();
  });

  it("counts per user across all of the user's connections, not per connection", async () => {
    const user = uniq('rl-user');
    const ip = nextIp();
    const a = await connectFrom(server, user, ip);
    const b = await connectFrom(server, user, ip);
    assert.equal(await history(a), 'NOT_FOUND');
    assert.equal(await history(b), 'NOT_FOUND');
    assert.equal(await history(a), 'NOT_FOUND');
    assert.equal(await history(b), 'RATE_LIMITED', "the second connection shares the user's budget");
    assert.equal(await history(a), 'RATE_LIMITED');
    // A fresh connection of the same user does not get a fresh budget either.
    const c = await connectFrom(server, user, ip);
    assert.equal(await history(c), 'RATE_LIMITED');
    // Another user on the same address is not throttled by this user's budget.
    const other = await connectFrom(server, uniq('rl-other'), ip);
    assert.equal(await history(other), 'NOT_FOUND');
    for (const x of [a, b, c, other]) x.close();
  });

  it('counts per IP at ten times the per-user rule: the eleventh user behind one address is refused', async () => {
    const ip = nextIp();
    const clients: TestClient[] = [];
    for (let u = 0; u < 10; u++) {
      const c = await connectFrom(server, uniq(`rl-ip${u}`), ip);
      clients.push(c);
      for (let i = 0; i < LONG.points; i++) assert.equal(await history(c), 'NOT_FOUND', `user ${u} frame ${i + 1} is within both budgets`);
    }
    // A user with an untouched personal budget, on the exhausted address.
    const eleventh = await connectFrom(server, uniq('rl-ip10'), ip);
    clients.push(eleventh);
    const refused = await eleventh.request({ type: 'chat.history', room: 'no-such-room' });
    assert.equal(refused.code, 'RATE_LIMITED', 'the address has used 10 x 3 frames');
    assert.ok((refused.retryAfterMs as number) > 0);
    // The same new user from another address goes through: it was the IP, not the user.
    const elsewhere = await connectFrom(server, uniq('rl-ip11'), nextIp());
    clients.push(elsewhere);
    assert.equal(await history(elsewhere), 'NOT_FOUND');
    for (const c of clients) c.close();
  });
});

describe('rate limiter verdicts (wrapLimiter)', () => {
  it('a spent limit is a refusal value with an honest retry time; a broken store throws, it never allows', async () => {
    const limiter = wrapLimiter(new RateLimiterMemory({ keyPrefix: 'verdict', points: 1, duration: 5 }));
    assert.deepEqual(await limiter.consume('k'), { ok: true });
    const refused = await limiter.consume('k');
    assert.equal(refused.ok, false);
    assert.ok(!refused.ok && refused.retryAfterMs > 0 && refused.retryAfterMs <= 5000, JSON.stringify(refused));

    const broken = new RateLimiterMemory({ points: 1, duration: 5 });
    broken.consume = () => Promise.reject(new Error('store unreachable'));
    await assert.rejects(wrapLimiter(broken).consume('k'), /store unreachable/);
  });
});

describe('the in-process window limiter (synchronous, no timer per key)', () => {
  it('allows `points` per window from the first action, then refuses with the time left, and allows again after it', () => {
    let now = 10_000;
    const limiter = new WindowLimiter(3, 1000, () => now);
    for (let i = 0; i < 3; i++) assert.deepEqual(limiter.consumeSync('u'), { ok: true });
    now += 400;
    assert.deepEqual(limiter.consumeSync('u'), { ok: false, retryAfterMs: 600 });
    assert.deepEqual(limiter.consumeSync('other'), { ok: true }, 'keys are counted apart');
    now += 600;
    assert.deepEqual(limiter.consumeSync('u'), { ok: true }, 'the window ended: a new one starts');
  });

  it('forgets ended windows: memory follows the keys active in the last two windows, not all keys ever seen', () => {
    let now = 0;
    const limiter = new WindowLimiter(5, 1000, () => now);
    for (let i = 0; i < 10_000; i++) limiter.consumeSync(`ip-${i}`);
    assert.equal(limiter.size, 10_000);
    now += 2001;
    limiter.consumeSync('late');
    assert.equal(limiter.size, 1);
  });

  it('answers through a promise too, and reset forgets a key', async () => {
    const limiter = new WindowLimiter(1, 60_000);
    assert.deepEqual(await limiter.consume('k'), { ok: true });
    assert.equal((await limiter.consume('k')).ok, false);
    await limiter.reset('k');
    assert.deepEqual(await limiter.consume('k'), { ok: true });
  });
});
