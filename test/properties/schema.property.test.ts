/**
 * The frame schemas (`src/protocol/frames.ts`, `src/guards/frame/schema.ts`) accept exactly what
 * docs/protocol.md "Frames" says. The generators in `test/fuzz/frames.ts` are written from the
 * docs' field rules: every valid frame of every type is accepted unchanged; the same frame with
 * one thing wrong (a value breaking its rule, a required field missing, an unknown field) is
 * refused with a detail at that field's path. The last part sends both through a real server:
 * valid frames never get INVALID_PAYLOAD, mutated ones get it with the path and the frame's id.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { CLIENT_FRAME_TYPES } from '../../src/protocol/frames.js';
import { validateFrame } from '../../src/guards/frame/schema.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type TestClient } from '../helpers/client.js';
import { FRAME_TYPES, mutatedFrame, validFrame } from '../fuzz/frames.js';

const RUNS = 300;

describe('the frame schemas against the documented rules', () => {
  it('cover the same frame types as the documentation generators', () => {
    assert.deepEqual([...FRAME_TYPES].sort(), [...CLIENT_FRAME_TYPES].sort());
  });

  for (const type of FRAME_TYPES) {
    it(`accept every valid ${type} frame, unchanged`, () => {
      fc.assert(
        fc.property(validFrame(type), (frame) => {
          const result = validateFrame(structuredClone(frame));
          assert.ok(result.ok, `refused: ${JSON.stringify(result)}`);
          assert.deepEqual(result.frame, frame);
        }),
        { numRuns: RUNS },
      );
    });

    it(`refuse a ${type} frame with one thing wrong, naming that field`, () => {
      fc.assert(
        fc.property(mutatedFrame(type), ({ frame, path }) => {
          const result = validateFrame(frame);
          assert.equal(result.ok, false, `accepted: ${JSON.stringify(frame)}`);
          if (result.ok || result.unknownType) return assert.fail('not a schema refusal');
          assert.ok(
            result.details.some((d) => d.path === path),
            `paths ${JSON.stringify(result.details.map((d) => d.path))} lack ${path}`,
          );
          for (const d of result.details) assert.ok(typeof d.message === 'string' && d.message.length > 0 && d.message.length < 300);
        }),
        { numRuns: RUNS },
      );
    });
  }

  it('refuse any type the documentation does not list as UNKNOWN_TYPE, not a schema failure', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 30 }).filter((t) => !FRAME_TYPES.includes(t)),
        (type) => {
          const result = validateFrame({ type, id: 'x' });
          assert.deepEqual(result, { ok: false, unknownType: true });
        },
      ),
      { numRuns: RUNS },
    );
  });
});

describe('the documented rules through a real server', () => {
  let server: TestServer;
  let client: TestClient;
  before(async () => {
    const loose = { points: 1_000_000, durationMs: 60_000 };
    server = await startServer({
      config: {
        abuse: { threshold: 1_000_000 },
        limits: { maxMalformedFrames: 1_000_000, maxPayloadBytes: 200_000, maxMessageChars: 65_536 },
        rateLimits: { default: loose, 'chat.send': loose, 'room.create': loose, 'admin.broadcast': loose },
        spam: { maxRepeats: 1_000_000, maxCharRun: 1_000_000, maxLinks: 1_000_000 },
      },
    });
    client = await connect(server, 'prop-user');
  });
  after(() => server.stop());

  let n = 0;
  // `chat.typing` has no `id` (an added one is an unknown field): it has no reply to check here.
  const notAuth = FRAME_TYPES.filter((t) => t !== 'auth' && t !== 'auth.refresh' && t !== 'chat.typing');

  it('never answers a valid frame INVALID_PAYLOAD on a schema field', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...notAuth).chain(validFrame), async (frame) => {
        const id = `v${++n}`;
        const reply = await client.request({ ...frame, id }, 10_000);
        assert.equal(reply.id, id);
        if (reply.code === 'INVALID_PAYLOAD') {
          // The text rules (docs "Message text") run after the schema: empty after trimming is theirs.
          assert.deepEqual(
            (reply.details as Array<{ path: string }>).map((d) => d.path),
            ['text'],
            JSON.stringify(reply),
          );
          assert.equal(String(frame.text).trim(), '', JSON.stringify(reply));
        }
      }),
      { numRuns: 150 },
    );
  });

  it('answers a frame with one thing wrong INVALID_PAYLOAD with that path (and its id unless the id is what is wrong)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...notAuth).chain(mutatedFrame), async ({ frame, path }) => {
        const id = `m${++n}`;
        const sent = path === 'id' ? frame : { ...frame, id };
        // An own `__proto__` key (defined, not set) survives the spread and JSON.stringify as a plain key.
        client.sendRaw(JSON.stringify(sent));
        const reply = await client.waitFor((f) => f.type === 'error' && (path === 'id' ? f.id === undefined : f.id === id), 10_000);
        assert.equal(reply.code, 'INVALID_PAYLOAD', JSON.stringify(reply));
        assert.ok(
          (reply.details as Array<{ path: string }>).some((d) => d.path === path),
          `${JSON.stringify(reply.details)} lacks ${path}`,
        );
      }),
      { numRuns: 150 },
    );
    assert.equal(client.frames.filter((f) => f.type === 'error' || f.type === 'ack').length, 0, 'no reply left unclaimed');
  });
});
