/**
 * Spam rules for `chat.send` (contract section 4 "Message text", issue 4 item 5): link floods,
 * long runs of one character, the configured keyword list and patterns, and the same message
 * repeated by one user are refused with `SPAM` and a `spam_detected` event; nothing refused is
 * stored or delivered; a user who keeps tripping the rules is muted for `spam.muteMs`
 * (`user_muted` event, `SPAM` with `retryAfterMs` while muted).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { EventRecorder, discard, loose, outcome, sleep, uniq } from './support.js';

const SPAM = {
  maxLinks: 2,
  maxCharRun: 8,
  keywords: ['Cheap Pills', 'free crypto'],
  patterns: ['bit\\.ly/\\w+', '^\\d{6,}$'],
  maxRepeats: 2,
  repeatWindowMs: 30_000,
  muteAfter: 3,
  muteMs: 1500,
};

describe('spam rules', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  let watcher: TestClient;

  before(async () => {
    server = await startServer({ config: loose({ spam: SPAM }) });
    recorder = new EventRecorder(server);
    watcher = await connect(server, uniq('spam-watcher'));
  });
  after(() => server.stop());

  /** A fresh user in a fresh room the watcher also joined. */
  async function setup(): Promise<{ user: string; c: TestClient; room: string }> {
    const user = uniq('spammer');
    const c = await connect(server, user);
    const room = uniq('spam-room');
    await c.ok({ type: 'room.create', room, visibility: 'public' });
    await c.ok({ type: 'room.join', room });
    await watcher.ok({ type: 'room.join', room });
    return { user, c, room };
  }

  async function send(c: TestClient, room: string, text: string): Promise<Frame> {
    return c.request({ type: 'chat.send', room, text });
  }

  /** Refused as SPAM, with one spam_detected event naming the rule, nothing stored or delivered. */
  async function assertSpam(c: TestClient, user: string, room: string, text: string, rule: string): Promise<void> {
    const before = ((await c.ok({ type: 'chat.history', room })).messages as unknown[]).length;
    discard(watcher, 'chat.message');
    const mark = recorder.mark();
    const reply = await send(c, room, text);
    assert.equal(reply.type, 'error', `${JSON.stringify(text).slice(0, 60)} is refused`);
    assert.equal(reply.code, 'SPAM');
    assert.equal(typeof reply.message, 'string');
    const events = await recorder.waitFor(mark, 'spam_detected');
    assert.equal(events.length, 1);
    assert.equal(events[0]!.user, user);
    assert.equal(events[0]!.detail?.rule, rule);
    assert.equal(((await c.ok({ type: 'chat.history', room })).messages as unknown[]).length, before, 'nothing stored');
    assert.ok(await watcher.quiet((f) => f.type === 'chat.message' && f.room === room, 150), 'nothing delivered');
  }

  it('refuses a link flood (more than spam.maxLinks links) but lets maxLinks through', async () => {
    const { user, c, room } = await setup();
    assert.equal(outcome(await send(c, room, 'see https://a.example and http://b.example')), 'ack');
    await assertSpam(c, user, room, 'see https://a.example http://b.example www.c.example', 'links');
    c.close();
  });

  it('refuses a run of one character longer than spam.maxCharRun', async () => {
    const { user, c, room } = await setup();
    assert.equal(outcome(await send(c, room, `wow${'!'.repeat(SPAM.maxCharRun)}`)), 'ack');
    await assertSpam(c, user, room, `wow${'!'.repeat(SPAM.maxCharRun + 1)}`, 'char_run');
    c.close();
  });

  it('refuses the configured keywords, case-insensitively, and only those', async () => {
    const { user, c, room } = await setup();
    assert.equal(outcome(await send(c, room, 'buy now, click here')), 'ack', 'default keywords are replaced by the configured list');
    await assertSpam(c, user, room, 'get CHEAP pills today', 'keyword');
    c.close();
    const other = await setup();
    await assertSpam(other.c, other.user, other.room, 'Free Crypto for all', 'keyword');
    other.c.close();
  });

  it('refuses texts matching a configured pattern', async () => {
    const { user, c, room } = await setup();
    assert.equal(outcome(await send(c, room, 'numbers 12345 are fine')), 'ack');
    await assertSpam(c, user, room, 'go to bit.ly/xyz', 'pattern');
    c.close();
    const other = await setup();
    await assertSpam(other.c, other.user, other.room, '1234567', 'pattern');
    other.c.close();
  });

  it('refuses the same message repeated more than spam.maxRepeats times by one user', async () => {
    const { user, c, room } = await setup();
    for (let i = 0; i < SPAM.maxRepeats; i++) assert.equal(outcome(await send(c, room, 'same old text')), 'ack', `repeat ${i + 1} is allowed`);
    await assertSpam(c, user, room, 'same old text', 'repeat');
    // Another user saying the same thing is not repeating anyone.
    const other = await connect(server, uniq('echo'));
    await other.ok({ type: 'room.join', room });
    assert.equal(outcome(await send(other, room, 'same old text')), 'ack');
    // A different text from the first user goes through again.
    assert.equal(outcome(await send(c, room, 'something new')), 'ack');
    c.close();
    other.close();
  });

  it('mutes a user after spam.muteAfter refusals: user_muted event, SPAM with retryAfterMs, then lifts', async () => {
    const { user, c, room } = await setup();
    const mark = recorder.mark();
    const spam = [`a${'z'.repeat(20)}`, 'CHEAP PILLS', 'bit.ly/abc'];
    for (const text of spam) assert.equal((await send(c, room, text)).code, 'SPAM');
    const muted = await recorder.waitFor(mark, 'user_muted');
    assert.equal(muted.length, 1, 'one user_muted event');
    assert.equal(muted[0]!.user, user);

    const refused = await send(c, room, 'a perfectly normal message');
    assert.equal(refused.code, 'SPAM', 'a clean message is refused while muted');
    const retry = refused.retryAfterMs as number;
    assert.equal(typeof retry, 'number');
    assert.ok(retry > 0 && retry <= SPAM.muteMs, `0 < retryAfterMs (${retry}) <= muteMs`);
    assert.ok(await watcher.quiet((f) => f.type === 'chat.message' && f.room === room, 150));

    // Others are not muted.
    const other = await connect(server, uniq('bystander'));
    await other.ok({ type: 'room.join', room });
    assert.equal(outcome(await send(other, room, 'I am not muted')), 'ack');

    await sleep(retry + 100);
    assert.equal(outcome(await send(c, room, 'back after the mute')), 'ack', 'the mute lifts after retryAfterMs');
    c.close();
    other.close();
  });
});
