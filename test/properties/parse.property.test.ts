/**
 * Properties of frame parsing (docs/protocol.md "Frames", `src/guards/frame/parse.ts`), checked
 * with fast-check over arbitrary input: the parser and the checks after it never throw, whatever
 * the text or the decoded value; and no key — `__proto__`, `constructor`, `prototype`, escaped or
 * nested — ever reaches a prototype: every object the parser hands on has `Object.prototype` as
 * its prototype, and a fresh `{}` stays clean.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkFrame, idProblem, parseFrame, replyId } from '../../src/guards/frame/parse.js';
import { validateFrame } from '../../src/guards/frame/schema.js';
import { hostileJson } from '../fuzz/frames.js';

const RUNS = 2000;
const protoNames = (o: object): string[] => Object.getOwnPropertyNames(o).sort();
const BEFORE = { object: protoNames(Object.prototype), array: protoNames(Array.prototype), fn: protoNames(Function.prototype) };

/** Every object reachable from `value` has the ordinary prototype (`Object.prototype` or `Array.prototype`). */
function ordinaryPrototypes(value: unknown, depth = 0): boolean {
  if (value === null || typeof value !== 'object' || depth > 50) return true;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== (Array.isArray(value) ? Array.prototype : Object.prototype)) return false;
  for (const key of Object.keys(value)) if (!ordinaryPrototypes((value as Record<string, unknown>)[key], depth + 1)) return false;
  return true;
}

function assertPrototypesClean(): void {
  const probe = {} as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(probe), Object.prototype);
  for (const key of ['polluted', 'isAdmin', 'admin', 'roles', 'type', 'id', 'x', 'a']) assert.equal(probe[key], undefined, `{}.${key}`);
  assert.deepEqual(protoNames(Object.prototype), BEFORE.object);
  assert.deepEqual(protoNames(Array.prototype), BEFORE.array);
  assert.deepEqual(protoNames(Function.prototype), BEFORE.fn);
}

/** Runs text through everything the pipeline does before dispatch; must never throw. */
function throughParsing(raw: string): void {
  const parsed = parseFrame(raw);
  if (!parsed.ok && parsed.reason !== 'too_complex') return;
  const value = parsed.value;
  assert.ok(ordinaryPrototypes(value), 'every parsed object has the ordinary prototype');
  replyId(value);
  idProblem(value);
  if (!parsed.ok) return;
  const checked = validateFrame(value);
  if (checked.ok) {
    assert.ok(ordinaryPrototypes(checked.frame), 'the validated frame has the ordinary prototype');
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      assert.equal(Object.prototype.hasOwnProperty.call(checked.frame, key), false, `a validated frame has no own ${key}`);
    }
  }
}

describe('frame parsing, for any input', () => {
  it('never throws on arbitrary text (any code point, lone surrogates included)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (raw) => {
        throughParsing(raw);
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on arbitrary JSON, and keeps the top-level id of every object', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 8 }), (raw) => {
        throughParsing(raw);
        const value = JSON.parse(raw) as unknown;
        const parsed = parseFrame(raw);
        const isObject = value !== null && typeof value === 'object' && !Array.isArray(value);
        assert.equal(parsed.ok || parsed.reason === 'too_complex', isObject, 'an object is an object, however deep or wide');
      }),
      { numRuns: RUNS },
    );
  });

  it('never throws on deep and wide JSON, and answers it with its id and a bounded detail', () => {
    const deep = fc.tuple(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 0, max: 200 }), fc.constantFrom('[', '{"k":'), fc.boolean()).map(([depth, width, open, idLast]) => {
      const inner = open === '[' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"k":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const wide = Array.from({ length: width }, (_, i) => `"w${i}":${i}`).join(',');
      const fields = [`"type":"room.list"`, `"x":${inner}`, ...(wide ? [wide] : [])];
      return `{${idLast ? [...fields, '"id":"keep-me"'] : ['"id":"keep-me"', ...fields]}}`;
    });
    fc.assert(
      fc.property(deep, (raw) => {
        throughParsing(raw);
        const parsed = parseFrame(raw);
        if (parsed.ok) return;
        assert.equal(parsed.reason, 'too_complex');
        assert.equal(replyId(parsed.value), 'keep-me', 'the id survives');
        assert.ok(parsed.detail.path.length <= 64 && parsed.detail.message.length < 100);
      }),
      { numRuns: 300 },
    );
  });

  it('never lets __proto__, constructor or prototype keys (escaped or nested) reach a prototype', () => {
    fc.assert(
      fc.property(hostileJson, (raw) => {
        throughParsing(raw);
        assertPrototypesClean();
      }),
      { numRuns: RUNS },
    );
    assertPrototypesClean();
  });

  it('never throws on any decoded value a transport could hand over (checkFrame, replyId, idProblem, validateFrame)', () => {
    fc.assert(
      fc.property(
        fc.anything({ withNullPrototype: true, withObjectString: true, withBoxedValues: true, withMap: true, withSet: true, withSparseArray: true, maxDepth: 6 }),
        (value) => {
          const parsed = checkFrame(value);
          if (!parsed.ok && parsed.reason !== 'too_complex') return;
          replyId(parsed.value);
          idProblem(parsed.value);
          if (parsed.ok) validateFrame(parsed.value);
        },
      ),
      { numRuns: RUNS },
    );
    assertPrototypesClean();
  });

  it('judges an id exactly by the rule 1-64 characters of [A-Za-z0-9_-]', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 70 }), fc.string({ unit: fc.constantFrom(...'aZ09_-'), maxLength: 70 }), fc.anything()), (id) => {
        const rule = typeof id === 'string' && id.length >= 1 && id.length <= 64 && [...id].every((c) => /[A-Za-z0-9_-]/.test(c));
        const frame = { type: 'room.list', id };
        assert.equal(replyId(frame), rule ? id : undefined);
        assert.equal(idProblem(frame) === undefined, rule);
        if (!rule) assert.equal(idProblem(frame)!.path, 'id');
      }),
      { numRuns: RUNS },
    );
    assert.equal(idProblem({ type: 'room.list' }), undefined, 'no id is not a malformed id');
  });
});
