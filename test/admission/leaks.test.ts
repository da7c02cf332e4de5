/**
 * No admission slot leaks (docs/protocol.md "Handshake", issue 12 item 1): 10,000 malformed or
 * aborted upgrades from one IP — no key, a bad key, version 12, a duplicated key, HTTP/1.0, a
 * socket closed right after its request, a socket reset right after its request — and then the
 * same IP still gets every one of its `limits.maxConnectionsPerIp` places, and the admission
 * gauges are back to 0. Then the same on `/socket.io/`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, handshakeStatus, type TestClient } from '../helpers/client.js';
import { eventually } from '../handshake/support.js';
import { sioConnect } from '../socketio/support.js';
import { admissionGauges, upgradeFlood } from './support.js';

const PER_IP = 40;
const TOTAL = 10_000;
const BATCH = 100;

/** The handshake rate is loosened so the flood reaches admission; the caps stay small. */
const CONFIG = {
  rateLimits: { handshake: { points: 1_000_000, durationMs: 60_000 }, default: { points: 100_000, durationMs: 10_000 } },
  limits: { maxConnections: 200, maxConnectionsPerIp: PER_IP, maxConnectionsPerUser: 100 },
};

const EXPECTED: Record<string, number> = { no_key: 400, bad_key: 400, version_12: 426, duplicate_key: 400, http_1_0: 400 };

function assertRefusals(outcomes: Map<string, number>): void {
  for (const [key, count] of outcomes) {
    const [kind, status] = key.split(':') as [string, string];
    const expected = EXPECTED[kind];
    if (expected !== undefined) assert.equal(Number(status), expected, `${count} × ${kind} answered ${status}`);
  }
}

async function gaugesAtZero(server: TestServer): Promise<boolean> {
  return eventually(async () => {
    const g = await admissionGauges(server);
    return g.handshakes === 0 && g.pendingAuth === 0 && g.authenticated === 0;
  }, 10_000);
}

describe('admission slots under malformed and aborted upgrades', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ config: CONFIG });
  });
  after(() => server.stop());

  it(`gives every slot back after ${TOTAL} malformed or aborted upgrades on /ws: the IP still gets all ${PER_IP} places`, async (t) => {
    const started = Date.now();
    const outcomes = await upgradeFlood(server, TOTAL, BATCH);
    const elapsed = Date.now() - started;
    assertRefusals(outcomes);
    assert.ok(await gaugesAtZero(server), `gauges after the flood: ${JSON.stringify(await admissionGauges(server))}`);
    t.diagnostic(`${TOTAL} upgrades in ${elapsed} ms; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}; gauges ${JSON.stringify(await admissionGauges(server))}`);

    const clients: TestClient[] = [];
    for (let i = 0; i < PER_IP; i++) clients.push(await connect(server, `after-${i}`));
    assert.equal(await handshakeStatus(server), 429, 'the per-IP cap itself still holds');
    assert.deepEqual(await admissionGauges(server, 'ws'), { handshakes: 0, pendingAuth: 0, authenticated: PER_IP });
    for (const c of clients) c.close();
    await Promise.all(clients.map((c) => c.closed));
    assert.ok(await gaugesAtZero(server), 'released on close');
  });

  it(`gives every slot back after ${TOTAL / 2} malformed or aborted upgrades on /socket.io/`, async (t) => {
    const started = Date.now();
    const outcomes = await upgradeFlood(server, TOTAL / 2, BATCH, '/socket.io/?EIO=4&transport=websocket');
    const elapsed = Date.now() - started;
    assertRefusals(outcomes);
    assert.ok(await gaugesAtZero(server), `gauges after the flood: ${JSON.stringify(await admissionGauges(server))}`);
    t.diagnostic(`${TOTAL / 2} upgrades in ${elapsed} ms; outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);

    const clients = [];
    for (let i = 0; i < PER_IP; i++) clients.push(await sioConnect(server, `sio-after-${i}`));
    assert.deepEqual(await admissionGauges(server, 'socket.io'), { handshakes: 0, pendingAuth: 0, authenticated: PER_IP });
    for (const c of clients) c.close();
    assert.ok(await gaugesAtZero(server), 'released on close');
  });
});

describe('admission slots of long-polling sessions that never authenticate', () => {
  it('holds a pending-auth place per polling session, refuses past the IP share, and gives everything back when they time out', async () => {
    const server = await startServer({ config: { ...CONFIG, socketio: { polling: true }, auth: { timeoutMs: 600 }, limits: { ...CONFIG.limits, maxPendingAuthPerIp: 5 } } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) {
        const res = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&t=${i}`, { headers: { Origin: server.origin } });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
      assert.deepEqual(statuses, [...Array(5).fill(200), ...Array(7).fill(429)]);
      assert.deepEqual(await admissionGauges(server, 'socket.io'), { handshakes: 0, pendingAuth: 5, authenticated: 0 });
      // None sends CONNECT: the auth timeout ends each session, and its places come back.
      assert.ok(await gaugesAtZero(server), `gauges: ${JSON.stringify(await admissionGauges(server))}`);
      const client = await sioConnect(server, 'poller', { transports: ['polling', 'websocket'] });
      assert.deepEqual(await admissionGauges(server, 'socket.io'), { handshakes: 0, pendingAuth: 0, authenticated: 1 });
      client.close();
      assert.ok(await gaugesAtZero(server), 'released on close');
    } finally {
      await server.stop();
    }
  });
});
