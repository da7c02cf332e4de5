/**
 * The web app in Chromium against a real server: two people register and chat, XSS vectors
 * typed into the UI stay inert, the CSP is sent and reports violations, and both pages ride out
 * a server restart, show the banner and receive what they missed exactly once.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect as rawConnect } from '../helpers/client.js';
import { browserSkip, ensureWebBuilt, launch, screenshotPath, waitForText } from './browser.js';
import { log, person as newPerson, register as signUp, send, type Person } from './people.js';
import { XSS_VECTORS } from './vectors.js';

const skip = browserSkip();
describe('web app in Chromium', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let alice: Person;
  let bob: Person;

  before(async () => {
    await ensureWebBuilt();
    server = await startServer({
      config: {
        accounts: { registration: 'open' },
        // The XSS test sends 30 probes in a row; each records xss_attempt (abuse weight 10), which
        // would ban the sender long before the last one (docs/protocol.md "Message text").
        abuse: { threshold: 1_000_000 },
        rateLimits: {
          'chat.send': { points: 1000, durationMs: 10_000 },
          login: { points: 1000, durationMs: 60_000 },
          handshake: { points: 1000, durationMs: 60_000 },
        },
      },
    });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  const person = (viewport: { width: number; height: number }): Promise<Person> => newPerson(browser, server, { viewport });
  const register = (p: Person, username: string): Promise<void> => signUp(p, server, username);

  it('two people register, create a room and chat (reply, delete)', async () => {
    alice = await person({ width: 1280, height: 800 });
    bob = await person({ width: 390, height: 844 }); // a phone
    await register(alice, 'alice');
    await alice.page.getByLabel('Room name').fill('lobby');
    await alice.page.getByRole('button', { name: 'Create room' }).click();
    await waitForText(alice.page.locator('.room__title'), /^lobby$/);

    await register(bob, 'bob');
    await bob.page.getByRole('button', { name: 'lobby' }).click();
    await waitForText(bob.page.locator('.room__title'), /^lobby$/);

    await send(alice, 'Hello Bob, welcome to <b>Bulwark</b>');
    await waitForText(log(bob), /Hello Bob, welcome to Bulwark/);
    assert.equal(await log(bob).locator('b', { hasText: 'Bulwark' }).count(), 1, 'allowed markup renders');

    // Bob replies to Alice's message.
    await log(bob).locator('.msg', { hasText: 'Hello Bob' }).getByRole('button', { name: 'Reply' }).click();
    await send(bob, 'Hi Alice!');
    await waitForText(log(alice), /Hi Alice!/);
    await waitForText(log(alice).locator('.msg', { hasText: 'Hi Alice!' }).locator('.msg__quote'), /alice: Hello Bob/);

    // Alice deletes a message of her own; it disappears for Bob too.
    await send(alice, 'a typo to delete');
    await waitForText(log(bob), /a typo to delete/);
    await log(alice).locator('.msg', { hasText: 'a typo to delete' }).getByRole('button', { name: 'Delete' }).click();
    await alice.page.getByRole('dialog', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete' }).click();
    await bob.page.waitForFunction(() => !document.querySelector('[role=log]')?.textContent?.includes('a typo to delete'), undefined, { timeout: 10_000 });
    assert.equal(await log(bob).locator('.msg--deleted').count(), 1);
    // Bob cannot delete Alice's message: no button offered.
    const alicesMessage = log(bob)
      .locator('.msg')
      .filter({ has: bob.page.locator('.msg__body', { hasText: 'Hello Bob' }) });
    assert.equal(await alicesMessage.count(), 1);
    assert.equal(await alicesMessage.getByRole('button', { name: 'Delete' }).count(), 0);

    for (const [p, name] of [
      [alice, 'chat-desktop.png'],
      [bob, 'chat-phone.png'],
    ] as const) {
      const file = screenshotPath(name);
      await p.page.screenshot({ path: file, fullPage: true });
      assert.ok(statSync(file).size > 1000, `${name} is not empty`);
    }
  });

  it(`renders ${XSS_VECTORS.length} XSS vectors sent through the UI as inert text`, async () => {
    assert.ok(alice && bob, 'runs after the chat test');
    await alice.page.evaluate(() => ((window as unknown as { __pwned?: number }).__pwned = undefined));
    for (const vector of XSS_VECTORS) await send(alice, vector);
    await waitForText(log(bob), /__pwned=1<\/script>/); // the last script vector arrived as text
    await alice.page.waitForTimeout(500); // let any deferred payload (onerror, autofocus) try

    for (const p of [alice, bob]) {
      const report = await p.page.evaluate(() => {
        const allowed = new Set(['B', 'I', 'EM', 'STRONG', 'CODE', 'A']);
        const bodies = Array.from(document.querySelectorAll('[role=log] .msg__body'));
        const foreign: string[] = [];
        for (const body of bodies) {
          for (const el of Array.from(body.querySelectorAll('*'))) {
            if (!allowed.has(el.tagName)) foreign.push(el.tagName);
            for (const attr of el.getAttributeNames()) if (!['href', 'rel', 'target'].includes(attr)) foreign.push(`${el.tagName}[${attr}]`);
            if (el.tagName === 'A' && el.hasAttribute('href') && !/^(https?|mailto):/i.test(el.getAttribute('href')!)) foreign.push(`href=${el.getAttribute('href')}`);
          }
        }
        const handlers = Array.from(document.querySelectorAll('*'))
          .filter((el) => el.getAttributeNames().some((a: string) => a.toLowerCase().startsWith('on')))
          .map((el) => el.tagName);
        return {
          bodies: bodies.length,
          foreign,
          handlers,
          frames: document.querySelectorAll('iframe, object, embed, script:not([src]), base, meta[http-equiv]').length,
          pwned: (window as unknown as { __pwned?: number }).__pwned,
          texts: bodies.map((b) => b.textContent ?? ''),
        };
      });
      assert.deepEqual(report.foreign, [], 'only allowlisted elements and attributes in messages');
      assert.deepEqual(report.handlers, [], 'no event handler attribute anywhere');
      assert.equal(report.frames, 0, 'no injected frame, object, inline script, base or meta');
      assert.equal(report.pwned, undefined);
      assert.ok(
        report.texts.some((t) => t.includes('<script>alert(1)</script>')),
        'script tags show as text',
      );
      assert.ok(report.bodies >= XSS_VECTORS.length, `${report.bodies} messages rendered`);
      assert.deepEqual(p.dialogs, [], 'no dialog fired');
      assert.deepEqual(p.foreign, [], 'no request to a foreign host');
    }
  });

  it('sends a strict CSP and reports a violation when inline script is attempted', async () => {
    assert.ok(alice, 'runs after the chat test');
    const response = await alice.page.request.get(server.url);
    const csp = response.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /report-uri \/api\/csp-report/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);

    const reported = alice.page.waitForRequest((r) => r.url().endsWith('/api/csp-report') && r.method() === 'POST', { timeout: 15_000 });
    const violation = await alice.page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective), { once: true });
          const s = document.createElement('script');
          s.textContent = 'window.__inline = 1';
          document.head.append(s);
        }),
    );
    assert.match(violation, /script-src/);
    assert.equal(await alice.page.evaluate(() => (window as unknown as { __inline?: number }).__inline), undefined);
    // The browser's own report passes the same-origin, size and rate checks of the endpoint.
    const answer = await (await reported).response();
    assert.equal(answer?.status(), 204);
  });

  it('survives a server restart: banner, reconnect, missed messages exactly once', async () => {
    assert.ok(alice && bob, 'runs after the chat test');
    // Both pages lose the network, then the server restarts: they cannot come back until the
    // network does, so the messages below are really missed.
    await alice.context.setOffline(true);
    await bob.context.setOffline(true);
    server = await server.restart();
    for (const p of [alice, bob]) await waitForText(p.page.getByRole('status'), /Reconnecting in \d+ s…/, 20_000);
    const banner = screenshotPath('reconnect-banner.png');
    await bob.page.screenshot({ path: banner });
    assert.ok(statSync(banner).size > 1000, 'banner screenshot is not empty');

    const carol = await rawConnect(server, 'carol', { name: 'carol' });
    await carol.ok({ type: 'room.join', room: 'lobby' });
    for (let i = 1; i <= 3; i++) await carol.ok({ type: 'chat.send', room: 'lobby', text: `missed while away ${i}` });
    // Alice writes while offline: the message waits in the outbox.
    await alice.page.getByLabel('Message', { exact: true }).fill('written while offline');
    await alice.page.getByRole('button', { name: 'Send', exact: true }).click();
    await waitForText(log(alice), /waiting for connection…|sending…/);

    await alice.context.setOffline(false);
    await bob.context.setOffline(false);
    for (const p of [alice, bob]) {
      await waitForText(log(p), /missed while away 3[\s\S]*written while offline|written while offline[\s\S]*missed while away 3/, 40_000);
      await p.page.waitForFunction(() => document.querySelectorAll('[data-pending]').length === 0, undefined, { timeout: 15_000 });
      await p.page.waitForTimeout(300);
      const texts = await log(p).locator('.msg__body').allTextContents();
      for (const expected of ['missed while away 1', 'missed while away 2', 'missed while away 3', 'written while offline']) {
        assert.equal(texts.filter((t) => t === expected).length, 1, `"${expected}" shown exactly once`);
      }
      const missed = texts.filter((t) => t.startsWith('missed while away'));
      assert.deepEqual(missed, ['missed while away 1', 'missed while away 2', 'missed while away 3'], 'in order');
      await waitForText(p.page.getByRole('status'), /^$|Reconnected/, 10_000);
    }
    carol.close();
  });
});
