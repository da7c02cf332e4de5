/**
 * TLS (issue 3, item 6; contract section 1): with a certificate and key the server speaks only
 * https/wss, a client that verifies a test CA gets in, a client that does not trust it (or
 * expects another name) is stopped by TLS verification, every HTTPS response carries HSTS and
 * the security headers, and the refresh cookie is Secure. The CA and certificate are made with
 * the openssl CLI for each run.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import { TestClient, handshakeStatus } from '../helpers/client.js';
import { ROOMY, rawRequest } from '../handshake/support.js';

interface Pki {
  dir: string;
  ca: Buffer;
  cert: string;
  key: string;
}

function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'bulwark-tls-'));
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  };
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
    '-days',
    '2',
    '-subj',
    '/CN=Bulwark Test CA',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  run('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost');
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'ext.cnf');
  return { dir, ca: readFileSync(join(dir, 'ca.crt')), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

interface HttpsReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function httpsCall(url: string, options: { ca?: Buffer; method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<HttpsReply> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: options.method ?? 'GET', headers: options.headers, ca: options.ca, rejectUnauthorized: true }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Opens a wss socket verifying `ca`; resolves with the client, rejects with the TLS or HTTP error. */
function openWss(server: TestServer, ca: Buffer | undefined, options: { url?: string; origin?: string; protocols?: string[] } = {}): Promise<TestClient> {
  const ws = new WebSocket(options.url ?? server.wsUrl, options.protocols ?? ['bulwark.v1'], {
    headers: { Origin: options.origin ?? server.origin },
    ...(ca ? { ca } : {}),
    rejectUnauthorized: true,
  });
  const client = new TestClient(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`handshake refused: ${res.statusCode}`), { status: res.statusCode, headers: res.headers }));
    });
    ws.once('error', reject);
  });
}

function headersOf(res: Response): Record<string, string> {
  const out: Record<string, string> = {};
  res.headers.forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

function assertSecurityHeaders(headers: IncomingHttpHeaders | Record<string, string>, tls: boolean, where: string): void {
  const csp = String(headers['content-security-policy'] ?? '');
  assert.ok(csp, `${where}: Content-Security-Policy`);
  const directives = new Map(
    csp
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((d) => d[0])
      .map((d) => [d[0]!, d.slice(1)]),
  );
  assert.deepEqual(directives.get('connect-src'), ["'self'"], `${where}: connect-src limited to self`);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${where}: frame-ancestors none`);
  const scriptSrc = directives.get('script-src') ?? directives.get('default-src') ?? [];
  assert.ok(scriptSrc.length > 0 && !scriptSrc.some((s) => s.includes('unsafe-inline') || s.includes('unsafe-eval')), `${where}: no inline script`);
  assert.equal(headers['x-content-type-options'], 'nosniff', `${where}: nosniff`);
  assert.equal(headers['referrer-policy'], 'no-referrer', `${where}: no-referrer`);
  const hsts = headers['strict-transport-security'];
  if (tls) {
    assert.ok(typeof hsts === 'string', `${where}: HSTS`);
    const maxAge = Number(/max-age=(\d+)/.exec(hsts)?.[1] ?? 0);
    assert.ok(maxAge >= 15_552_000, `${where}: HSTS max-age of at least 180 days: ${hsts}`);
  } else {
    assert.equal(hsts, undefined, `${where}: no HSTS over plain HTTP`);
  }
}

describe('TLS: https and wss with a test CA', () => {
  let pki: Pki;
  let server: TestServer;
  before(async () => {
    pki = makePki();
    // Through the environment variables of the contract (BULWARK_TLS_CERT / BULWARK_TLS_KEY).
    server = await startServer({
      config: { ...ROOMY, accounts: { registration: 'open' }, rateLimits: { ...ROOMY.rateLimits, login: { points: 1000, durationMs: 60_000 } } },
      env: { BULWARK_TLS_CERT: pki.cert, BULWARK_TLS_KEY: pki.key },
    });
  });
  after(async () => {
    await server.stop();
    rmSync(pki.dir, { recursive: true, force: true });
  });

  it('serves https and wss URLs', () => {
    assert.match(server.url, /^https:\/\//);
    assert.match(server.wsUrl, /^wss:\/\//);
  });

  it('lets a wss client that verifies the test CA authenticate, by IP and by name', async () => {
    const client = await openWss(server, pki.ca);
    assert.equal(client.ws.protocol, 'bulwark.v1');
    client.send({ type: 'auth', token: await server.token('alice') });
    const welcome = await client.next('welcome');
    assert.equal((welcome.user as { id: string }).id, 'alice');
    await client.ok({ type: 'room.list' });
    client.close();
    const port = new URL(server.url).port;
    const byName = await openWss(server, pki.ca, { url: `wss://localhost:${port}/ws`, origin: `https://localhost:${port}` });
    byName.close();
  });

  it('stops a wss client that does not trust the CA at TLS verification, before any HTTP', async () => {
    await assert.rejects(openWss(server, undefined), (error: Error & { code?: string; status?: number }) => {
      assert.equal(error.status, undefined, 'no HTTP response was reached');
      assert.match(error.code ?? error.message, /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
      return true;
    });
    await assert.rejects(httpsCall(`${server.url}/healthz`), /self[- ]signed|unable to verify|certificate/i);
  });

  it('stops a client that expects another server name (certificate name mismatch)', async () => {
    const port = Number(new URL(server.url).port);
    await new Promise<void>((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ca: pki.ca, servername: 'chat.example.com', rejectUnauthorized: true });
      socket.once('secureConnect', () => {
        socket.destroy();
        reject(new Error('connected despite the name mismatch'));
      });
      socket.once('error', (error: Error & { code?: string }) => {
        try {
          assert.equal(error.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
          resolve();
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
  });

  it("sends HSTS and the contract's security headers on HTTPS responses (health, 404, API error, metrics)", async () => {
    for (const path of ['/healthz', '/readyz', '/no-such-page', '/metrics']) {
      const reply = await httpsCall(`${server.url}${path}`, { ca: pki.ca });
      assertSecurityHeaders(reply.headers, true, path);
    }
    const api = await httpsCall(`${server.url}/api/auth/login`, {
      ca: pki.ca,
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin },
      body: JSON.stringify({ username: 'nobody', password: 'wrong password here' }),
    });
    assert.equal(api.status, 401);
    assertSecurityHeaders(api.headers, true, 'POST /api/auth/login');
  });

  it('sends HSTS and the security headers on a refused wss handshake too', async () => {
    await assert.rejects(openWss(server, pki.ca, { origin: 'https://evil.example.com' }), (error: Error & { status?: number; headers?: IncomingHttpHeaders }) => {
      assert.equal(error.status, 403);
      assertSecurityHeaders(error.headers ?? {}, true, 'refused handshake');
      return true;
    });
  });

  it('only accepts its https origin: the http:// form of its own origin is refused 403', async () => {
    await assert.rejects(openWss(server, pki.ca, { origin: server.origin.replace(/^https:/, 'http:') }), (error: Error & { status?: number }) => {
      assert.equal(error.status, 403);
      return true;
    });
  });

  it('marks the refresh cookie Secure over https', async () => {
    const reply = await httpsCall(`${server.url}/api/auth/register`, {
      ca: pki.ca,
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.origin },
      body: JSON.stringify({ username: 'secure-cookie', password: 'long enough passphrase' }),
    });
    assert.equal(reply.status, 201, reply.body);
    const cookie = String(reply.headers['set-cookie'] ?? '');
    assert.match(cookie, /;\s*Secure(;|$)/i);
    assert.match(cookie, /;\s*HttpOnly(;|$)/i);
  });

  it('does not answer plain HTTP on the TLS port', async () => {
    const url = new URL(server.url);
    const response = await rawRequest({ url: `http://${url.host}` }, `GET /healthz HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`, 3000);
    assert.notEqual(response.status, 200);
    assert.ok(!response.text.includes('"ok"'));
  });
});

describe('security headers over plain HTTP', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: { ...ROOMY } });
  });
  after(() => server.stop());

  it("sends the contract's security headers, without HSTS, on every kind of HTTP response", async () => {
    for (const path of ['/healthz', '/readyz', '/no-such-page', '/metrics', '/']) {
      const res = await fetch(`${server.url}${path}`);
      await res.arrayBuffer();
      assertSecurityHeaders(headersOf(res), false, path);
    }
    const res = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example.com' },
      body: '{}',
    });
    assert.equal(res.status, 403);
    assertSecurityHeaders(headersOf(res), false, 'refused cross-origin POST');
  });

  it('sends them on a refused WebSocket handshake', async () => {
    const response = await rawRequest(
      server,
      [
        'GET /ws HTTP/1.1',
        `Host: ${new URL(server.url).host}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-WebSocket-Version: 13',
        'Sec-WebSocket-Protocol: bulwark.v1',
        'Origin: https://evil.example.com',
        '',
        '',
      ].join('\r\n'),
    );
    assert.equal(response.status, 403);
    assertSecurityHeaders(response.headers, false, 'refused handshake');
    assert.equal(await handshakeStatus(server), 101);
  });
});
