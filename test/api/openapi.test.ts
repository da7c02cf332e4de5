/**
 * `GET /api/v1/openapi.json` (docs/protocol.md "Server API"): served without a key, a
 * well-formed OpenAPI 3.1 document with every route of the table, its scope and parameters, the
 * very request schemas the server validates with, and response schemas the real answers match.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv } from 'ajv';
import { API_ROUTES } from '../../src/api/routes.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { connect } from '../helpers/client.js';
import { call, LOOSE, newKey, type Answer } from './support.js';

type Doc = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};
type Operation = {
  operationId: string;
  'x-bulwark-scope': string;
  security: unknown[];
  parameters: Array<{ name: string; in: string; required: boolean; schema: unknown }>;
  requestBody?: { content: { 'application/json': { schema: unknown } } };
  responses: Record<string, { description: string; content?: { 'application/json': { schema: unknown } } }>;
};

describe('the OpenAPI document', () => {
  let server: TestServer;
  let doc: Doc;
  const ajv = new Ajv({ strict: false, allErrors: true });

  /** The documented schema for an answer, with `$ref`s to components resolved by Ajv. */
  const responseSchema = (op: Operation, status: number): unknown => {
    const schema = op.responses[String(status)]?.content?.['application/json'].schema;
    assert.ok(schema, `${op.operationId} documents ${status}`);
    return { ...(schema as object), components: doc.components };
  };
  const matches = (op: Operation, answer: Answer): void => {
    const validate = ajv.compile(responseSchema(op, answer.status) as object);
    assert.ok(validate(answer.body), `${op.operationId} ${answer.status}: ${JSON.stringify(validate.errors)} for ${JSON.stringify(answer.body)}`);
  };

  before(async () => {
    server = await startServer({ config: { rateLimits: { api: LOOSE, handshake: LOOSE, default: LOOSE } } });
    const res = await fetch(`${server.url}/api/v1/openapi.json`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    doc = (await res.json()) as Doc;
  });
  after(() => server.stop());

  it('is OpenAPI 3.1 with a bearer security scheme and every route of the table, once', () => {
    assert.match(doc.openapi, /^3\.1\.\d+$/);
    assert.equal(typeof doc.info.title, 'string');
    assert.deepEqual(doc.components.securitySchemes.apiKey, { type: 'http', scheme: 'bearer', bearerFormat: 'bwk_ followed by 43 base64url characters' });
    const ops = Object.values(doc.paths).flatMap((p) => Object.values(p));
    assert.equal(ops.length, API_ROUTES.length);
    assert.equal(new Set(ops.map((o) => o.operationId)).size, ops.length, 'operationIds are unique');
    for (const route of API_ROUTES) {
      const op = doc.paths[route.path]?.[route.method.toLowerCase()];
      assert.ok(op, `${route.method} ${route.path}`);
      assert.equal(op['x-bulwark-scope'], route.scope);
      assert.deepEqual(op.security, [{ apiKey: [] }]);
      for (const status of ['400', '401', '403', '429', '500']) assert.ok(op.responses[status], `${route.operation} documents ${status}`);
      for (const status of Object.keys(route.responses)) assert.ok(op.responses[status]?.content, `${route.operation} documents ${status}`);
    }
  });

  it('declares every path template parameter, and documents exactly the request schemas the server validates with', () => {
    for (const route of API_ROUTES) {
      const op = doc.paths[route.path]![route.method.toLowerCase()]!;
      const templated = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const inPath = op.parameters.filter((p) => p.in === 'path');
      assert.deepEqual(
        inPath.map((p) => p.name),
        templated,
      );
      for (const p of inPath) assert.equal(p.required, true);
      assert.deepEqual(op.requestBody?.content['application/json'].schema, route.body === undefined ? undefined : JSON.parse(JSON.stringify(route.body)));
      const query = op.parameters.filter((p) => p.in === 'query').map((p) => p.name);
      assert.deepEqual(query, Object.keys((route.querystring?.['properties'] ?? {}) as object));
    }
  });

  it('holds schemas that compile, and $refs that resolve', () => {
    const text = JSON.stringify(doc);
    for (const [, ref] of text.matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)) assert.ok(doc.components.schemas[ref!], ref);
    for (const op of Object.values(doc.paths).flatMap((p) => Object.values(p))) {
      for (const p of op.parameters) ajv.compile(p.schema as object);
      if (op.requestBody) ajv.compile(op.requestBody.content['application/json'].schema as object);
      for (const status of Object.keys(op.responses)) if (op.responses[status]!.content) ajv.compile(responseSchema(op, Number(status)) as object);
    }
  });

  it('describes the answers the server really gives, successes and refusals', async () => {
    const owner = await connect(server, 'owner');
    await owner.ok({ type: 'room.create', room: 'lobby', visibility: 'public' });
    const { key } = await newKey(server, ['publish', 'history', 'broadcast', 'admin']);
    const op = (operation: string): Operation =>
      Object.values(doc.paths)
        .flatMap((p) => Object.values(p))
        .find((o) => o.operationId === operation)!;
    matches(op('publish'), await call(server, 'POST', '/api/v1/rooms/lobby/messages', { key, body: { text: 'one' }, headers: { 'idempotency-key': 'a1' } }));
    const duplicate = await call(server, 'POST', '/api/v1/rooms/lobby/messages', { key, body: { text: 'one' }, headers: { 'idempotency-key': 'a1' } });
    assert.equal(duplicate.status, 200);
    matches(op('publish'), duplicate);
    matches(op('publish'), await call(server, 'POST', '/api/v1/rooms/lobby/messages', { key, body: { text: 'one', x: 1 } }));
    matches(op('publish'), await call(server, 'POST', '/api/v1/rooms/nope/messages', { key, body: { text: 'one' } }));
    matches(op('publish'), await call(server, 'POST', '/api/v1/rooms/lobby/messages', { body: { text: 'one' } }));
    matches(op('history'), await call(server, 'GET', '/api/v1/rooms/lobby/history', { key }));
    matches(op('presence'), await call(server, 'GET', '/api/v1/rooms/lobby/presence', { key }));
    matches(op('presence'), await call(server, 'GET', '/api/v1/rooms/lobby/presence', { key: (await newKey(server, ['presence'])).key }));
    matches(op('presence'), await call(server, 'GET', '/api/v1/rooms/nope/presence', { key: (await newKey(server, ['presence'])).key }));
    matches(op('broadcast'), await call(server, 'POST', '/api/v1/broadcast', { key, body: { text: 'hello' } }));
    matches(op('disconnect'), await call(server, 'POST', '/api/v1/users/nobody/disconnect', { key }));
    owner.close();
  });
});
