/**
 * Frame parsing (contract section 4, issue 4 item 2): the size is checked before any parsing
 * (over `limits.maxPayloadBytes` closes 1009 with no reply); a frame that is not JSON or not a
 * JSON object is `BAD_REQUEST`; after `limits.maxMalformedFrames` malformed frames the
 * connection closes 4400; nesting depth and key count are bounded; `__proto__`, `constructor`
 * and `prototype` keys never reach a prototype (the server runs in this very process, so the
 * test looks at this process's `Object.prototype`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect, type Frame, type TestClient } from '../helpers/client.js';
import { EventRecorder, closeCode, loose, outcome, uniq } from './support.js';

const MAX_PAYLOAD = 4096;
const MAX_MALFORMED = 3;

const isError = (f: Frame): boolean => f.type === 'error';

describe('payload size and the malformed-frame limit', () => {
  let server: TestServer;
  let recorder: EventRecorder;
  before(async () => {
    server = await startServer({ config: loose({ limits: { maxPayloadBytes: MAX_PAYLOAD, maxMalformedFrames: MAX_MALFORMED, maxConnectionsPerIp: 1000 } }) });
    recorder = new EventRecorder(server);
  });
  after(() => server.stop());

  it('answers a frame just under maxPayloadBytes normally', async () => {
    const c = await connect(server, uniq('size-ok'));
    const frame = { type: 'room.list', id: 'under' };
    const pad = MAX_PAYLOAD - JSON.stringify({ ...frame, pad: '' }).length;
    const raw = JSON.stringify({ ...frame, pad: 'x'.repeat(pad) });
    assert.equal(Buffer.byteLength(raw), MAX_PAYLOAD);
    c.sendRaw(raw);
    const reply = await c.waitFor((f) => f.id === 'under');
    assert.equal(reply.code, 'INVALID_PAYLOAD', 'parsed and validated (pad is an unknown field)');
    c.close();
  });

  it('closes 1009 without any reply for a frame over maxPayloadBytes, before parsing it', async () => {
    const mark = recorder.mark();
    const c = await connect(server, uniq('size-big'));
    // Valid JSON with an id: had it been parsed, it would have been answered with that id.
    c.sendRaw(JSON.stringify({ type: 'room.list', id: 'over', pad: 'x'.repeat(MAX_PAYLOAD) }));
    assert.equal(await closeCode(c), 1009);
    assert.deepEqual(c.frames, [], 'no ack and no error was sent');
    assert.equal((await recorder.waitFor(mark, 'frame_too_big')).length, 1);
    assert.equal(recorder.since(mark, 'malformed_frame').length, 0, 'never reached the parser');
  });

  it('closes 1009 for an oversized frame that is not even JSON (no BAD_REQUEST: size comes first)', async () => {
    const c = await connect(server, uniq('size-junk'));
    c.sendRaw('{'.repeat(MAX_PAYLOAD * 2));
    assert.equal(await closeCode(c), 1009);
    assert.equal(c.frames.filter(isError).length, 0);
  });

  it(`closes 4400 after ${MAX_MALFORMED} malformed frames, answering each with BAD_REQUEST first`, async () => {
    const mark = recorder.mark();
    const c = await connect(server, uniq('malformed'));
    for (let i = 1; i < MAX_MALFORMED; i++) {
      c.sendRaw(`not json ${i}`);
      assert.equal((await c.waitFor(isError)).code, 'BAD_REQUEST');
    }
    // One short of the limit the connection still serves well-formed frames.
    assert.equal(outcome(await c.request({ type: 'room.list' })), 'ack');
    c.sendRaw('still not json');
    assert.equal((await c.waitFor(isError)).code, 'BAD_REQUEST');
    assert.equal(await closeCode(c), 4400);
    assert.equal((await recorder.waitFor(mark, 'malformed_limit')).length, 1);
    assert.equal(recorder.since(mark, 'malformed_frame').length, MAX_MALFORMED);
  });

  it('counts schema violations as malformed frames too', async () => {
    const c = await connect(server, uniq('malformed-schema'));
    for (let i = 0; i < MAX_MALFORMED; i++) c.send({ type: 'room.list', id: `bad${i}`, extra: i });
    assert.equal(await closeCode(c), 4400);
    assert.equal(c.frames.filter(isError).length, MAX_MALFORMED, 'each one was answered before the close');
  });
});

describe('shape, depth, width and prototype keys', () => {
  let server: TestServer;
  let client: TestClient;
  before(async () => {
    server = await startServer({ config: loose({ limits: { maxMalformedFrames: 10_000, maxConnectionsPerIp: 1000, maxPayloadBytes: 65_536 } }) });
    client = await connect(server, uniq('shape'));
  });
  after(() => server.stop());

  /** Sends raw text and resolves with the next error frame. */
  async function rawError(raw: string): Promise<Frame> {
    client.sendRaw(raw);
    return client.waitFor(isError);
  }

  const notObjects: Array<[string, string]> = [
    ['not JSON', 'hello'],
    ['truncated JSON', '{"type":"room.list","id":"t1"'],
    ['an empty frame', ''],
    ['JSON with a trailing comma', '{"type":"room.list","id":"t2",}'],
    ['an array', '[]'],
    ['an array holding a valid frame', '[{"type":"room.list","id":"t3"}]'],
    ['a string', '"room.list"'],
    ['a number', '42'],
    ['null', 'null'],
    ['a boolean', 'true'],
  ];
  for (const [what, raw] of notObjects) {
    it(`refuses ${what} with BAD_REQUEST`, async () => {
      const reply = await rawError(raw);
      assert.equal(reply.code, 'BAD_REQUEST');
      assert.equal(typeof reply.message, 'string');
    });
  }

  const nest = (depth: number): string => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  // Each is a JSON object over the depth/width bounds: INVALID_PAYLOAD naming the field, with the frame's id.
  const complex: Array<[string, string, string, () => string]> = [
    ['an object nested 6 deep in a field', 'deep1', 'replyTo', () => `{"type":"chat.send","id":"deep1","room":"r","text":"x","replyTo":${nest(6)}}`],
    ['an array nested 6 deep in a field', 'deep2', 'text', () => `{"type":"chat.send","id":"deep2","room":"r","text":${'['.repeat(6)}${']'.repeat(6)}}`],
    ['an array nested 30,000 deep', 'deep3', 'x', () => `{"type":"room.list","id":"deep3","x":${'['.repeat(30_000)}${']'.repeat(30_000)}}`],
    ['an object nested 9,000 deep', 'deep4', 'x', () => `{"type":"room.list","id":"deep4","x":${nest(9_000)}}`],
    [
      'an object with 1,000 keys',
      'wide1',
      '(frame)',
      () => JSON.stringify(Object.fromEntries([['type', 'room.list'], ['id', 'wide1'], ...Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])])),
    ],
    [
      'a field holding 1,000 keys',
      'wide2',
      'x',
      () => JSON.stringify({ type: 'room.list', id: 'wide2', x: Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i])) }),
    ],
    ['a field holding a 5,000-element array', 'wide3', 'x', () => JSON.stringify({ type: 'room.list', id: 'wide3', x: Array.from({ length: 5000 }, (_, i) => i) })],
    [
      'an object with 1,000 keys whose id comes last',
      'wide4',
      '(frame)',
      () => JSON.stringify(Object.fromEntries([['type', 'room.list'], ...Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]), ['id', 'wide4']])),
    ],
  ];
  for (const [what, id, path, make] of complex) {
    it(`refuses ${what} with INVALID_PAYLOAD, its id and the field named`, async () => {
      const raw = make();
      assert.ok(Buffer.byteLength(raw) <= server.config.limits.maxPayloadBytes, 'within the payload limit, so the parser sees it');
      const reply = await rawError(raw);
      assert.equal(reply.code, 'INVALID_PAYLOAD');
      assert.equal(reply.id, id);
      assert.deepEqual(
        (reply.details as Array<{ path: string }>).map((d) => d.path),
        [path],
      );
    });
  }

  it('keeps serving the connection after all of that', async () => {
    assert.equal(outcome(await client.request({ type: 'room.list' })), 'ack');
  });

  describe('hostile prototype keys', () => {
    // Written by hand: JSON.stringify could never produce an own `__proto__` key from a literal.
    const hostile: Array<[string, string]> = [
      ['top-level __proto__', '{"type":"room.list","id":"pp1","__proto__":{"polluted":"yes","isAdmin":true}}'],
      ['top-level __proto__ written with a unicode escape', '{"type":"room.list","id":"pp2","\\u005f_proto__":{"polluted":"yes"}}'],
      ['top-level constructor.prototype', '{"type":"room.list","id":"pp3","constructor":{"prototype":{"polluted":"yes"}}}'],
      ['top-level prototype', '{"type":"room.list","id":"pp4","prototype":{"polluted":"yes"}}'],
      ['__proto__ holding the frame type', '{"id":"pp5","__proto__":{"type":"room.list","polluted":"yes"}}'],
      ['__proto__ twice', '{"type":"room.list","id":"pp6","__proto__":{"polluted":"a"},"__proto__":{"polluted":"b"}}'],
      ['__proto__ granting admin on admin.broadcast', '{"type":"admin.broadcast","id":"pp7","text":"hi","__proto__":{"admin":true,"roles":["admin"],"polluted":"yes"}}'],
      ['nested __proto__ in a string field', '{"type":"room.create","id":"pp8","room":{"__proto__":{"polluted":"yes"}},"visibility":"public"}'],
      ['nested __proto__ in text', '{"type":"chat.send","id":"pp9","room":"r","text":{"__proto__":{"polluted":"yes"},"toString":"x"}}'],
      ['nested constructor.prototype in a field', '{"type":"chat.history","id":"pp10","room":"r","limit":{"constructor":{"prototype":{"polluted":"yes"}}}}'],
      ['nested __proto__ in an array', '{"type":"room.invite","id":"pp11","room":"r","user":[{"__proto__":{"polluted":"yes"}}]}'],
      ['__proto__ on auth.refresh', '{"type":"auth.refresh","id":"pp12","token":"t","__proto__":{"sub":"admin","polluted":"yes"}}'],
    ];

    const protoNames = (o: object): string[] => Object.getOwnPropertyNames(o).sort();
    let before: { object: string[]; array: string[]; fn: string[] };

    it('refuses each hostile frame with INVALID_PAYLOAD, correlated by its id', async () => {
      before = { object: protoNames(Object.prototype), array: protoNames(Array.prototype), fn: protoNames(Function.prototype) };
      for (const [what, raw] of hostile) {
        const id = (JSON.parse(raw) as { id: string }).id;
        client.sendRaw(raw);
        const reply = await client.waitFor((f) => f.type === 'error' || f.type === 'ack');
        assert.equal(reply.type, 'error', `${what}: refused`);
        assert.equal(reply.code, 'INVALID_PAYLOAD', `${what}: ${JSON.stringify(reply)}`);
        assert.equal(reply.id, id, `${what}: the reply carries the frame's id`);
        assert.ok(Array.isArray(reply.details) && reply.details.length > 0, `${what}: details name the problem`);
      }
    });

    it('leaves Object.prototype, Array.prototype and Function.prototype untouched in the server process', () => {
      const probe = {} as Record<string, unknown>;
      assert.equal(probe.polluted, undefined);
      assert.equal(probe.isAdmin, undefined);
      assert.equal(probe.admin, undefined);
      assert.equal(probe.roles, undefined);
      assert.equal(probe.type, undefined);
      assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined);
      assert.equal(([] as unknown as Record<string, unknown>).polluted, undefined);
      assert.deepEqual(protoNames(Object.prototype), before.object);
      assert.deepEqual(protoNames(Array.prototype), before.array);
      assert.deepEqual(protoNames(Function.prototype), before.fn);
      assert.equal(Object.getPrototypeOf(probe), Object.prototype);
    });

    it('grants nothing: the sender is still not an admin and nobody received an announcement', async () => {
      const reply = await client.request({ type: 'admin.broadcast', text: 'am I admin now?' });
      assert.equal(reply.code, 'FORBIDDEN');
      assert.equal(client.frames.filter((f) => f.type === 'announcement').length, 0);
    });
  });
});
