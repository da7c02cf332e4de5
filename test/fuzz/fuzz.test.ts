/**
 * The seeded fuzz run of `npm test` (issue 15): random and mutated frames — valid frames with one
 * field wrong, random JSON, huge strings, wrong types, unicode, deep nesting, unknown types,
 * prototype keys, malformed ids, and now and then a binary, non-UTF-8 or oversized frame — from
 * many raw WebSocket and Socket.IO connections at a real server. Afterwards: a healthy client
 * works, `/healthz` is ok, no `INTERNAL` error was ever sent, and every frame with a well-formed
 * `id` on a connection that stayed open got exactly one reply with that `id`.
 *
 * The seed is printed; `BULWARK_FUZZ_SEED=<seed> npm run test:only -- test/fuzz/fuzz.test.ts`
 * replays the same frames per connection. `BULWARK_FUZZ_FRAMES` changes the frames per
 * connection. The run stops sending after 20 s whatever is left, so it stays within ~30 s.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { fuzzSeed, runFuzz, type FuzzReport } from './driver.js';

const LANES = 24;
const FRAMES_PER_LANE = Number(process.env.BULWARK_FUZZ_FRAMES ?? 1000);
const SEND_BUDGET_MS = 20_000;

describe('the seeded fuzzer against a real server', () => {
  const seed = fuzzSeed();
  let server: TestServer;
  let report: FuzzReport;
  let rssBefore: number;

  before(async () => {
    const loose = { points: 1_000_000, durationMs: 60_000 };
    server = await startServer({
      config: {
        // Limits that let most connections live to the end, so their replies can be counted; the
        // hostile lanes still end theirs (1003, 1007, 1009, 4400 after 300 malformed frames).
        limits: { maxConnectionsPerIp: 1000, maxConnectionsPerUser: 100, maxMalformedFrames: 300 },
        abuse: { threshold: 2000 },
        rateLimits: { handshake: loose, default: loose, 'chat.send': loose, 'room.create': loose, 'admin.broadcast': loose },
      },
    });
    console.log(`# fuzz seed ${seed} (replay: BULWARK_FUZZ_SEED=${seed})`);
    rssBefore = process.memoryUsage().rss;
    report = await runFuzz({
      baseUrl: server.url,
      origin: server.origin,
      token: (sub) => server.token(sub),
      seed,
      lanes: LANES,
      framesPerLane: FRAMES_PER_LANE,
      maxPayloadBytes: server.config.limits.maxPayloadBytes,
      deadline: Date.now() + SEND_BUDGET_MS,
    });
    const rssAfter = process.memoryUsage().rss;
    console.log(
      `# fuzz: seed ${seed}, ${report.framesSent} frames (${(report.bytesSent / 1024).toFixed(0)} KiB) over ${report.connections} connections in ${report.lanes} lanes, ` +
        `${report.checkedFrames} id frames on connections left open (${report.closedFrames} on closed ones), ${report.replies} replies, endings ${JSON.stringify(report.endings)}, ` +
        `${(report.elapsedMs / 1000).toFixed(1)} s${report.cut ? ' (cut at the deadline)' : ''}, RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> ${(rssAfter / 2 ** 20).toFixed(0)} MiB (server and clients)`,
    );
  });
  after(() => server?.stop());

  it('sent a real load: thousands of frames over dozens of connections, most frames checked', () => {
    assert.ok(report.framesSent >= Math.min(2000, LANES * FRAMES_PER_LANE), `only ${report.framesSent} frames`);
    assert.ok(report.connections >= LANES);
    assert.ok(report.checkedFrames > 0);
  });

  it('never sent INTERNAL', async () => {
    assert.equal(report.internal, 0, `seed ${seed}: INTERNAL errors received`);
    const internal = (await server.bulwark.metrics.errors.get()).values.filter((v) => v.labels.code === 'INTERNAL').reduce((a, v) => a + v.value, 0);
    assert.equal(internal, 0, `seed ${seed}: the server counted INTERNAL errors`);
  });

  it('gave every frame with a well-formed id on a connection that stayed open exactly one reply', () => {
    assert.deepEqual(report.mismatches, [], `seed ${seed}: ${report.mismatchCount} ids without exactly one reply per frame`);
  });

  it('is healthy afterwards: /healthz ok, a new client works end to end', async () => {
    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const alice = await connect(server, `after-fuzz-${seed}`);
    const room = `after-${seed}`;
    await alice.ok({ type: 'room.create', room, visibility: 'public' });
    await alice.ok({ type: 'room.join', room });
    const ack = await alice.ok({ type: 'chat.send', room, text: 'still here' });
    const delivered = await alice.next('chat.message');
    assert.equal((delivered.message as { id: string }).id, (ack.message as { id: string }).id);
    const history = await alice.ok({ type: 'chat.history', room });
    assert.deepEqual(
      (history.messages as Array<{ text: string }>).map((m) => m.text),
      ['still here'],
    );
    alice.close();
  });

  it('left Object.prototype clean', () => {
    const probe = {} as Record<string, unknown>;
    for (const key of ['polluted', 'type', 'id', 'admin', 'roles', 'a']) assert.equal(probe[key], undefined);
    assert.equal(Object.getPrototypeOf(probe), Object.prototype);
  });
});
