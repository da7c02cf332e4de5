/**
 * People using the chat web app in Chromium, one browser context each: register, send, read the
 * log. Each person also records dialogs, requests to foreign hosts and the frames their page sent
 * over the WebSocket, so a test can prove something was refused before the server was asked.
 */
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import type { TestServer } from '../helpers/server.js';

export const PASSWORD = 'correct horse battery';

export interface Person {
  context: BrowserContext;
  page: Page;
  dialogs: string[];
  foreign: string[];
  /** Every frame the page sent on its WebSockets, parsed. */
  sent: Array<Record<string, unknown>>;
}

export async function person(browser: Browser, server: TestServer, options: BrowserContextOptions = {}): Promise<Person> {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const p: Person = { context, page, dialogs: [], foreign: [], sent: [] };
  page.on('dialog', (dialog) => {
    p.dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(server.origin) && !url.startsWith(server.origin.replace(/^http/, 'ws')) && !url.startsWith('data:')) p.foreign.push(url);
  });
  page.on('websocket', (ws) => {
    ws.on('framesent', ({ payload }) => {
      try {
        p.sent.push(JSON.parse(String(payload)) as Record<string, unknown>);
      } catch {
        /* not a frame of ours */
      }
    });
  });
  page.on('pageerror', (error) => console.log('page error:', error.message));
  return p;
}

export async function register(p: Person, server: TestServer, username: string): Promise<void> {
  await p.page.goto(server.url);
  await p.page.getByLabel('Username').fill(username);
  await p.page.getByLabel('Password').fill(PASSWORD);
  await p.page.getByRole('button', { name: 'Create account' }).click();
  await p.page.getByRole('button', { name: 'Log out' }).waitFor({ timeout: 15_000 });
  await p.page.getByLabel('Message', { exact: true }).waitFor();
}

export function log(p: Person) {
  return p.page.getByRole('log');
}

export async function send(p: Person, text: string): Promise<void> {
  await p.page.getByLabel('Message', { exact: true }).fill(text);
  await p.page.getByRole('button', { name: 'Send', exact: true }).click();
  // The optimistic copy disappears once the server acknowledged (or refused) the message.
  await p.page.waitForFunction(() => document.querySelectorAll('[data-pending]').length === 0, undefined, { timeout: 15_000 });
}

/** Frames of `type` the page sent so far. */
export function sentOf(p: Person, type: string): Array<Record<string, unknown>> {
  return p.sent.filter((f) => f.type === type);
}
