/**
 * The OpenAPI 3.1 document of the server API, served at `GET /api/v1/openapi.json`, generated
 * from the route table (src/api/routes.ts) whose schemas also validate the requests.
 */
import { API_ROUTES, ERROR_SCHEMA, IDEMPOTENCY_KEY, MESSAGE_SCHEMA, OPENAPI_PATH, type ApiRouteSpec, type JsonSchema } from './routes.js';
import { SYSTEM_USER } from './publish.js';

const VERSION = '1.0.0';

type Parameter = { name: string; in: 'path' | 'query' | 'header'; required: boolean; schema: JsonSchema; description?: string };

function parametersOf(spec: ApiRouteSpec): Parameter[] {
  const out: Parameter[] = [];
  for (const [where, schema] of [
    ['path', spec.params],
    ['query', spec.querystring],
  ] as const) {
    if (!schema) continue;
    const properties = (schema['properties'] ?? {}) as Record<string, JsonSchema>;
    const required = new Set((schema['required'] ?? []) as string[]);
    for (const [name, s] of Object.entries(properties)) out.push({ name, in: where, required: where === 'path' || required.has(name), schema: s });
  }
  if (spec.idempotent) {
    out.push({
      name: 'Idempotency-Key',
      in: 'header',
      required: false,
      schema: { type: 'string', pattern: IDEMPOTENCY_KEY.source },
      description: "The same key again within the server's replay window answers with the first result and stores nothing.",
    });
  }
  return out;
}

const errorResponse = (description: string): Record<string, unknown> => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

function operationOf(spec: ApiRouteSpec): Record<string, unknown> {
  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(spec.responses)) responses[status] = { description: r.description, content: { 'application/json': { schema: r.schema } } };
  responses['400'] = errorResponse('`INVALID_PAYLOAD` (with `details`) or `BAD_REQUEST`: the request does not match the schema (an unknown field included).');
  responses['401'] = errorResponse('`UNAUTHENTICATED`: no key, or a wrong, expired or revoked one.');
  responses['403'] = errorResponse(`\`FORBIDDEN\`: the key lacks the \`${spec.scope}\` scope.`);
  if (spec.params && 'room' in ((spec.params['properties'] ?? {}) as object)) responses['404'] = errorResponse('`NOT_FOUND`: no such room.');
  if (spec.operation === 'publish') {
    responses['409'] = errorResponse('`CONFLICT`: a request with this `Idempotency-Key` is still being handled; retry shortly.');
    responses['422'] = errorResponse('`SPAM`: the message looks like spam (`retryAfterMs` while the key is muted).');
  }
  responses['429'] = errorResponse("`RATE_LIMITED`: over the key's budget (`rateLimits.api`); see `Retry-After` and `retryAfterMs`.");
  responses['500'] = errorResponse('`INTERNAL`.');
  return {
    operationId: spec.operation,
    summary: spec.summary,
    description: spec.description,
    tags: ['server API'],
    'x-bulwark-scope': spec.scope,
    security: [{ apiKey: [] }],
    parameters: parametersOf(spec),
    ...(spec.body ? { requestBody: { required: !spec.bodyOptional, content: { 'application/json': { schema: spec.body } } } } : {}),
    responses,
  };
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of API_ROUTES) (paths[spec.path] ??= {})[spec.method.toLowerCase()] = operationOf(spec);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Bulwark server API',
      version: VERSION,
      description: `The API for backends (docs/protocol.md "Server API"). Authenticate with an API key from \`bulwark apikeys create\`: \`Authorization: Bearer bwk_…\`. Messages posted without \`user\` are by \`${JSON.stringify(SYSTEM_USER)}\`. This document is served without a key at ${OPENAPI_PATH}.`,
    },
    servers: [{ url: '/' }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', bearerFormat: 'bwk_ followed by 43 base64url characters' } },
      schemas: { Error: ERROR_SCHEMA, Message: MESSAGE_SCHEMA },
    },
  };
}
