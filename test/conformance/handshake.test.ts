/**
 * The opening handshake at the byte level (RFC 6455 4.2, docs/protocol.md "Handshake"), written
 * by hand over `node:net` for `/ws` and `/socket.io/`: a valid upgrade gets `101` with the right
 * `Sec-WebSocket-Accept` and only `bulwark.v1` selected; a request that is not a valid RFC 6455
 * upgrade (HTTP/1.0, a missing or bad `Sec-WebSocket-Key`, duplicated upgrade headers) gets `400`,
 * a version other than 13 `426` with `Sec-WebSocket-Version: 13`, an upgrade on any other path
 * `404` — each with the security headers and without ever switching protocols.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { TestServer } from '../helpers/server.js';
import { acceptFor, dial, readHead, type HttpHead } from './wire.js';
import { conformanceServer } from './support.js';

const PATHS = { ws: '/ws', socketio: '/socket.io/?EIO=4&transport=websocket' } as const;

interface RequestParts {
  line?: string;
  path?: string;
  key?: string | null;
  version?: string;
  protocols?: string | null;
  extra?: string[];
  drop?: string[];
}

/** A valid upgrade request for `path`, with the parts a case changes. */
function request(server: TestServer, parts: RequestParts = {}): { text: string; key: string } {
  const url = new URL(server.url);
  const key = parts.key === undefined ? randomBytes(16).toString('base64') : (parts.key ?? '');
  const path = parts.path ?? PATHS.ws;
  const headers: Array<[string, string | null]> = [
    ['Host', url.host],
    ['Upgrade', 'websocket'],
    ['Connection', 'Upgrade'],
    ['Sec-WebSocket-Key', parts.key === null ? null : key],
    ['Sec-WebSocket-Version', parts.version ?? '13'],
    ['Sec-WebSocket-Protocol', parts.protocols === undefined ? (path === PATHS.ws ? 'bulwark.v1' : null) : parts.protocols],
    ['Origin', url.origin],
  ];
  const lines = [parts.line ?? `GET ${path} HTTP/1.1`];
  for (const [name, value] of headers) if (value !== null && !(parts.drop ?? []).includes(name)) lines.push(`${name}: ${value}`);
  lines.push(...(parts.extra ?? []));
  return { text: `${lines.join('\r\n')}\r\n\r\n`, key };
}

/** Sends the request and reads the response head; then whether the server ended the connection. */
async function exchange(server: TestServer, text: string): Promise<HttpHead & { ended: boolean }> {
  const socket = await dial(server.url);
  const ended = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  socket.on('error', () => undefined);
  socket.write(text);
  const { head } = await readHead(socket);
  const status = head.status;
  const closed = status === 101 ? (socket.destroy(), true) : await ended;
  socket.destroy();
  return { ...head, ended: closed };
}

function assertRefused(res: HttpHead & { ended: boolean }, status: number, what: string): void {
  assert.equal(res.status, status, `${what}: ${res.raw.split('\r\n')[0]}`);
  assert.equal(res.headers['sec-websocket-accept'], undefined, `${what}: never switched protocols`);
  assert.ok(res.headers['content-security-policy'], `${what}: Content-Security-Policy`);
  assert.equal(res.headers['x-content-type-options'], 'nosniff', `${what}: X-Content-Type-Options`);
  assert.equal(res.headers['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  assert.ok(res.ended, `${what}: the server closed the connection`);
}

describe('the opening handshake, byte by byte', () => {
  let server: TestServer;
  before(async () => {
    server = await conformanceServer();
  });
  after(() => server.stop());

  describe('a valid upgrade', () => {
    it('switches /ws with the right Sec-WebSocket-Accept and selects only bulwark.v1', async () => {
      const { text, key } = request(server);
      const res = await exchange(server, text);
      assert.equal(res.status, 101);
      assert.equal(res.headers['sec-websocket-accept'], acceptFor(key));
      assert.equal(res.headers['sec-websocket-protocol'], 'bulwark.v1');
      assert.equal(res.headers['upgrade']?.toLowerCase(), 'websocket');
    });

    it('never echoes an early token offered as a subprotocol', async () => {
      const token = await server.token('handshake-bearer');
      const { text, key } = request(server, { protocols: `bulwark.v1, bulwark.bearer.${token}` });
      const res = await exchange(server, text);
      assert.equal(res.status, 101);
      assert.equal(res.headers['sec-websocket-accept'], acceptFor(key));
      assert.equal(res.headers['sec-websocket-protocol'], 'bulwark.v1');
      assert.ok(!res.raw.includes(token), 'the token is not in the response');
    });

    it('reads Upgrade and Connection case-insensitively and as token lists', async () => {
      const { text, key } = request(server, { drop: ['Upgrade', 'Connection'], extra: ['Upgrade: WebSocket', 'Connection: keep-alive, Upgrade'] });
      const res = await exchange(server, text);
      assert.equal(res.status, 101);
      assert.equal(res.headers['sec-websocket-accept'], acceptFor(key));
    });

    it('switches /socket.io/ with the right Sec-WebSocket-Accept', async () => {
      const { text, key } = request(server, { path: PATHS.socketio });
      const res = await exchange(server, text);
      assert.equal(res.status, 101);
      assert.equal(res.headers['sec-websocket-accept'], acceptFor(key));
    });
  });

  for (const [transport, path] of Object.entries(PATHS)) {
    describe(`invalid upgrades on ${transport}`, () => {
      const cases: Array<[string, RequestParts, number]> = [
        ['HTTP/1.0', { line: `GET ${path} HTTP/1.0` }, 400],
        ['no Sec-WebSocket-Key', { path, key: null }, 400],
        ['an empty Sec-WebSocket-Key', { path, key: '' }, 400],
        ['a Sec-WebSocket-Key of 8 bytes', { path, key: randomBytes(8).toString('base64') }, 400],
        ['a Sec-WebSocket-Key that is not base64', { path, key: '!!!!!!!!!!!!!!!!!!!!!!==' }, 400],
        ['a duplicated Sec-WebSocket-Key', { path, extra: [`Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`] }, 400],
        ['a duplicated Sec-WebSocket-Version', { path, extra: ['Sec-WebSocket-Version: 13'] }, 400],
        ['a duplicated Upgrade', { path, extra: ['Upgrade: websocket'] }, 400],
        ['Sec-WebSocket-Version 12', { path, version: '12' }, 426],
        ['Sec-WebSocket-Version 8', { path, version: '8' }, 426],
        ['Sec-WebSocket-Version 14', { path, version: '14' }, 426],
      ];
      for (const [what, parts, status] of cases) {
        it(`answers ${what} with ${status} and the security headers`, async () => {
          const res = await exchange(server, request(server, { path, ...parts }).text);
          assertRefused(res, status, what);
          if (status === 426) assert.equal(res.headers['sec-websocket-version'], '13');
        });
      }
    });
  }

  describe('other paths', () => {
    for (const path of ['/', '/wss', '/ws/extra', '/api/v1/broadcast', '/admin', `/${'a'.repeat(2000)}`]) {
      it(`answers an upgrade on ${path.length > 40 ? `${path.slice(0, 12)}… (${path.length} chars)` : path} with 404 and the security headers`, async () => {
        const res = await exchange(server, request(server, { path }).text);
        assertRefused(res, 404, path);
      });
    }
  });

  it('still upgrades a valid request after every refusal above', async () => {
    const { text, key } = request(server);
    const res = await exchange(server, text);
    assert.equal(res.status, 101);
    assert.equal(res.headers['sec-websocket-accept'], acceptFor(key));
  });
});
