/**
 * Frame generators written from `docs/protocol.md` "Frames" (not from the zod schemas they check):
 * valid frames of every client type, one-field mutations that the contract says are
 * INVALID_PAYLOAD at a known path, and the fuzzer's mix of valid, mutated and hostile input.
 * fast-check arbitraries, so the property tests shrink failures and the fuzzer (test and bench)
 * replays a run from its seed.
 */
import fc from 'fast-check';

// ---- the field rules of docs/protocol.md "Frames"

const ID_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-'];
/** `id`, `room`, `message`, `replyTo`: 1–64 characters of `[A-Za-z0-9_-]`. */
export const idString = (maxLength = 64): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...ID_CHARS), minLength: 1, maxLength });
/** `user`: a JWT `sub`, 1–128 printable characters (no C0 control character, no DEL). */
export const userId = fc
  .string({
    unit: fc.oneof(
      fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      fc.constantFrom('é', 'ß', '中', 'Ω', '😀'),
    ),
    minLength: 1,
    maxLength: 64,
  })
  .filter((s) => s.length <= 128);
/** `since`, `before`, `after`, `ts`: non-negative integers. */
export const seq = fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(0), fc.constant(Number.MAX_SAFE_INTEGER));
/** `limit`: 1..100. */
export const limit = fc.integer({ min: 1, max: 100 });
/** `token`: 1–8192 characters. */
export const token = fc.oneof(fc.string({ minLength: 1, maxLength: 64 }), fc.constant('t'.repeat(8192)));
/** `text`: a string of at most 65536 UTF-16 code units (the text rules apply after the schema). */
export const text = fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 50 }), fc.constant('x'.repeat(65_536)));
export const visibility = fc.constantFrom('public', 'private');

interface FieldRule {
  arb: fc.Arbitrary<unknown>;
  required: boolean;
}

/** Per type, every field the contract allows besides `type` (`id` required except on `auth`). */
export const FRAME_RULES: Record<string, Record<string, FieldRule>> = {
  auth: { id: { arb: idString(), required: false }, token: { arb: token, required: true } },
  'auth.refresh': { id: { arb: idString(), required: true }, token: { arb: token, required: true } },
  'room.create': { id: { arb: idString(), required: true }, room: { arb: idString(), required: true }, visibility: { arb: visibility, required: true } },
  'room.join': { id: { arb: idString(), required: true }, room: { arb: idString(), required: true }, since: { arb: seq, required: false } },
  'room.leave': { id: { arb: idString(), required: true }, room: { arb: idString(), required: true } },
  'room.invite': { id: { arb: idString(), required: true }, room: { arb: idString(), required: true }, user: { arb: userId, required: true } },
  'room.kick': { id: { arb: idString(), required: true }, room: { arb: idString(), required: true }, user: { arb: userId, required: true } },
  'room.delete': { id: { arb: idString(), required: true }, room: { arb: idString(), required: true } },
  'room.list': { id: { arb: idString(), required: true } },
  'chat.send': {
    id: { arb: idString(), required: true },
    room: { arb: idString(), required: true },
    text: { arb: text, required: true },
    replyTo: { arb: idString(), required: false },
    ts: { arb: seq, required: false },
  },
  'chat.history': {
    id: { arb: idString(), required: true },
    room: { arb: idString(), required: true },
    before: { arb: seq, required: false },
    after: { arb: seq, required: false },
    limit: { arb: limit, required: false },
  },
  'chat.delete': { id: { arb: idString(), required: true }, room: { arb: idString(), required: true }, message: { arb: idString(), required: true } },
  'chat.edit': {
    id: { arb: idString(), required: true },
    room: { arb: idString(), required: true },
    message: { arb: idString(), required: true },
    text: { arb: text, required: true },
  },
  /** No `id`: the one frame type without a reply (docs/protocol.md "`chat.typing`"). */
  'chat.typing': { room: { arb: idString(), required: true } },
  presence: { id: { arb: idString(), required: true }, room: { arb: idString(), required: true } },
  'admin.broadcast': { id: { arb: idString(), required: true }, text: { arb: text, required: true } },
};

export const FRAME_TYPES = Object.keys(FRAME_RULES);

/** A valid frame of `type`: every required field, each optional one present or not. */
export function validFrame(type: string): fc.Arbitrary<Record<string, unknown>> {
  const rules = FRAME_RULES[type]!;
  const required: Record<string, fc.Arbitrary<unknown>> = {};
  const optional: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [field, rule] of Object.entries(rules)) (rule.required ? required : optional)[field] = rule.arb;
  return fc.record({ ...required, ...optional }, { requiredKeys: Object.keys(required) }).map((fields) => ({ type, ...fields }));
}

export const anyValidFrame = fc.constantFrom(...FRAME_TYPES).chain(validFrame);

/** Values that break a field's rule, per field (the docs' rule, then the wrong JSON types). */
const WRONG_TYPES = fc.constantFrom<unknown>(null, true, false, 0, 1.5, -1, [], ['x'], {}, { a: 1 });
const notIdString = fc.oneof(
  fc.constant(''),
  fc.constant('has space'),
  fc.constant('x'.repeat(65)),
  idString(10).map((s) => `${s}/`),
  idString(10).map((s) => `${s}\u0000`),
  idString(10).map((s) => `é${s}`),
  fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !/^[A-Za-z0-9_-]{1,64}$/.test(s)),
);
const INVALID: Record<string, fc.Arbitrary<unknown>> = {
  id: fc.oneof(notIdString, fc.constantFrom<unknown>(0, true, [], {}, 1.5)),
  room: fc.oneof(notIdString, WRONG_TYPES),
  message: fc.oneof(notIdString, WRONG_TYPES),
  replyTo: fc.oneof(notIdString, WRONG_TYPES),
  user: fc.oneof(
    fc.constant(''),
    fc.constant('u'.repeat(129)),
    userId.map((s) => `${s}\u0007`),
    userId.map((s) => `\u001f${s}`),
    fc.constant('del\u007f'),
    WRONG_TYPES,
  ),
  since: fc.oneof(fc.constantFrom<unknown>(-1, 1.5, '1', Number.MAX_SAFE_INTEGER + 2, null, true, [], {})),
  before: fc.constantFrom<unknown>(-1, 1.5, '1', Number.MAX_SAFE_INTEGER + 2, null, true, [], {}),
  after: fc.constantFrom<unknown>(-1, 1.5, '1', Number.MAX_SAFE_INTEGER + 2, null, true, [], {}),
  ts: fc.constantFrom<unknown>(-1, 1.5, '1', Number.MAX_SAFE_INTEGER + 2, null, true, [], {}),
  limit: fc.oneof(fc.integer({ min: 101, max: 1_000_000 }), fc.integer({ min: -1000, max: 0 }), fc.constantFrom<unknown>(1.5, '5', null, [], {})),
  token: fc.oneof(fc.constant(''), fc.constant('t'.repeat(8193)), fc.constantFrom<unknown>(0, null, true, [], {})),
  text: fc.oneof(fc.constant('x'.repeat(65_537)), fc.constantFrom<unknown>(0, null, true, [], {}, ['t'])),
  visibility: fc.oneof(fc.constantFrom<unknown>('secret', 'PUBLIC', '', 0, null, true, [], {})),
};

export interface Mutation {
  frame: Record<string, unknown>;
  /** The detail path the contract says the refusal names. */
  path: string;
  kind: 'invalid' | 'missing' | 'unknown';
}

/** Names that are not fields of any frame (including the prototype keys). */
const unknownField = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', 'extra', 'Room', 'ID'),
  fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 1, maxLength: 12 }),
);

/** A valid frame of `type` with exactly one thing wrong: a field's value, a required field missing, or an unknown field. */
export function mutatedFrame(type: string): fc.Arbitrary<Mutation> {
  const rules = FRAME_RULES[type]!;
  const fields = Object.keys(rules);
  const required = fields.filter((f) => rules[f]!.required);
  const kinds: Array<fc.Arbitrary<Mutation>> = [
    fc
      .tuple(validFrame(type), fc.constantFrom(...fields))
      .chain(([frame, field]) => INVALID[field]!.map((value) => ({ frame: { ...frame, [field]: value }, path: field, kind: 'invalid' as const }))),
    fc
      .tuple(validFrame(type), unknownField, fc.jsonValue())
      .filter(([, name]) => !fields.includes(name) && name !== 'type')
      .map(([frame, name, value]) => {
        const out = { ...frame };
        // defineProperty: an own `__proto__` key, as JSON.parse would make it.
        Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
        return { frame: out, path: name, kind: 'unknown' as const };
      }),
  ];
  if (required.length > 0) {
    kinds.push(
      fc.tuple(validFrame(type), fc.constantFrom(...required)).map(([frame, field]) => {
        const out = { ...frame };
        delete out[field];
        return { frame: out, path: field, kind: 'missing' as const };
      }),
    );
  }
  return fc.oneof(...kinds);
}

export const anyMutatedFrame = fc.constantFrom(...FRAME_TYPES).chain(mutatedFrame);

// ---- the fuzzer's input

/** JSON text with keys such as `__proto__`, written by hand (JSON.stringify never emits an own `__proto__` of a literal). */
export const hostileJson: fc.Arbitrary<string> = fc.letrec<{ node: string; obj: string }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small' },
    fc.jsonValue({ maxDepth: 1 }).map((v) => JSON.stringify(v)),
    tie('obj'),
  ),
  obj: fc
    .array(
      fc.tuple(
        fc.oneof(
          fc.constantFrom('__proto__', 'constructor', 'prototype', '\\u005f_proto__', 'type', 'id'),
          fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s).slice(1, -1)),
        ),
        tie('node'),
      ),
      {
        maxLength: 5,
      },
    )
    .map((entries) => `{${entries.map(([k, v]) => `"${k}":${v}`).join(',')}}`),
})).obj;

const nest = (depth: number, open: string, close: string, inner: string): string => open.repeat(depth) + inner + close.repeat(depth);

/** One fuzz message: text for a WebSocket text frame, or a binary/invalid-UTF-8 frame that must close the connection. */
export type FuzzMessage = { kind: 'text'; data: string } | { kind: 'binary'; data: Uint8Array } | { kind: 'bad-utf8'; data: Uint8Array };

/** A JSON object (as text) with `extra` merged in. */
const frameText = (frame: Record<string, unknown>): string => JSON.stringify(frame);

/**
 * The fuzzer's mix: mostly contract frames (valid, or with one field wrong) so the deep paths run,
 * and around them random JSON, wrong shapes, unicode, huge strings, deep nesting, unknown types,
 * prototype keys, malformed ids; rarely a frame that must close the connection (binary, invalid
 * UTF-8, over the size limit). `maxPayloadBytes` sizes the "huge" strings around the limit.
 */
export function fuzzMessage(maxPayloadBytes: number, options: { fatal?: boolean } = {}): fc.Arbitrary<FuzzMessage> {
  // Everything but the deliberate oversized frame stays within the limit, so a connection ends only when meant to.
  const fits = (s: string): boolean => Buffer.byteLength(s) <= maxPayloadBytes;
  const text = (arb: fc.Arbitrary<string>): fc.Arbitrary<FuzzMessage> => arb.filter(fits).map((data) => ({ kind: 'text' as const, data }));
  const fatal = (options.fatal ?? true) ? 1 : 0;
  return fc.oneof(
    { arbitrary: text(anyValidFrame.map(frameText)), weight: 300 },
    { arbitrary: text(anyMutatedFrame.map((m) => frameText(m.frame))), weight: 200 },
    { arbitrary: text(fc.json({ maxDepth: 3 })), weight: 50 },
    {
      arbitrary: text(
        fc
          .tuple(fc.constantFrom(...FRAME_TYPES), fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 }), idString())
          .map(([type, fields, id]) => frameText({ ...fields, type, id })),
      ),
      weight: 80,
    },
    { arbitrary: text(fc.tuple(fc.string({ maxLength: 20 }), idString()).map(([type, id]) => frameText({ type, id }))), weight: 40 },
    { arbitrary: text(fc.string({ unit: 'binary', maxLength: 100 })), weight: 40 },
    { arbitrary: text(fc.tuple(anyValidFrame, fc.string({ unit: 'binary', maxLength: 300 })).map(([f, s]) => frameText({ ...f, text: s }))), weight: 40 },
    { arbitrary: text(hostileJson), weight: 50 },
    {
      arbitrary: text(
        fc.tuple(fc.integer({ min: 3, max: 40 }), idString()).map(([d, id]) => `{"type":"chat.send","id":"${id}","room":"r","text":"x","replyTo":${nest(d, '{"a":', '}', '1')}}`),
      ),
      weight: 30,
    },
    { arbitrary: text(fc.tuple(fc.integer({ min: 5, max: 3000 }), idString()).map(([d, id]) => `{"type":"room.list","id":"${id}","x":${nest(d, '[', ']', '')}}`)), weight: 20 },
    {
      arbitrary: text(
        fc
          .tuple(fc.integer({ min: 20, max: 300 }), idString())
          .map(([n, id]) => frameText(Object.fromEntries([['type', 'room.list'], ['id', id], ...Array.from({ length: n }, (_, i) => [`k${i}`, i])]))),
      ),
      weight: 20,
    },
    { arbitrary: text(fc.tuple(anyValidFrame, notIdString).map(([f, id]) => frameText({ ...f, id }))), weight: 40 },
    {
      arbitrary: text(
        fc.constantFrom(
          '',
          ' ',
          'null',
          '[]',
          '{}',
          '"x"',
          '0',
          'true',
          '{"type":null}',
          '{"id":"only-id"}',
          '[{"type":"room.list","id":"in-array"}]',
          '{"type":"room.list","id":"a","id":"b"}',
        ),
      ),
      weight: 30,
    },
    {
      arbitrary: text(
        fc
          .tuple(idString(), fc.integer({ min: 1, max: Math.floor((maxPayloadBytes - 200) / 3) }))
          .map(([id, n]) => frameText({ type: 'chat.send', id, room: 'lobby', text: '€'.repeat(n) })),
      ),
      weight: 20,
    },
    {
      arbitrary: text(
        fc
          .tuple(fc.constantFrom(...FRAME_TYPES), idString(), fc.string({ unit: 'grapheme', maxLength: 40 }))
          .map(([type, id, s]) => frameText({ type, id, room: s, text: s, user: s })),
      ),
      weight: 40,
    },
    {
      arbitrary: fc
        .integer({ min: maxPayloadBytes + 1, max: maxPayloadBytes * 2 })
        .map((n) => ({ kind: 'text' as const, data: frameText({ type: 'room.list', id: 'huge', pad: 'x'.repeat(n) }) })),
      weight: 2 * fatal,
    },
    { arbitrary: fc.uint8Array({ maxLength: 32 }).map((data) => ({ kind: 'binary' as const, data })), weight: 2 * fatal },
    {
      arbitrary: fc
        .constantFrom([0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xff], [0xe2, 0x82])
        .map((bytes) => ({ kind: 'bad-utf8' as const, data: Uint8Array.from([...Buffer.from('{"type":"room.list","id":"u8","t":"'), ...bytes, 0x22, 0x7d]) })),
      weight: 2 * fatal,
    },
  );
}
