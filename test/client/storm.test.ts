import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startServer, type TestServer } from '../helpers/server.js';
import type { BulwarkClient, WebSocketImplementation } from '../../client/index.js';
import { sdk, until } from './sdk.js';

const CLIENTS = 200;
const BASE_MS = 1000;

/** The largest share of `values` that falls into any one `widthMs`-wide bucket. */
function densestBucket(values: number[], widthMs: number): number {
  const buckets = new Map<number, number>();
  for (const v of values) buckets.set(Math.floor(v / widthMs), (buckets.get(Math.floor(v / widthMs)) ?? 0) + 1);
  return Math.max(...buckets.values()) / values.length;
}

describe('client SDK: no reconnect storm', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({
      config: {
        // Every client is on loopback: lift the per-IP caps so only the clients' own pacing shows.
        limits: { maxConnectionsPerIp: 5000 },
        rateLimits: { handshake: { points: 100_000, durationMs: 1000 } },
      },
    });
  });
  after(() => server.stop());

  it(`spreads the reconnect attempts of ${CLIENTS} clients after a server restart`, async () => {
    // Every dial is timestamped, so the spread is measured on real attempts, not just on plans.
    const dials: number[] = [];
    const Recording = class extends WebSocket {
      constructor(url: string, protocols: string[], options?: WebSocket.ClientOptions) {
        super(url, protocols, options);
        dials.push(Date.now());
      }
    } as unknown as WebSocketImplementation;

    const firstDelays: number[] = [];
    const clients: BulwarkClient[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const token = await server.token(`storm-${i}`);
      const client = sdk(server, { token, WebSocket: Recording, reconnect: { baseMs: BASE_MS, maxMs: 8000 } });
      let first = true;
      client.on('reconnecting', ({ inMs }) => {
        if (first) firstDelays.push(inMs);
        first = false;
      });
      clients.push(client);
    }
    try {
      await Promise.all(clients.map((c) => c.ready()));
      dials.length = 0;
      const restartedAt = Date.now();
      server = await server.restart();
      await until(() => clients.every((c) => c.state === 'open'), 60_000, 'every client to reconnect');

      // The plans: each client drew its own delay from [0, base).
      assert.equal(firstDelays.length, CLIENTS);
      assert.ok(firstDelays.every((d) => d >= 0 && d < BASE_MS));
      assert.ok(new Set(firstDelays).size > CLIENTS * 0.75, 'delays are individually drawn, not shared');
      assert.ok(Math.max(...firstDelays) - Math.min(...firstDelays) > BASE_MS * 0.6, 'delays cover the window');
      assert.ok(densestBucket(firstDelays, BASE_MS / 10) < 0.25, 'no tenth of the window holds a quarter of the clients');

      // The attempts as they happened: spread over time, not a single burst.
      const offsets = dials.map((t) => t - restartedAt);
      assert.ok(offsets.length >= CLIENTS, `${offsets.length} dials`);
      assert.ok(Math.max(...offsets) - Math.min(...offsets) > BASE_MS * 0.5, 'attempts are spread out');
      assert.ok(densestBucket(offsets, 50) < 0.3, 'no 50 ms slice holds 30% of the attempts');
    } finally {
      for (const c of clients) c.close();
    }
  });
});
