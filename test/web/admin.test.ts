/**
 * The admin console (`/admin`) in Chromium against a real server (issue 14): sign-in and the
 * non-admin screen; a first load that explains its empty panels; stored security events arriving
 * by the live tail with counts, filters and details as fields; live connections and the actions
 * on them behind a confirmation (kick, ban and unban, mute, sign out, disable), each reported as
 * a success in a status, not as an error; live charts; the announcement form. Screenshots of each
 * state go to test-results/ (gitignored).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { hashPassword } from '../../src/auth/passwords.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus, openSocket, type TestClient } from '../helpers/client.js';
import { closeOf, eventually, storedEvents } from '../handshake/support.js';
import { browserSkip, ensureWebBuilt, launch, screenshotPath, waitForText } from './browser.js';

const skip = browserSkip();
const PASSWORD = 'an admin console passphrase';
const LOOSE = { points: 100_000, durationMs: 10_000 };

describe('admin console in Chromium', { skip }, () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const clients: TestClient[] = [];

  async function login(username: string): Promise<string> {
    const res = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin },
      body: JSON.stringify({ username, password: PASSWORD }),
    });
    assert.equal(res.status, 200);
    return ((await res.json()) as { accessToken: string }).accessToken;
  }

  async function shot(name: string, target: 'page' | string = 'page'): Promise<void> {
    if (target === 'page') await page.screenshot({ path: screenshotPath(`admin-${name}.png`) });
    else await page.locator(target).screenshot({ path: screenshotPath(`admin-${name}.png`) });
  }

  async function signIn(username: string): Promise<void> {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
  }

  /** The confirmation dialog: checks it is up, then confirms with `action`. */
  async function confirm(action: string, duration?: string): Promise<void> {
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ timeout: 10_000 });
    if (duration) await dialog.getByLabel('For').selectOption({ label: duration });
    await dialog.getByRole('button', { name: action, exact: true }).click();
    await dialog.waitFor({ state: 'detached', timeout: 10_000 });
  }

  async function success(pattern: RegExp): Promise<void> {
    const status = page.locator('.notices [role="status"]');
    await waitForText(status, pattern);
    assert.ok(await status.isVisible(), 'the success is shown');
    assert.ok(await page.locator('.notices [role="alert"]').isHidden(), 'and no error next to it');
  }

  before(async () => {
    await ensureWebBuilt();
    server = await startServer({
      config: {
        abuse: { threshold: 1_000_000 },
        limits: { maxConnectionsPerIp: 1000 },
        rateLimits: { handshake: LOOSE, default: LOOSE, login: { points: 1000, durationMs: 60_000 } },
      },
    });
    const hash = await hashPassword(PASSWORD);
    await server.bulwark.store.createUser({ id: 'acct:alice', name: 'alice', passwordHash: hash, roles: ['admin'], createdAt: Date.now() });
    await server.bulwark.store.createUser({ id: 'acct:bob', name: 'bob', passwordHash: hash, roles: [], createdAt: Date.now() });
    browser = await launch();
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('response', (response) => {
      if (response.status() === 404) problems.push(`404: ${new URL(response.url()).pathname}`);
    });
    page.on('console', (message) => {
      if (message.type() === 'error' && !/Failed to load resource: the server responded with a status of 401/.test(message.text())) problems.push(`console: ${message.text()}`);
    });
  });

  after(async () => {
    for (const c of clients) c.close();
    await browser?.close();
    await server?.stop();
  });

  it('asks to sign in, tells a non-admin account it is for administrators, and opens for an admin', async () => {
    await page.goto(`${server.url}/admin`);
    await page.getByLabel('Username').waitFor({ timeout: 15_000 });
    await waitForText(page.locator('.auth'), /admin role/);
    await shot('01-sign-in');

    await signIn('bob');
    await waitForText(page.locator('main'), /Administrators only/);
    await waitForText(page.locator('main'), /bulwark users grant bob admin/);
    await shot('02-not-admin');

    await page.getByRole('button', { name: 'Sign in as someone else' }).click();
    await page.getByLabel('Username').waitFor();
    await signIn('alice');
    await page.getByRole('heading', { name: 'Security events' }).waitFor({ timeout: 15_000 });
  });

  it('explains every panel on a first load instead of showing an empty page', async () => {
    await waitForText(page.locator('#connections'), /No live connections right now/);
    await waitForText(page.locator('#bans'), /No bans in force/);
    await waitForText(page.locator('#live'), /Collecting the first readings|sampled every 2 s/);
    const events = await waitForText(page.locator('#events'), /No security events in this time range|event/);
    assert.ok(events.length > 0);
    await waitForText(page.locator('#users'), /alice[\s\S]*bob|bob[\s\S]*alice/);
    await shot('03-first-load');
  });

  it('shows stored security events by the live tail, newest first, with counts per type, filters, and details as fields', async () => {
    for (let i = 0; i < 3; i++) assert.equal(await handshakeStatus(server, { origin: 'https://attacker.example' }), 403);
    const mallory = await connect(server, 'mallory');
    mallory.send({ type: 'auth.refresh', id: 'swap', token: await server.token('root', { roles: ['admin'] }) });
    await mallory.closed;
    server.bulwark.audit.flush();
    await server.bulwark.store.flush();
    const events = page.locator('#events');
    await waitForText(events.locator('tbody'), /refresh_subject_mismatch/, 20_000);
    await waitForText(events.locator('tbody'), /origin_rejected/);
    await waitForText(events.locator('.chips'), /origin_rejected ×3/, 20_000);
    const row = events.locator('tbody tr', { hasText: 'origin_rejected' }).first();
    await waitForText(row, /sent by the client \(untrusted\)[\s\S]*https:\/\/attacker\.example/);
    assert.ok(!/[{}"]/.test((await row.locator('td > dl.detail').textContent()) ?? ''), 'no raw JSON in the details');
    const first = await events.locator('tbody tr').first().textContent();
    assert.match(first ?? '', /refresh_subject_mismatch/, 'newest first');
    await shot('04-events', '#events');

    await events.getByLabel('Severity').selectOption({ label: 'Critical only' });
    await eventually(async () => !/origin_rejected/.test((await events.locator('tbody').textContent()) ?? ''), 10_000);
    const shown = (await events.locator('tbody').textContent()) ?? '';
    assert.match(shown, /refresh_subject_mismatch/);
    assert.doesNotMatch(shown, /origin_rejected/);
    await shot('05-events-critical', '#events');
    await events.getByLabel('Severity').selectOption({ label: 'Any' });
  });

  it('lists live connections and kicks one after a confirmation, reporting the success as a success', async () => {
    const carol = await connect(server, 'carol', { name: 'Carol' });
    await carol.ok({ type: 'room.create', room: 'ops', visibility: 'public' });
    await carol.ok({ type: 'room.join', room: 'ops' });
    const dave = await connect(server, 'dave', { name: 'Dave' });
    clients.push(carol, dave);
    const panel = page.locator('#connections');
    await panel.getByRole('button', { name: 'Refresh' }).click();
    const carolRow = panel.locator('tbody tr', { hasText: 'Carol' });
    await waitForText(carolRow, /127\.0\.0\.1[\s\S]*websocket[\s\S]*ago[\s\S]*ops/);
    await waitForText(panel, /connections? on 1 node/);
    await shot('06-connections', '#connections');

    await panel.locator('tbody tr', { hasText: 'Dave' }).getByRole('button', { name: 'Kick', exact: true }).click();
    await page.getByRole('dialog').waitFor();
    await waitForText(page.getByRole('dialog'), /Disconnect connection .* of dave\?/);
    await shot('07-confirm-kick');
    await confirm('Disconnect');
    assert.deepEqual(Object.values(await closeOf(dave)), [4403, 'disconnected by an administrator']);
    await success(/Disconnected connection .* of dave\./);
    await shot('08-kick-succeeded');
  });

  it('bans an IP for a chosen time, lists it, and lifts it', async () => {
    const bans = page.locator('#bans');
    await bans.getByLabel('Kind').selectOption({ label: 'IP address' });
    await bans.getByLabel('Value').fill('198.51.100.7');
    await bans.locator('select[name="duration"]').selectOption({ label: '1 day' });
    await bans.getByRole('button', { name: 'Ban', exact: true }).click();
    await success(/Banned IP 198\.51\.100\.7 for 1 day\./);
    await waitForText(bans.locator('tbody'), /198\.51\.100\.7[\s\S]*(23|24) h/);
    assert.ok(server.bulwark.bans.active('ip', '198.51.100.7'));
    await shot('09-bans', '#bans');
    await bans.locator('tbody tr', { hasText: '198.51.100.7' }).getByRole('button', { name: 'Unban' }).click();
    await confirm('Unban');
    await success(/Lifted the ban on IP 198\.51\.100\.7\./);
    await waitForText(bans.locator('tbody'), /No bans in force/);
    assert.equal(server.bulwark.bans.active('ip', '198.51.100.7'), undefined);
  });

  it('mutes a user, then signs them out everywhere', async () => {
    const carol = clients[0]!;
    const row = page.locator('#connections tbody tr', { hasText: 'Carol' });
    await row.getByRole('button', { name: 'Mute' }).click();
    await confirm('Mute', '10 minutes');
    await success(/Muted carol for 10 minutes\./);
    const refused = await carol.request({ type: 'chat.send', room: 'ops', text: 'hello?' });
    assert.equal(refused.code, 'SPAM');
    assert.ok((refused.retryAfterMs as number) > 9 * 60_000);

    await row.getByRole('button', { name: 'Sign out' }).click();
    await confirm('Sign out everywhere');
    assert.deepEqual(Object.values(await closeOf(carol)), [4401, 'session revoked']);
    await success(/Signed carol out everywhere\./);
  });

  it('disables an account from the account list: its connection closes and it cannot sign in', async () => {
    const bobSocket = await openSocket(server);
    bobSocket.send({ type: 'auth', token: await login('bob') });
    await bobSocket.next('welcome');
    const users = page.locator('#users');
    await users.locator('tbody tr', { hasText: 'acct:bob' }).getByRole('button', { name: 'Disable' }).click();
    await confirm('Disable');
    assert.deepEqual(Object.values(await closeOf(bobSocket)), [4403, 'account disabled']);
    await success(/Disabled acct:bob\./);
    await waitForText(users.locator('tbody tr', { hasText: 'acct:bob' }), /disabled/);
    await shot('10-accounts', '#users');
    const res = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin },
      body: JSON.stringify({ username: 'bob', password: PASSWORD }),
    });
    assert.equal(res.status, 403);
  });

  it('creates an invitation code, shown once', async () => {
    const users = page.locator('#users');
    await users.getByRole('button', { name: 'Create invitation' }).click();
    await waitForText(users.locator('output'), /bwi_[A-Za-z0-9_-]{24}/);
    await success(/Created invitation [0-9a-f]{12}/);
  });

  it('sends an announcement that every connection receives', async () => {
    const listener = await connect(server, 'listener');
    clients.push(listener);
    await page.getByLabel('Announcement to everyone').fill('Maintenance tonight at 22:00');
    await page.getByRole('button', { name: 'Send announcement' }).click();
    const announcement = await listener.next('announcement', 10_000);
    assert.equal(announcement.text, 'Maintenance tonight at 22:00');
    assert.equal(announcement.from, 'alice');
    await success(/Announcement sent to every connection at/);
  });

  it('draws the live numbers as charts', async () => {
    const live = page.locator('#live');
    await waitForText(live, /sampled every 2 s/, 20_000);
    await live.locator('svg polyline').first().waitFor({ timeout: 20_000 });
    assert.ok((await live.locator('svg.chart').count()) >= 3);
    await waitForText(live, /Refusals \/ min by reason \(last/);
    await shot('11-live', '#live');
    await shot('12-overview');
  });

  it('recorded every action as an admin_action event, and the page raised no error or CSP violation', async () => {
    await eventually(async () => (await storedEvents(server, 'admin_action')).length >= 7, 5000);
    const actions = (await storedEvents(server, 'admin_action')).map((e) => e.detail?.action);
    for (const action of ['kick', 'ban', 'unban', 'mute', 'revoke_sessions', 'disable', 'invite', 'announce'])
      assert.ok(actions.includes(action), `${action} in ${actions.join(',')}`);
    assert.deepEqual(await storedEvents(server, 'csp_violation'), []);
    assert.deepEqual(problems, []);
  });
});
