/**
 * The documentation is part of the contract: every wire error code, close code, security event
 * and configuration key the code defines must be documented, so adding one without documenting
 * it fails the build (as fastify's test that every error code is documented).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES } from '../../src/protocol/errors.js';
import { CLOSE_CODES } from '../../src/protocol/close-codes.js';
import { SECURITY_EVENTS } from '../../src/security/events.js';
import { ConfigSchema, DEFAULT_RATE_LIMITS } from '../../src/config/schema.js';
import { CLIENT_FRAME_TYPES } from '../../src/protocol/frames.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(root + path, 'utf8');

const readme = read('README.md');
const protocol = read('docs/protocol.md');
const docs = `${readme}\n${protocol}`;

/** A term counts as documented when it appears in code style: `term`. */
function documented(term: string | number): boolean {
  return docs.includes(`\`${term}\``);
}

function missing(terms: ReadonlyArray<string | number>): Array<string | number> {
  return terms.filter((t) => !documented(t));
}

/** The part of a document from a heading to the next heading of the same or higher level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(heading);
  assert.ok(start >= 0, `heading "${heading}" not found`);
  const level = /^#+/.exec(heading)![0].length;
  const rest = text.slice(start + heading.length);
  const next = new RegExp(`\\n#{1,${level}} `).exec(rest);
  return next ? rest.slice(0, next.index) : rest;
}

/** First-column code values of the markdown table rows in a section: | `X` | ... */
function tableKeys(text: string): string[] {
  return [...text.matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

interface SchemaNode {
  def: { type: string; innerType?: SchemaNode };
  shape?: Record<string, SchemaNode>;
}

function unwrap(node: SchemaNode): SchemaNode {
  let current = node;
  while ((current.def.type === 'default' || current.def.type === 'optional') && current.def.innerType) current = current.def.innerType;
  return current;
}

/** Every key path of the closed schema, optional keys included: `limits`, `limits.maxPayloadBytes`, ... */
function configPaths(node: SchemaNode, prefix = ''): string[] {
  const inner = unwrap(node);
  if (inner.def.type !== 'object' || !inner.shape) return [];
  const out: string[] = [];
  for (const [key, child] of Object.entries(inner.shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    out.push(path, ...configPaths(child, path));
  }
  return out;
}

describe('documentation', () => {
  it('opens the README with the two set-up commands', () => {
    const head = readme.split('\n').slice(0, 40).join('\n');
    assert.ok(head.includes('npm install && npm start'), 'README first 40 lines lack `npm install && npm start`');
    assert.ok(/\bnpm test\b/.test(head), 'README first 40 lines lack `npm test`');
  });

  it('documents every wire error code', () => {
    assert.deepEqual(missing(ERROR_CODES), []);
  });

  it('documents only error codes that exist', () => {
    const table = tableKeys(section(protocol, '## Error codes'));
    assert.deepEqual(
      table.filter((c) => !(ERROR_CODES as readonly string[]).includes(c)),
      [],
    );
    assert.deepEqual(
      [...ERROR_CODES].filter((c) => !table.includes(c)),
      [],
    );
  });

  it('documents every close code, and only those', () => {
    const codes = Object.keys(CLOSE_CODES);
    assert.deepEqual(missing(codes), []);
    const table = tableKeys(section(protocol, '## Close codes'));
    assert.deepEqual(
      table.filter((c) => !codes.includes(c)),
      [],
    );
    assert.deepEqual(
      codes.filter((c) => !table.includes(c)),
      [],
    );
  });

  it('documents whether a client should reconnect after each close code', () => {
    const rows = section(protocol, '## Close codes')
      .split('\n')
      .filter((l) => /^\| `\d{4}` \|/.test(l));
    for (const [code, info] of Object.entries(CLOSE_CODES)) {
      const row = rows.find((r) => r.startsWith(`| \`${code}\` |`));
      assert.ok(row, `no row for ${code}`);
      const cells = row.split('|').map((c) => c.trim());
      const word = info.reconnect ? 'yes' : 'no';
      assert.ok(
        cells.some((c) => c.toLowerCase().startsWith(word)),
        `close ${code}: reconnect should read "${word}"`,
      );
    }
  });

  it('documents every security event type, and only those', () => {
    const types = Object.keys(SECURITY_EVENTS);
    assert.deepEqual(missing(types), []);
    const table = tableKeys(section(protocol, '## Security events'));
    assert.deepEqual(
      table.filter((t) => !types.includes(t)),
      [],
    );
  });

  it('documents each security event with its severity', () => {
    const rows = section(protocol, '## Security events').split('\n');
    for (const [type, severity] of Object.entries(SECURITY_EVENTS)) {
      const row = rows.find((r) => r.startsWith(`| \`${type}\` |`));
      assert.ok(row, `no row for ${type}`);
      assert.ok(row.includes(severity), `${type}: severity ${severity} not in its row`);
    }
  });

  it('documents every configuration key, top-level, nested and optional', () => {
    const paths = configPaths(ConfigSchema as unknown as SchemaNode);
    assert.ok(paths.includes('limits.maxPayloadBytes') && paths.includes('auth.secret'), 'schema walk found too little');
    assert.deepEqual(missing(paths), []);
  });

  it('documents the default of every configuration key', () => {
    const defaults = ConfigSchema.parse({}) as Record<string, unknown>;
    const config = section(readme, '## Configuration');
    const rows = config.split('\n');
    const walk = (value: unknown, path: string): void => {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
        return;
      }
      const row = rows.find((r) => r.startsWith(`| \`${path}\` |`));
      assert.ok(row, `README configuration table has no row for ${path}`);
      const shown = JSON.stringify(value);
      assert.ok(row.includes(shown) || row.includes(String(value)), `${path}: default ${shown} not in its row`);
    };
    walk(defaults, '');
  });

  it('documents the default rate-limit rules with their values, and every frame type', () => {
    assert.deepEqual(missing(Object.keys(DEFAULT_RATE_LIMITS)), []);
    for (const doc of [readme, protocol]) {
      const rows = doc.split('\n');
      for (const [name, rule] of Object.entries(DEFAULT_RATE_LIMITS)) {
        const row = rows.find((r) => r.startsWith(`| \`${name}\` |`));
        assert.ok(row, `no rate-limit row for ${name}`);
        const shown = `${rule.points} per ${rule.durationMs / 1000} s`;
        assert.ok(row.includes(shown), `rate rule ${name}: expected "${shown}" in ${row}`);
      }
    }
    assert.deepEqual(missing(CLIENT_FRAME_TYPES), []);
  });

  it('documents every environment variable the loader reads', () => {
    const names = new Set(read('src/config/load.ts').match(/BULWARK_[A-Z_]+/g) ?? []);
    assert.ok(names.size >= 14, 'environment variables not found in the loader');
    assert.deepEqual(
      [...names].filter((n) => !readme.includes(`\`${n}\``)),
      [],
    );
  });
});
