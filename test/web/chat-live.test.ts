/**
 * The live side of the chat web app, in Chromium with two people against a real server: who is
 * online in the open room, "alice is typing…", editing one's own messages in place, and the
 * online list shrinking when someone leaves (docs/protocol.md `presence`, `chat.typing`,
 * `chat.edit`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.js';
import { browserSkip, ensureWebBuilt, launch, waitForText } from './browser.js';
import { log, person, register, send, sentOf, type Person } from './people.js';

const skip = browserSkip();

describe('web app: presence, typing and edits in Chromium', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer({
      config: {
        accounts: { registration: 'open' },
        rateLimits: { login: { points: 1000, durationMs: 60_000 }, handshake: { points: 1000, durationMs: 60_000 } },
      },
    });
    browser = await launch();
    alice = await person(browser, server, { viewport: { width: 1280, height: 800 } });
    bob = await person(browser, server, { viewport: { width: 1280, height: 800 } });
    await register(alice, server, 'alice');
    await register(bob, server, 'bob');
    await alice.page.getByLabel('Room name').fill('live');
    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(alice.page.locator('.room__title'), /^live$/);
    await bob.page.getByLabel('Room name').fill('live');
    await bob.page.getByRole('button', { name: 'Join room' }).click();
    await waitForText(bob.page.locator('.room__title'), /^live$/);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const onlineNames = (p: Person): Promise<string[]> => p.page.locator('.online__user').allTextContents();

  async function waitForOnline(p: Person, expected: string[]): Promise<void> {
    await p.page.waitForFunction((names) => JSON.stringify(Array.from(document.querySelectorAll('.online__user'), (el) => el.textContent)) === JSON.stringify(names), expected, {
      timeout: 15_000,
    });
  }

  it('lists who is online in the open room, for both people', async () => {
    await waitForOnline(bob, ['alice', 'bob']);
    await waitForOnline(alice, ['alice', 'bob']); // bob's arrival reached alice as presence.joined
    await waitForText(bob.page.locator('.online__title'), /^Online · 2$/);
    assert.equal(sentOf(bob, 'presence').length, 1, 'asked once, on opening the room');
  });

  it('shows "alice is typing…" to bob only, throttled, gone after a few seconds or when her message arrives', async () => {
    const typing = bob.page.locator('.typing');
    const composer = alice.page.getByLabel('Message', { exact: true });
    await composer.click();
    await alice.page.keyboard.type('hello there', { delay: 30 });
    await waitForText(typing, /^alice is typing…$/);
    assert.equal(await alice.page.locator('.typing').textContent(), '', 'not shown to the typist');
    assert.equal(sentOf(alice, 'chat.typing').length, 1, 'one signal for a burst of keystrokes');
    // No further keystrokes: the indicator expires by itself.
    await waitForText(typing, /^$/, 10_000);

    await alice.page.keyboard.type(' bob', { delay: 30 });
    await waitForText(typing, /^alice is typing…$/);
    await alice.page.keyboard.press('Enter');
    await waitForText(log(bob), /hello there bob/);
    assert.equal(await typing.textContent(), '', 'her message ends her typing at once');
  });

  it('lets alice edit her own message; bob sees the new text in place, marked edited', async () => {
    await send(alice, 'teh first draft with 1 < 2');
    await waitForText(log(bob), /teh first draft/);
    const aliceMsg = log(alice).locator('.msg', { hasText: 'teh first draft' });
    const id = await aliceMsg.getAttribute('data-id');
    assert.ok(id);
    // Bob may reply to it but not edit it; his own messages have Edit.
    const bobsCopy = log(bob).locator(`.msg[data-id="${id}"]`);
    assert.equal(await bobsCopy.getByRole('button', { name: 'Edit' }).count(), 0);

    await aliceMsg.getByRole('button', { name: 'Edit' }).click();
    const editor = alice.page.getByLabel('Edit message');
    assert.equal(await editor.inputValue(), 'teh first draft with 1 < 2', 'the text as typed, not as escaped');
    await editor.fill('the final text with <b>bold</b> and 1 < 2');
    await editor.press('Enter');

    await waitForText(bobsCopy.locator('.msg__body'), /^the final text with bold and 1 < 2$/);
    assert.equal(await bobsCopy.locator('.msg__body b').textContent(), 'bold');
    await waitForText(bobsCopy.locator('.msg__meta'), /edited/);
    assert.equal(await log(bob).locator(`.msg[data-id="${id}"]`).count(), 1, 'updated in place, not added');
    assert.equal(await log(bob).locator('.msg', { hasText: 'teh first draft' }).count(), 0);
    const edited = log(alice).locator(`.msg[data-id="${id}"]`);
    await waitForText(edited.locator('.msg__meta'), /edited/);
    assert.equal(sentOf(alice, 'chat.edit').length, 1);

    // Escape leaves the message as it was and asks nothing.
    await edited.getByRole('button', { name: 'Edit' }).click();
    await alice.page.getByLabel('Edit message').fill('never sent');
    await alice.page.getByLabel('Edit message').press('Escape');
    assert.equal(await alice.page.getByLabel('Edit message').count(), 0);
    assert.equal(sentOf(alice, 'chat.edit').length, 1);
    await waitForText(edited.locator('.msg__body'), /^the final text with bold and 1 < 2$/);

    // After a reload, history carries the latest text and the mark.
    await bob.page.reload();
    await waitForText(log(bob).locator(`.msg[data-id="${id}"]`), /the final text with bold/);
    await waitForText(log(bob).locator(`.msg[data-id="${id}"] .msg__meta`), /edited/);
    await waitForOnline(bob, ['alice', 'bob']);
  });

  it("drops alice from bob's online list when she leaves the room", async () => {
    await alice.page.getByRole('button', { name: 'Leave room' }).click();
    await waitForText(alice.page.locator('.room__title'), /^Pick or create a room$/);
    await waitForOnline(bob, ['bob']);
    assert.deepEqual(await onlineNames(bob), ['bob']);
    await waitForText(bob.page.locator('.online__title'), /^Online · 1$/);
    assert.equal(sentOf(alice, 'room.leave').length, 1);
  });
});
