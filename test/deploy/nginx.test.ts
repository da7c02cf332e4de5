/**
 * The shipped nginx configuration (deploy/nginx/), run for real: Debian's nginx as an
 * unprivileged-config instance on loopback (its own prefix, pid and logs in a temp directory),
 * TLS with a certificate made for the test, in front of two Bulwark nodes configured as
 * docs/deploy.md says (trustProxy = nginx's address, origins.allowed = the public origin).
 *
 * The client connects from 127.0.0.2 while nginx reaches the nodes from 127.0.0.1, so "the IP the
 * server sees" tells the real client apart from the proxy. Fails in CI without nginx; skips
 * elsewhere.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import { EventRecorder, eventually, type Recorded } from '../helpers/events.js';
import { makePki, type Pki } from '../helpers/pki.js';
import { run, useCli } from '../core/cli-support.js';

const NGINX = '/usr/sbin/nginx';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLIENT_IP = '127.0.0.2';
const SECRET = 'a-shared-secret-for-both-nodes-of-the-test';
const found = existsSync(NGINX);
if (!found && process.env.CI === 'true') throw new Error(`${NGINX} is missing: .ci/run installs Debian's nginx`);

useCli();

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function listening(port: number, timeoutMs = 10_000): Promise<void> {
  const ok = await eventually(
    () =>
      new Promise<boolean>((resolve) => {
        const socket = tcpConnect({ port, host: '127.0.0.1' }, () => {
          socket.destroy();
          resolve(true);
        });
        socket.on('error', () => resolve(false));
      }),
    timeoutMs,
    100,
  );
  assert.ok(ok, `nothing listens on ${port}`);
}

/** deploy/nginx/bulwark.conf with its addresses, ports and paths swapped for the test's; every swap must apply. */
function siteConfig(ports: { http: number; tls: number; nodes: number[] }, pki: Pki): string {
  let site = readFileSync(join(ROOT, 'deploy/nginx/bulwark.conf'), 'utf8');
  const swap = (from: string | RegExp, to: string): void => {
    const next = site.replace(from, to);
    assert.notEqual(next, site, `deploy/nginx/bulwark.conf no longer contains ${String(from)}`);
    site = next;
  };
  swap('server 10.0.0.11:8080', `server 127.0.0.1:${ports.nodes[0]}`);
  swap('server 10.0.0.12:8080', `server 127.0.0.1:${ports.nodes[1]}`);
  swap(/^\s*listen \[::\]:80;\n/m, '');
  swap(/^\s*listen \[::\]:443 ssl;\n/m, '');
  swap('listen 80;', `listen 127.0.0.1:${ports.http};`);
  swap('listen 443 ssl;', `listen 127.0.0.1:${ports.tls} ssl;`);
  swap('/etc/letsencrypt/live/chat.example.com/fullchain.pem', pki.cert);
  swap('/etc/letsencrypt/live/chat.example.com/privkey.pem', pki.key);
  swap('include /etc/nginx/snippets/bulwark-proxy.conf;', `include ${join(ROOT, 'deploy/nginx/bulwark-proxy.conf')};`);
  return site;
}

describe('nginx in front of two nodes (deploy/nginx)', { skip: !found && `${NGINX} not installed (CI installs it)` }, () => {
  let pki: Pki;
  let prefix: string;
  let nginx: ChildProcess;
  let nodes: TestServer[];
  let recorders: EventRecorder[];
  let publicOrigin: string;
  let wssUrl: string;
  let nginxLog = '';

  before(async () => {
    pki = makePki(30);
    prefix = mkdtempSync(join(tmpdir(), 'bulwark-nginx-'));
    const tlsPort = await freePort();
    publicOrigin = `https://localhost:${tlsPort}`;
    wssUrl = `wss://localhost:${tlsPort}/ws`;
    const nodeConfig = { trustProxy: ['127.0.0.1'], origins: { allowed: [publicOrigin] }, auth: { secret: SECRET } };
    nodes = [await startServer({ config: nodeConfig }), await startServer({ config: nodeConfig })];
    recorders = nodes.map((n) => new EventRecorder(n));
    const ports = { http: await freePort(), tls: tlsPort, nodes: nodes.map((n) => Number(new URL(n.url).port)) };
    for (const dir of ['tmp/body', 'tmp/proxy', 'tmp/fastcgi', 'tmp/uwsgi', 'tmp/scgi']) mkdirSync(join(prefix, dir), { recursive: true });
    const conf = join(prefix, 'nginx.conf');
    writeFileSync(
      conf,
      [
        userInfo().uid === 0 ? 'user root;' : '',
        'worker_processes 1;',
        `pid ${join(prefix, 'nginx.pid')};`,
        `error_log ${join(prefix, 'error.log')} warn;`,
        'events { worker_connections 256; }',
        'http {',
        '  access_log off;',
        ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t === 'body' ? 'client_body' : t}_temp_path ${join(prefix, 'tmp', t)};`),
        siteConfig(ports, pki),
        '}',
      ].join('\n'),
    );
    nginx = spawn(NGINX, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log'), '-g', 'daemon off; master_process on;'], { stdio: ['ignore', 'pipe', 'pipe'] });
    nginx.stderr!.on('data', (d: Buffer) => (nginxLog += d.toString()));
    nginx.on('exit', (code) => (nginxLog += `\nnginx exited ${code}`));
    await listening(tlsPort).catch((err: Error) => {
      throw new Error(`${err.message}; nginx: ${nginxLog} ${existsSync(join(prefix, 'error.log')) ? readFileSync(join(prefix, 'error.log'), 'utf8') : ''}`);
    });
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      const exited = new Promise((resolve) => nginx.once('exit', resolve));
      nginx.kill('SIGQUIT');
      await exited;
    }
    await Promise.all((nodes ?? []).map((n) => n.stop()));
    pki?.remove();
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  });

  /** An upgrade through nginx (or straight to a node), from CLIENT_IP; resolves with the open socket or the refusal status. */
  function dial(url: string, options: { origin?: string; headers?: Record<string, string> } = {}): Promise<{ ws?: WebSocket; status: number }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, ['bulwark.v1'], {
        origin: options.origin ?? publicOrigin,
        headers: options.headers,
        ca: pki.ca,
        localAddress: CLIENT_IP,
        handshakeTimeout: 5000,
      });
      ws.once('open', () => resolve({ ws, status: 101 }));
      ws.once('unexpected-response', (_req, res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0 });
      });
      ws.once('error', reject);
    });
  }

  async function originEvent(mark: number[]): Promise<Recorded> {
    let event: Recorded | undefined;
    await eventually(() => {
      event = recorders.flatMap((r, i) => r.since(mark[i]!, 'origin_rejected'))[0];
      return event !== undefined;
    });
    assert.ok(event, 'an origin_rejected event on one of the nodes');
    return event;
  }

  it('carries wss:// through the proxy to both nodes: auth, welcome, a message and its ack', async () => {
    const sockets: WebSocket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const { ws, status } = await dial(wssUrl);
        assert.equal(status, 101);
        assert.equal(ws!.protocol, 'bulwark.v1');
        sockets.push(ws!);
      }
      const frames: Array<Record<string, unknown>> = [];
      const ws = sockets[0]!;
      ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
      ws.send(JSON.stringify({ type: 'auth', token: await nodes[0]!.token('through-nginx') }));
      ws.send(JSON.stringify({ type: 'room.create', id: 'c1', room: 'proxied', visibility: 'public' }));
      ws.send(JSON.stringify({ type: 'room.join', id: 'j1', room: 'proxied' }));
      ws.send(JSON.stringify({ type: 'chat.send', id: 's1', room: 'proxied', text: 'over wss through nginx' }));
      assert.ok(await eventually(() => frames.some((f) => f.id === 's1'), 5000), JSON.stringify(frames));
      assert.equal(frames[0]!.type, 'welcome');
      assert.equal(frames.find((f) => f.id === 's1')!.type, 'ack');
      assert.equal((frames.find((f) => f.type === 'chat.message')!.message as { text: string }).text, 'over wss through nginx');
      const open = await Promise.all(nodes.map(async (n) => (await n.bulwark.metrics.openConnections.get()).values[0]?.value ?? 0));
      assert.ok(
        open.every((count) => count > 0),
        `both nodes hold connections: ${open.join(', ')}`,
      );
    } finally {
      for (const s of sockets) s.close();
    }
  });

  it('refuses a foreign Origin, and the node sees the real client IP, not the proxy', async () => {
    const mark = recorders.map((r) => r.mark());
    const { status } = await dial(wssUrl, { origin: 'https://evil.example' });
    assert.equal(status, 403);
    assert.equal((await originEvent(mark)).ip, CLIENT_IP);
  });

  it('ignores an X-Forwarded-For sent by the client through the proxy', async () => {
    const mark = recorders.map((r) => r.mark());
    const { status } = await dial(wssUrl, { origin: 'https://evil.example', headers: { 'X-Forwarded-For': '203.0.113.9' } });
    assert.equal(status, 403);
    assert.equal((await originEvent(mark)).ip, CLIENT_IP);
  });

  it('ignores an X-Forwarded-For sent straight to a node from outside the proxy', async () => {
    const mark = recorders.map((r) => r.mark());
    const { status } = await dial(nodes[0]!.wsUrl, { origin: 'https://evil.example', headers: { 'X-Forwarded-For': '203.0.113.9' } });
    assert.equal(status, 403);
    assert.equal((await originEvent(mark)).ip, CLIENT_IP);
  });

  it('adds HSTS, passes the security headers through, and hides /metrics', async () => {
    const https = await import('node:https');
    const get = (path: string): Promise<{ status: number; headers: Record<string, unknown> }> =>
      new Promise((resolve, reject) => {
        https
          .get(`${publicOrigin}${path}`, { ca: pki.ca, localAddress: CLIENT_IP }, (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, headers: res.headers });
          })
          .on('error', reject);
      });
    const health = await get('/healthz');
    assert.equal(health.status, 200);
    assert.match(String(health.headers['strict-transport-security']), /max-age=31536000/);
    assert.match(String(health.headers['content-security-policy']), /connect-src 'self'/);
    assert.equal((await get('/metrics')).status, 404);
  });

  it('passes bulwark audit through the proxy with no failing check', async () => {
    const r = await run(['audit', publicOrigin, '--ca', pki.caPath, '--json']);
    const report = JSON.parse(r.stdout) as { checks: Array<{ id: string; status: string; evidence: string }> };
    assert.equal(r.code, 0, JSON.stringify(report.checks.filter((c) => c.status === 'fail')));
    const status = Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
    assert.equal(status.tls, 'pass');
    assert.equal(status.metrics, 'pass');
    assert.equal(status['origin-foreign'], 'pass');
  });
});
