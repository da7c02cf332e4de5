/**
 * The server API for backends (`/api/v1/*`, docs/protocol.md "Server API"), registered from the
 * route table in src/api/routes.ts.
 *
 * Every call, in this order, before its body is even parsed:
 * 1. the API key (`Authorization: Bearer bwk_…`): missing, malformed, unknown, expired or revoked
 *    → `401` and an `api_key_refused` event; failed attempts also spend the client IP's
 *    `rateLimits.api` budget (×10), so guessing keys is throttled (`429`);
 * 2. the key's budget (`rateLimits.api`, per key, cluster-wide with Redis) → `429` + `Retry-After`;
 * 3. the route's scope → `403` and a `forbidden_action` event.
 * Then the request is validated against the route's schemas by a strict validator (an unknown
 * field, a wrong type or a missing field → `400 INVALID_PAYLOAD` with `details`, and an
 * `invalid_payload` event); Fastify's default validator, which silently drops unknown fields,
 * stays in charge of every other route.
 *
 * Audit, bounded whatever the traffic: refusals are typed security events (aggregated per source
 * and minute); a successful call is one `api_call` event (info, aggregated the same way, so a busy
 * key makes one row per minute), a count on the key's own row (`uses`, `lastUsedAt`) and the
 * `bulwark_api_requests_total{operation,status}` metric; `broadcast` and `disconnect` are also
 * one `admin_action` row each, like the admin console's actions. Errors are `{error, message}`
 * (plus `details` or `retryAfterMs`), never a stack trace or SQL.
 */
import { Ajv, type ErrorObject } from 'ajv';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Bus } from '../bus/bus.js';
import type { Reply } from '../domain/reply.js';
import type { Messages } from '../domain/messages.js';
import { normalizeDisplayName } from '../auth/display-name.js';
import type { RateLimiter } from '../guards/rate-limits.js';
import type { Metrics } from '../observability/metrics.js';
import type { ErrorCode, ErrorDetail } from '../protocol/errors.js';
import { ERROR_MESSAGES } from '../protocol/errors.js';
import type { SecurityAudit } from '../security/audit.js';
import type { ApiKeyRecord } from '../store/store.js';
import type { ApiKeyVerifier } from '../api/keys.js';
import { openApiDocument } from '../api/openapi.js';
import { keySubject, SYSTEM_USER, type ApiWrites } from '../api/publish.js';
import { API_ROUTES, DEFAULT_DISCONNECT, fastifyPath, IDEMPOTENCY_KEY, OPENAPI_PATH, type ApiOperation, type ApiRouteSpec } from '../api/routes.js';

/** Who is online in a room: the `presence` frame's answer. Undefined for an unknown room. */
export type PresenceLookup = (room: string) => Promise<Array<{ id: string; name: string }> | undefined>;

export interface ApiRoutesDeps {
  keys: ApiKeyVerifier;
  writes: ApiWrites;
  messages: Messages;
  bus: Bus;
  audit: SecurityAudit;
  metrics: Metrics;
  /** Per key: `rateLimits.api`. */
  limiter: RateLimiter;
  /** Per client IP, spent by refused keys. */
  failureLimiter: RateLimiter;
  presence: PresenceLookup;
  clientIp(req: FastifyRequest): string;
  onError(err: unknown): void;
}

const STATUS: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  INVALID_PAYLOAD: 400,
  UNKNOWN_TYPE: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_A_MEMBER: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  REPLAY: 409,
  SPAM: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
};

/** Messages for people: the frame wording says "frame", an HTTP caller sent a request. */
const HTTP_MESSAGES: Partial<Record<ErrorCode, string>> = {
  BAD_REQUEST: 'The request is not valid.',
  INVALID_PAYLOAD: 'The request does not match its schema.',
  NOT_FOUND: 'No such room.',
  RATE_LIMITED: 'Too many requests for this key; retry after the time given.',
};

interface Call {
  spec: ApiRouteSpec;
  key: ApiKeyRecord;
  ip: string;
}

/** Body and path parameters: no coercion, no removal, no defaults. Query strings coerce their numbers. */
function strictCompilers(): { exact: Ajv; query: Ajv } {
  const common = { allErrors: false, removeAdditional: false, useDefaults: false, strict: true, allowUnionTypes: false } as const;
  return { exact: new Ajv({ ...common, coerceTypes: false }), query: new Ajv({ ...common, coerceTypes: true }) };
}

function detailOf(part: string, error: ErrorObject): ErrorDetail {
  const at = [part, ...error.instancePath.split('/').filter(Boolean)].join('.');
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'additionalProperties':
      return { path: `${at}.${String(params['additionalProperty'])}`, message: 'unknown field' };
    case 'required':
      return { path: `${at}.${String(params['missingProperty'])}`, message: 'required' };
    default:
      return { path: at, message: error.message ?? 'invalid' };
  }
}

export function registerApiRoutes(app: FastifyInstance, deps: ApiRoutesDeps): void {
  const { audit, metrics } = deps;
  const document = JSON.stringify(openApiDocument());
  const calls = new WeakMap<FastifyRequest, Call>();
  const specs = new Map<string, ApiRouteSpec>(API_ROUTES.map((r) => [`${r.method} ${fastifyPath(r.path)}`, r]));
  const ajv = strictCompilers();

  const fail = (reply: FastifyReply, code: ErrorCode, message?: string, extra: { details?: ErrorDetail[]; retryAfterMs?: number } = {}): FastifyReply => {
    if (extra.retryAfterMs !== undefined) reply.header('Retry-After', String(Math.max(1, Math.ceil(extra.retryAfterMs / 1000))));
    if (code === 'UNAUTHENTICATED') reply.header('WWW-Authenticate', 'Bearer realm="bulwark"');
    return reply
      .code(STATUS[code])
      .header('Cache-Control', 'no-store')
      .send({ error: code, message: message ?? HTTP_MESSAGES[code] ?? ERROR_MESSAGES[code], ...extra });
  };
  const answer = (reply: FastifyReply, result: Reply, status: number): FastifyReply => {
    if (!result.ok)
      return fail(reply, result.code, result.message, {
        ...(result.details ? { details: result.details } : {}),
        ...(result.retryAfterMs !== undefined ? { retryAfterMs: result.retryAfterMs } : {}),
      });
    return reply.code(status).header('Cache-Control', 'no-store').send(result.body);
  };

  app.get(OPENAPI_PATH, async (_req, reply) => reply.type('application/json; charset=utf-8').header('Cache-Control', 'no-cache').send(document));

  void app.register(async (api) => {
    api.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'querystring' ? ajv.query : ajv.exact).compile(schema));

    api.setErrorHandler((error: { statusCode?: number; validation?: ErrorObject[]; validationContext?: string; code?: string }, req, reply) => {
      const call = calls.get(req);
      if (error.validation) {
        const part = error.validationContext ?? 'body';
        const details = error.validation.slice(0, 10).map((e) => detailOf(part, e));
        audit.emit('invalid_payload', {
          ip: call?.ip ?? deps.clientIp(req),
          user: call ? keySubject(call.key.id) : undefined,
          detail: { api: call?.spec.operation ?? 'v1', part },
        });
        return fail(reply, 'INVALID_PAYLOAD', undefined, { details });
      }
      const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) {
        deps.onError(error);
        return fail(reply, 'INTERNAL');
      }
      // Body parsing refusals: not JSON, an unsupported media type, too large, a poisoned prototype key.
      const message = status === 415 ? 'Send JSON (Content-Type: application/json).' : status === 413 ? 'The request body is too large.' : 'The request body is not valid JSON.';
      return reply.code(status).header('Cache-Control', 'no-store').send({ error: 'BAD_REQUEST', message });
    });

    // Key, budget and scope: before the body is parsed, so a refused caller costs no parsing.
    api.addHook('onRequest', async (req, reply) => {
      const spec = specs.get(`${req.method} ${req.routeOptions.url}`);
      if (!spec) return;
      const ip = deps.clientIp(req);
      const verdict = await deps.keys.verify(req.headers.authorization);
      if (!verdict.ok) {
        audit.emit('api_key_refused', { ip, detail: { reason: verdict.reason, api: spec.operation } });
        const limited = await deps.failureLimiter.consume(`api-refused:${ip}`);
        if (!limited.ok) return fail(reply, 'RATE_LIMITED', 'Too many refused keys from this address; retry later.', { retryAfterMs: limited.retryAfterMs });
        return fail(reply, 'UNAUTHENTICATED', verdict.reason === 'missing' ? 'Send an API key: Authorization: Bearer bwk_…' : 'The API key is not valid.');
      }
      const key = verdict.key;
      const subject = keySubject(key.id);
      const budget = await deps.limiter.consume(subject);
      if (!budget.ok) {
        audit.emit('rate_limited', { ip, user: subject, detail: { rule: 'api', api: spec.operation } });
        return fail(reply, 'RATE_LIMITED', undefined, { retryAfterMs: budget.retryAfterMs });
      }
      if (!key.scopes.includes(spec.scope)) {
        audit.emit('forbidden_action', { ip, user: subject, detail: { action: `api.${spec.operation}`, scope: spec.scope } });
        return fail(reply, 'FORBIDDEN', `This key lacks the "${spec.scope}" scope.`);
      }
      calls.set(req, { spec, key, ip });
      return undefined;
    });

    api.addHook('preValidation', async (req) => {
      const call = calls.get(req);
      if (call?.spec.bodyOptional && req.body === undefined) req.body = {};
    });

    api.addHook('onResponse', async (req, reply) => {
      const call = calls.get(req);
      if (!call) return;
      metrics.apiRequests.inc({ operation: call.spec.operation, status: String(reply.statusCode) });
      if (reply.statusCode >= 400) return;
      deps.keys.used(call.key.id);
      audit.emit('api_call', { ip: call.ip, user: keySubject(call.key.id), detail: { api: call.spec.operation } });
    });

    const handlers: Record<ApiOperation, (req: FastifyRequest, reply: FastifyReply, call: Call) => Promise<FastifyReply>> = {
      async publish(req, reply, call) {
        const idempotencyKey = req.headers['idempotency-key'];
        if (idempotencyKey !== undefined && (typeof idempotencyKey !== 'string' || !IDEMPOTENCY_KEY.test(idempotencyKey))) {
          audit.emit('invalid_payload', { ip: call.ip, user: keySubject(call.key.id), detail: { api: 'publish', part: 'headers' } });
          return fail(reply, 'INVALID_PAYLOAD', undefined, { details: [{ path: 'headers.idempotency-key', message: 'must be 1-64 characters of A-Z a-z 0-9 _ -' }] });
        }
        const { room } = req.params as { room: string };
        const body = req.body as { text: string; user?: { id: string; name: string } };
        let author = SYSTEM_USER;
        if (body.user) {
          const name = normalizeDisplayName(body.user.name);
          if (name === '') return fail(reply, 'INVALID_PAYLOAD', undefined, { details: [{ path: 'body.user.name', message: 'must have a visible character' }] });
          author = { id: body.user.id, name };
        }
        const result = await deps.writes.publish({ ip: call.ip, userId: keySubject(call.key.id) }, { room, text: body.text, author, idempotencyKey });
        return answer(reply, result, result.ok && result.body['duplicate'] === true ? 200 : 201);
      },
      async broadcast(req, reply, call) {
        const { text } = req.body as { text: string };
        const result = await deps.writes.broadcast({ ip: call.ip, userId: keySubject(call.key.id) }, text);
        if (result.ok) record(call, 'broadcast', 'all');
        return answer(reply, result, 202);
      },
      async history(req, reply) {
        const { room } = req.params as { room: string };
        const q = req.query as { before?: number; after?: number; limit?: number };
        return answer(reply, await deps.messages.roomHistory({ room, before: q.before, after: q.after, limit: q.limit }), 200);
      },
      async presence(req, reply) {
        const { room } = req.params as { room: string };
        const members = await deps.presence(room);
        if (!members) return fail(reply, 'NOT_FOUND');
        return reply.code(200).header('Cache-Control', 'no-store').send({ room, members });
      },
      async disconnect(req, reply, call) {
        const { id } = req.params as { id: string };
        const body = req.body as { code?: number; reason?: string };
        const close = { code: body.code ?? DEFAULT_DISCONNECT.code, reason: body.reason ?? DEFAULT_DISCONNECT.reason };
        // Every node closes the user's connections it holds.
        deps.bus.publish({ target: { kind: 'user', user: id }, frame: '', effect: { close } });
        record(call, 'disconnect', id, { code: close.code });
        return reply
          .code(202)
          .header('Cache-Control', 'no-store')
          .send({ user: id, ...close });
      },
    };

    const record = (call: Call, action: string, target: string, detail: Record<string, unknown> = {}): void => {
      audit.emit('admin_action', { ip: call.ip, user: keySubject(call.key.id), detail: { action, target, by: 'api', key: call.key.id, ...detail } });
    };

    for (const spec of API_ROUTES) {
      const handler = handlers[spec.operation];
      api.route({
        method: spec.method,
        url: fastifyPath(spec.path),
        schema: {
          ...(spec.params ? { params: spec.params } : {}),
          ...(spec.querystring ? { querystring: spec.querystring } : {}),
          ...(spec.body ? { body: spec.body } : {}),
        },
        handler: (req, reply) => handler(req, reply, calls.get(req)!),
      });
    }
  });
}
