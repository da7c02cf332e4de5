/**
 * Chromium for the end-to-end tests: Debian's `chromium` driven by playwright-core. Outside CI a
 * missing browser skips the suite with a clear reason; in CI (`CI=true`) it fails loudly.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Locator } from 'playwright-core';
import { build } from 'vite';

export const CHROMIUM = process.env.BULWARK_CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = join(process.cwd(), 'test-results');

/** `false` when the browser is there, else the skip reason (throws in CI). */
export function browserSkip(): string | false {
  if (existsSync(CHROMIUM)) return false;
  const reason = `Chromium not found at ${CHROMIUM}: install it with apt-get install -y chromium`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(reason);
  return reason;
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
}

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Builds `web/dist` when it is missing or older than the sources (CI builds it in `npm ci`). */
export async function ensureWebBuilt(): Promise<void> {
  const web = join(process.cwd(), 'web');
  const index = join(web, 'dist', 'index.html');
  const sources = Math.max(newest(join(web, 'src')), statSync(join(web, 'index.html')).mtimeMs, statSync(join(web, 'admin.html')).mtimeMs, newest(join(process.cwd(), 'client')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  await build({ configFile: join(web, 'vite.config.ts'), logLevel: 'warn' });
}

export function screenshotPath(name: string): string {
  mkdirSync(RESULTS, { recursive: true });
  return join(RESULTS, name);
}

/** Polls a locator's text until it matches, with a bounded wait. */
export async function waitForText(locator: Locator, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    last = (await locator.textContent().catch(() => '')) ?? '';
    if (pattern.test(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${pattern} — last text: ${JSON.stringify(last.slice(0, 300))}`);
}
