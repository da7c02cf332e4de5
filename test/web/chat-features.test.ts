/**
 * What every chat app has, in Chromium with two people against a real server: plain URLs made
 * into safe links, date separators, the open room remembered across reloads and sign-ins, a confirmation
 * before deleting, the room-name rule shown before the server is asked, and notices that clear
 * themselves.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { LINK_REL } from '../../src/protocol/markup.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { browserSkip, ensureWebBuilt, launch, waitForText } from './browser.js';
import { log, PASSWORD, person, register, send, sentOf, type Person } from './people.js';

const skip = browserSkip();
const DAY_MS = 86_400_000;

describe('web app: chat features in Chromium', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer({
      config: {
        accounts: { registration: 'open' },
        // A bare `javascript:` URL in text counts as an xss_attempt; the link test sends one.
        abuse: { threshold: 1_000_000 },
        rateLimits: { login: { points: 1000, durationMs: 60_000 }, handshake: { points: 1000, durationMs: 60_000 } },
      },
    });
    browser = await launch();
    alice = await person(browser, server, { viewport: { width: 1280, height: 800 } });
    bob = await person(browser, server, { viewport: { width: 1280, height: 800 } });
    await register(alice, server, 'alice');
    await register(bob, server, 'bob');
    await createRoom(alice, 'links');
    await open(bob, 'links');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  async function createRoom(p: Person, name: string): Promise<void> {
    await p.page.getByLabel('Room name').fill(name);
    await p.page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(p.page.locator('.room__title'), new RegExp(`^${name}$`));
  }

  async function open(p: Person, name: string): Promise<void> {
    const link = p.page.getByRole('navigation', { name: 'Rooms' }).getByRole('button', { name, exact: true });
    if ((await link.count()) > 0) await link.click();
    else {
      // Not listed yet (the list refreshes on connect and every 30 s): join by name.
      await p.page.getByLabel('Room name').fill(name);
      await p.page.getByRole('button', { name: 'Join room' }).click();
    }
    await waitForText(p.page.locator('.room__title'), new RegExp(`^${name}$`));
  }

  it('makes plain http, https and mailto URLs into safe links, and nothing else', async () => {
    await send(alice, 'docs at https://example.com/a?b=1&c=2. mail mailto:ops@example.com (see http://example.org/x) not javascript:alert(1) nor data:text/html,hi');
    const message = log(bob).locator('.msg', { hasText: 'docs at' });
    await waitForText(message, /nor data:text\/html,hi/);
    const links = await message
      .locator('.msg__body a')
      .evaluateAll((as) => as.map((a) => ({ href: a.getAttribute('href'), text: a.textContent, rel: a.getAttribute('rel'), target: a.getAttribute('target') })));
    assert.deepEqual(
      links.map((l) => [l.href, l.text]),
      [
        ['https://example.com/a?b=1&c=2', 'https://example.com/a?b=1&c=2'],
        ['mailto:ops@example.com', 'mailto:ops@example.com'],
        ['http://example.org/x', 'http://example.org/x'],
      ],
      'the trailing "." and ")" stay text',
    );
    for (const link of links) {
      assert.equal(link.rel, LINK_REL);
      assert.equal(link.target, '_blank');
    }
    const body = (await message.locator('.msg__body').textContent()) ?? '';
    assert.match(body, /not javascript:alert\(1\) nor data:text\/html,hi$/, 'javascript: and data: stay plain text');
    assert.equal(await bob.page.locator('a[href^="javascript:" i], a[href^="data:" i]').count(), 0);
    // Already-linked text keeps its one link (no link inside a link).
    await send(alice, '<a href="https://example.net/">https://example.net/</a>');
    await waitForText(log(bob), /example\.net/);
    assert.equal(await log(bob).locator('.msg', { hasText: 'example.net' }).locator('a').count(), 1);
  });

  it('separates the messages of different days with Today, Yesterday and a date', async () => {
    // History written on earlier days, straight into the store, before anyone joins.
    const store = server.bulwark.store;
    const now = Date.now();
    const room = await store.createRoom({ name: 'days', owner: 'acct:alice', visibility: 'public', createdAt: now - 5 * DAY_MS });
    assert.ok(room);
    const seed = [
      { text: 'from three days ago', ts: now - 3 * DAY_MS },
      { text: 'yesterday one', ts: now - DAY_MS },
      { text: 'yesterday two', ts: now - DAY_MS + 1000 },
    ];
    for (const [i, m] of seed.entries()) {
      await store.appendMessage({ id: `seed-${i}`, roomId: room.id, roomName: 'days', userId: 'acct:carol', userName: 'carol', text: m.text, ts: m.ts });
    }
    await open(alice, 'days');
    await send(alice, 'written today');
    await open(bob, 'days');
    await waitForText(log(bob), /written today/);
    const order = await log(bob)
      .locator('.day, .msg')
      .evaluateAll((items) => items.map((el) => (el.classList.contains('day') ? `[${el.getAttribute('aria-label')}]` : (el.querySelector('.msg__body')?.textContent ?? ''))));
    const threeDaysAgo = await bob.page.evaluate((ts) => {
      const d = new Date(ts);
      const sameYear = d.getFullYear() === new Date().getFullYear();
      return d.toLocaleDateString([], sameYear ? { weekday: 'long', month: 'long', day: 'numeric' } : { year: 'numeric', month: 'long', day: 'numeric' });
    }, seed[0]!.ts);
    assert.deepEqual(order, [`[${threeDaysAgo}]`, 'from three days ago', '[Yesterday]', 'yesterday one', 'yesterday two', '[Today]', 'written today']);
    assert.equal(await log(bob).getByRole('separator', { name: 'Yesterday' }).count(), 1, 'separators are exposed as separators');
  });

  it('remembers the open room across a reload and a new sign-in, and forgets one no longer accessible', async () => {
    await open(bob, 'links');
    await bob.page.reload();
    await waitForText(bob.page.locator('.room__title'), /^links$/);
    await waitForText(log(bob), /docs at/);
    const remembered = await bob.page.evaluate(() => Object.entries(localStorage).filter(([k]) => k.startsWith('bulwark.openRoom:')));
    assert.deepEqual(remembered, [['bulwark.openRoom:acct:bob', 'links']], 'per user, the room name only');
    // And after signing out and in again.
    await bob.page.getByRole('button', { name: 'Log out' }).click();
    await bob.page.getByLabel('Username').fill('bob');
    await bob.page.getByLabel('Password').fill(PASSWORD);
    await bob.page.getByRole('button', { name: 'Log in' }).click();
    await waitForText(bob.page.locator('.room__title'), /^links$/);

    // A private room bob was never invited to: not reopened, not complained about, forgotten.
    await alice.page.getByLabel('Room name').fill('hideout');
    await alice.page.getByText('Private room').click();
    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(alice.page.locator('.room__title'), /^hideout$/);
    await bob.page.evaluate(() => localStorage.setItem('bulwark.openRoom:acct:bob', 'hideout'));
    await bob.page.reload();
    await bob.page.getByLabel('Message', { exact: true }).waitFor();
    await bob.page.waitForFunction(() => localStorage.getItem('bulwark.openRoom:acct:bob') === null, undefined, { timeout: 10_000 });
    assert.equal(await bob.page.locator('.room__title').textContent(), 'Pick or create a room');
    assert.equal(await bob.page.locator('.notice').isVisible(), false, 'no error for a room that is simply gone');
    assert.equal(sentOf(bob, 'room.join').filter((f) => f.room === 'hideout').length, 1, 'asked once');
    await open(bob, 'links');
  });

  it('asks before deleting; Cancel and Escape keep the message, Delete removes it', async () => {
    await open(alice, 'links');
    await send(alice, 'maybe delete me');
    await waitForText(log(bob), /maybe delete me/);
    const mine = log(alice).locator('.msg', { hasText: 'maybe delete me' });
    const dialog = alice.page.getByRole('dialog', { name: 'Delete this message?' });

    await mine.getByRole('button', { name: 'Delete' }).click();
    await dialog.waitFor();
    assert.match((await dialog.textContent()) ?? '', /removed for everyone/);
    assert.equal(await alice.page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'focus starts on the safe choice');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await mine.getByRole('button', { name: 'Delete' }).click();
    await dialog.waitFor();
    await alice.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await alice.page.waitForTimeout(300);
    assert.equal(sentOf(alice, 'chat.delete').length, 0, 'nothing asked of the server');
    assert.equal(await log(bob).locator('.msg', { hasText: 'maybe delete me' }).count(), 1, 'still there for bob');

    await mine.getByRole('button', { name: 'Delete' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await bob.page.waitForFunction(() => !document.querySelector('[role=log]')?.textContent?.includes('maybe delete me'), undefined, { timeout: 10_000 });
    assert.equal(sentOf(alice, 'chat.delete').length, 1);
    assert.deepEqual(alice.dialogs, [], 'no window.confirm');
  });

  it('shows the room-name rule while typing and refuses a bad name before asking the server', async () => {
    const field = alice.page.getByLabel('Room name');
    const problem = alice.page.locator('#room-name-problem');
    assert.match((await alice.page.locator('#room-name-rule').textContent()) ?? '', /1–64 characters: letters A–Z, digits, - and _/);

    await field.fill('my room!');
    await waitForText(problem, /^Not allowed: spaces, “!”\. Use letters A–Z, digits, - and _\.$/);
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    const creates = sentOf(alice, 'room.create').length;
    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await alice.page.getByRole('button', { name: 'Join room' }).click();
    await field.fill('x'.repeat(65));
    await waitForText(problem, /^Too long: 65 characters, at most 64\.$/);
    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await alice.page.waitForTimeout(300);
    assert.equal(sentOf(alice, 'room.create').length, creates, 'no room.create sent');
    assert.equal(sentOf(alice, 'room.join').filter((f) => f.room === 'my room!').length, 0, 'no room.join sent');

    await field.fill('good_name-1');
    await waitForText(problem, /^$/);
    assert.equal(await field.getAttribute('aria-invalid'), null);
  });

  it('shows an error that clears itself, can be dismissed, and never goes stale', async () => {
    const noticeBox = alice.page.locator('.notice');
    const alert = noticeBox.getByRole('alert');
    // A name that exists: the server refuses, the page says why.
    await alice.page.getByLabel('Room name').fill('links');
    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(alert, /^A room with that name exists already\.$/);
    await noticeBox.waitFor({ state: 'hidden', timeout: 12_000 });
    assert.equal(await noticeBox.locator('[role=alert]').textContent(), '', 'the live region is emptied too');

    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(alert, /exists already/);
    await noticeBox.getByRole('button', { name: 'Dismiss notice' }).click();
    await noticeBox.waitFor({ state: 'hidden' });

    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(alert, /exists already/);
    await open(alice, 'days');
    assert.equal(await noticeBox.isVisible(), false, 'opening another room clears the old error');
  });
});
