/**
 * Round trip of `chat.send` -> `ack` from one client, sequential (send, wait, send), on loopback:
 * median and p99 over 10,000 sends, with every frame guard on and with the guards bypassed, in
 * the same run. The server runs in a child process; `npm run bench:rtt [-- --sends N]`.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

const sends = Number(process.argv[process.argv.indexOf('--sends') + 1]) || 10_000;

async function serverProcess(): Promise<void> {
  const bypass = process.argv.includes('--bypass');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { pino } = await import('pino');
  const { loadConfig } = await import('../src/config/load.js');
  const { assembleBulwark } = await import('../src/server.js');
  const { mintToken } = await import('../src/auth/jwt.js');
  const { hmacSecret } = await import('../src/auth/keys.js');
  const config = loadConfig({
    env: {},
    overrides: {
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), 'bulwark-rtt-')),
      logLevel: 'silent',
      // Defences stay on; only the per-user send rate is raised so 10,000 sends are not refused.
      rateLimits: { 'chat.send': { points: 1_000_000, durationMs: 1000 } },
    },
  });
  const bulwark = await assembleBulwark(config, { logger: pino({ level: 'silent' }) }, { withoutFrameGuards: bypass });
  const url = await bulwark.start();
  const token = await mintToken(hmacSecret(config), config.auth, { sub: 'rtt', ttlMs: 3_600_000 });
  process.send!({ url, token });
  process.on('message', () => void bulwark.stop().then(() => process.exit(0)));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function measure(bypass: boolean): Promise<{ p50: number; p99: number; mean: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--server', ...(bypass ? ['--bypass'] : [])], { execArgv: ['--import', 'tsx'] });
  const { url, token } = await new Promise<{ url: string; token: string }>((resolve) => child.once('message', (m) => resolve(m as never)));
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, ['bulwark.v1', `bulwark.bearer.${token}`], { origin: url });
  const replies: Array<(frame: { id?: string; type: string }) => void> = [];
  ws.on('message', (data) => {
    const frame = JSON.parse(String(data)) as { id?: string; type: string };
    if (frame.type === 'ack' || frame.type === 'error' || frame.type === 'welcome') replies.shift()?.(frame);
  });
  const request = (frame: object): Promise<{ type: string }> =>
    new Promise((resolve) => {
      replies.push(resolve);
      ws.send(JSON.stringify(frame));
    });
  await new Promise<void>((resolve) => replies.push(() => resolve()));
  await request({ type: 'room.create', id: 'c', room: 'rtt', visibility: 'public' });
  await request({ type: 'room.join', id: 'j', room: 'rtt' });
  const times: number[] = [];
  for (let i = 0; i < sends + 500; i++) {
    const t0 = process.hrtime.bigint();
    const reply = await request({ type: 'chat.send', id: `m${i}`, room: 'rtt', text: `message number ${i} with a little text` });
    if (reply.type !== 'ack') throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
    if (i >= 500) times.push(Number(process.hrtime.bigint() - t0) / 1e6); // first 500 warm up
  }
  ws.close();
  child.send('stop');
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99), mean: times.reduce((a, b) => a + b, 0) / times.length };
}

if (process.argv.includes('--server')) {
  await serverProcess();
} else {
  const guarded = await measure(false);
  const bypassed = await measure(true);
  const fmt = (r: { p50: number; p99: number; mean: number }): string => `p50 ${r.p50.toFixed(3)} ms  p99 ${r.p99.toFixed(3)} ms  mean ${r.mean.toFixed(3)} ms`;
  console.log(`chat.send -> ack, ${sends} sequential sends, one client, loopback`);
  console.log(`  every guard on    ${fmt(guarded)}`);
  console.log(`  guards bypassed   ${fmt(bypassed)}`);
}
