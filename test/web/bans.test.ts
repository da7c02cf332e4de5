/**
 * The web app in Chromium when its user is banned or muted (docs/protocol.md "Abuse scoring and
 * bans"): the banner says "You are banned until …" — for a live connection closed by the ban and
 * for a page opened while banned, whose refused handshake a browser cannot read — never
 * "Reconnecting…" meanwhile, and the chat comes back by itself when the ban ends; a muted user
 * reads "Muted for N s".
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.js';
import { browserSkip, ensureWebBuilt, launch, waitForText } from './browser.js';

const skip = browserSkip();
const BAN_MS = 5000;

describe('web app: bans and mutes in Chromium', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer({
      config: {
        // The page signs up on its own: registration is by invitation unless opened.
        accounts: { registration: 'open' },
        rateLimits: { login: { points: 1000, durationMs: 60_000 }, handshake: { points: 1000, durationMs: 60_000 } },
        spam: { muteAfter: 2, muteMs: 45_000 },
      },
    });
    browser = await launch();
    page = await (await browser.newContext()).newPage();
    page.on('pageerror', (error) => console.log('page error:', error.message));
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Waits until the banner reports the connection open (the page's socket authenticated). */
  async function connectionOpen(timeout = 15_000): Promise<void> {
    await page.waitForFunction(() => (document.querySelector('[role=status]') as HTMLElement | null)?.dataset.state === 'open', undefined, { timeout });
  }

  /** Banner texts seen until `until` (sampled), to prove "Reconnecting…" never shows while banned. */
  async function bannerUntil(until: number): Promise<string[]> {
    const seen = new Set<string>();
    while (Date.now() < until - 300) {
      seen.add((await page.locator('[role=status]').textContent()) ?? '');
      await page.waitForTimeout(150);
    }
    return [...seen];
  }

  it('says "You are banned until …" when the live connection is closed by a ban, not "Reconnecting…", and recovers by itself', async () => {
    await page.goto(server.url);
    await page.getByLabel('Username').fill('carol');
    await page.getByLabel('Password').fill('correct horse battery');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.getByLabel('Message').waitFor({ timeout: 15_000 });
    await connectionOpen();

    const ban = await server.bulwark.bans.ban('ip', '127.0.0.1', 'test', { durationMs: BAN_MS });
    await waitForText(page.locator('[role=status]'), /^You are banned until /);
    const seen = await bannerUntil(ban.until);
    assert.ok(
      seen.every((t) => /^You are banned until /.test(t)),
      `while banned the banner only says so: ${JSON.stringify(seen)}`,
    );
    await connectionOpen(BAN_MS + 20_000);
    assert.match((await page.locator('[role=status]').textContent()) ?? '', /^Reconnected\./);
  });

  it('says so too for a page opened while banned, whose refused handshake the browser cannot read', async () => {
    const ban = await server.bulwark.bans.ban('ip', '127.0.0.1', 'test', { durationMs: BAN_MS });
    await page.reload();
    await waitForText(page.locator('[role=status]'), /^You are banned until /);
    const seen = await bannerUntil(ban.until);
    assert.ok(
      seen.every((t) => !/Reconnecting/.test(t)),
      JSON.stringify(seen),
    );
    // Back after the ban: the room form works again.
    await page.getByLabel('Room name').fill('after-ban');
    await page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(page.locator('.room__title'), /^after-ban$/, BAN_MS + 20_000);
  });

  it('says "Muted for N s" when sends are refused for a mute, and does not send meanwhile', async () => {
    for (const text of ['buy now', 'buy now please']) {
      await page.getByLabel('Message').fill(text);
      await page.getByRole('button', { name: 'Send', exact: true }).click();
    }
    await waitForText(page.getByRole('alert').filter({ hasText: 'Muted' }), /^Muted for 4\d s\.$/);
    await page.getByLabel('Message').fill('hello?');
    await page.getByRole('button', { name: 'Send', exact: true }).click();
    await waitForText(page.getByRole('alert').filter({ hasText: 'Muted' }), /^Muted for \d+ s\.$/);
    assert.equal(await page.getByLabel('Message').inputValue(), 'hello?', 'not sent while muted');
  });
});
