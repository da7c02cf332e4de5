/**
 * The admin API behind the console (`/api/admin/*`, contract section 1; docs/admin.md "Admin API").
 *
 * - Same-origin only: a request whose `Origin` is not one of the server's allowed origins, or
 *   whose `Sec-Fetch-Site` says another site sent it, is refused `403` (`origin_rejected`). No CORS
 *   header is ever sent, so another site's page cannot read an answer either.
 * - The caller is the holder of an access token (`Authorization: Bearer`), verified like a
 *   WebSocket `auth` (signature, claims, revocation, disabled account, bans) — never a cookie, so
 *   a forged cross-site request carries no credentials. Missing or invalid → `401`.
 * - Authorized by the same policy module as the frames (`mayAdminister`, src/domain/policy.ts):
 *   without the `admin` role → `403` (`forbidden_action`).
 * - Rate-limited per client IP (the `default` rule, IP scope); every action is recorded as one
 *   `admin_action` event with the acting admin, their IP and the target.
 */
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Bans } from '../security/bans.js';
import type { Bus } from '../bus/bus.js';
import type { Config } from '../config/schema.js';
import type { ConnectionDirectory } from '../admin/directory.js';
import { liveNumbers } from '../admin/stats.js';
import { createInvite, inviteState } from '../auth/invites.js';
import type { Revocations } from '../auth/revocation.js';
import type { SessionAuth } from '../auth/session-auth.js';
import type { Actor, UserAdmin } from '../auth/user-admin.js';
import { mayAdminister, type AdminAction } from '../domain/policy.js';
import type { Principal } from '../domain/session.js';
import type { RateLimiter } from '../guards/rate-limits.js';
import { codePoints } from '../guards/frame/text.js';
import { sanitizeText } from '../guards/frame/sanitize.js';
import { normalizeOrigin } from '../guards/handshake/origin.js';
import type { Metrics } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import { alertDetail, neutralize } from '../security/alerts.js';
import type { SecurityAudit } from '../security/audit.js';
import type { Severity, Store, StoredSecurityEvent } from '../store/store.js';

export interface AdminRoutesDeps {
  config: Config;
  store: Store;
  auth: SessionAuth;
  revocations: Revocations;
  bans: Bans;
  bus: Bus;
  audit: SecurityAudit;
  metrics: Metrics;
  directory: ConnectionDirectory;
  users: UserAdmin;
  /** Open connections on this node. */
  openConnections(): number;
  /** Per-IP request budget of the admin API. */
  limiter: RateLimiter;
  allowedOrigins(): ReadonlySet<string>;
  clientIp(req: FastifyRequest): string;
}

interface Caller {
  user: Principal;
  ip: string;
}

const SEVERITIES: readonly Severity[] = ['info', 'notice', 'warning', 'error', 'critical'];
const DAY_MS = 24 * 3600_000;
const MAX_BAN_MS = 365 * DAY_MS;
const MAX_MUTE_MS = 7 * DAY_MS;

// ---- JSON schemas (Fastify validates before a handler runs; a mismatch is 400) ----

const userId = { type: 'string', minLength: 1, maxLength: 128 } as const;
const filterProps = {
  severity: { type: 'string', enum: SEVERITIES },
  type: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z_]+$' },
  user: userId,
  ip: { type: 'string', minLength: 2, maxLength: 64 },
  since: { type: 'integer', minimum: 0 },
  until: { type: 'integer', minimum: 0 },
} as const;
const S = {
  events: {
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { ...filterProps, before: { type: 'string', pattern: '^[0-9]{1,16}\\.[0-9]{1,16}$' }, limit: { type: 'integer', minimum: 1, maximum: 200 } },
    },
  },
  changes: {
    querystring: { type: 'object', additionalProperties: false, required: ['after'], properties: { ...filterProps, after: { type: 'integer', minimum: 0 } } },
  },
  connections: { querystring: { type: 'object', additionalProperties: false, properties: { user: userId, ip: filterProps.ip } } },
  kick: {
    body: {
      type: 'object',
      additionalProperties: false,
      properties: { connection: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9-]+$' }, user: userId },
    },
  },
  ban: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'value'],
      properties: {
        kind: { type: 'string', enum: ['user', 'ip'] },
        value: { type: 'string', minLength: 1, maxLength: 128 },
        durationMs: { type: 'integer', minimum: 1000, maximum: MAX_BAN_MS },
        reason: { type: 'string', minLength: 1, maxLength: 200 },
      },
    },
  },
  unban: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['kind', 'value'],
      properties: { kind: { type: 'string', enum: ['user', 'ip'] }, value: { type: 'string', minLength: 1, maxLength: 128 } },
    },
  },
  mute: {
    body: {
      type: 'object',
      additionalProperties: false,
      required: ['user', 'durationMs'],
      properties: { user: userId, durationMs: { type: 'integer', minimum: 0, maximum: MAX_MUTE_MS } },
    },
  },
  user: { body: { type: 'object', additionalProperties: false, required: ['user'], properties: { user: userId } } },
  users: {
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { search: { type: 'string', minLength: 1, maxLength: 32 }, after: userId },
    },
  },
  invite: { body: { type: 'object', additionalProperties: false, properties: { ttlMs: { type: 'integer', minimum: 60_000, maximum: 90 * DAY_MS } } } },
  announce: { body: { type: 'object', additionalProperties: false, required: ['text'], properties: { text: { type: 'string', minLength: 1, maxLength: 65_536 } } } },
} as const;

type Query = Record<string, string | number | undefined>;

function severitiesFrom(min: unknown): Severity[] | undefined {
  if (typeof min !== 'string') return undefined;
  const i = SEVERITIES.indexOf(min as Severity);
  return i < 0 ? undefined : SEVERITIES.slice(i);
}

function filters(q: Query): { severities?: Severity[]; type?: string; user?: string; ip?: string; since: number; until?: number } {
  const severities = severitiesFrom(q.severity);
  return {
    ...(severities ? { severities } : {}),
    ...(typeof q.type === 'string' ? { type: q.type } : {}),
    ...(typeof q.user === 'string' ? { user: q.user } : {}),
    ...(typeof q.ip === 'string' ? { ip: q.ip } : {}),
    // Without a start, the last day: the console's first view, and a bound on the counts' scan.
    since: typeof q.since === 'number' ? q.since : Date.now() - DAY_MS,
    ...(typeof q.until === 'number' ? { until: q.until } : {}),
  };
}

/** An event as the console shows it: client-chosen text set apart and made visible (alerts.ts). */
function wireEvent(e: StoredSecurityEvent): Record<string, unknown> {
  return {
    id: e.id,
    ts: e.ts,
    lastTs: e.lastTs,
    count: e.count,
    type: e.type,
    severity: e.severity,
    ...(e.ip !== undefined ? { ip: neutralize(e.ip, 64) } : {}),
    ...(e.user !== undefined ? { user: neutralize(e.user, 128) } : {}),
    ...(e.detail ? { detail: alertDetail(e.detail) } : {}),
  };
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminRoutesDeps): void {
  const { store, audit } = deps;

  const fail = (reply: FastifyReply, status: number, error: string, message: string): FastifyReply =>
    reply.code(status).header('Cache-Control', 'no-store').send({ error, message });

  /** Same origin, rate, token, admin role: the caller, or undefined when a refusal was sent. */
  const authorize = async (req: FastifyRequest, reply: FastifyReply, action: AdminAction): Promise<Caller | undefined> => {
    const ip = deps.clientIp(req);
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    const canonical = origin === undefined ? undefined : normalizeOrigin(origin);
    if ((origin !== undefined && (canonical === undefined || !deps.allowedOrigins().has(canonical))) || (site !== undefined && site !== 'same-origin' && site !== 'none')) {
      audit.emit('origin_rejected', { ip, detail: { origin: (origin ?? String(site)).slice(0, 200), path: '/api/admin' } });
      void fail(reply, 403, 'FORBIDDEN', 'Cross-origin request refused.');
      return undefined;
    }
    const limited = await deps.limiter.consume(`admin-api:${ip}`);
    if (!limited.ok) {
      audit.emit('rate_limited', { ip, detail: { rule: 'admin_api' } });
      void fail(reply.header('Retry-After', String(Math.ceil(limited.retryAfterMs / 1000))), 429, 'RATE_LIMITED', 'Too many requests; try again shortly.');
      return undefined;
    }
    const header = req.headers.authorization;
    const token = typeof header === 'string' && /^Bearer\s+/i.test(header) ? header.replace(/^Bearer\s+/i, '').trim() : '';
    if (!token || token.length > 8192) {
      audit.emit('auth_failed', { ip, detail: { reason: 'missing', api: 'admin' } });
      void fail(reply, 401, 'UNAUTHENTICATED', 'Sign in first.');
      return undefined;
    }
    const verified = await deps.auth.verifyToken(token);
    const identity = verified.ok ? verified.identity : undefined;
    const denial = identity
      ? (deps.revocations.denial(identity) ?? (deps.bans.active('user', identity.id) || deps.bans.active('ip', ip) ? { event: 'banned_refused' as const } : undefined))
      : undefined;
    if (!identity || denial) {
      const event = !verified.ok ? verified.denial.event : denial!.event;
      audit.emit(event, { ip, user: identity?.id, detail: { ...(!verified.ok ? verified.denial.detail : {}), api: 'admin' } });
      void fail(reply, 401, 'UNAUTHENTICATED', 'Your session ended. Sign in again.');
      return undefined;
    }
    const user: Principal = { id: identity.id, name: identity.name, roles: identity.roles, admin: identity.roles.includes('admin') };
    if (!mayAdminister(user, action)) {
      audit.emit('forbidden_action', { ip, user: user.id, detail: { action: `admin.${action}` } });
      void fail(reply, 403, 'FORBIDDEN', 'This needs the admin role.');
      return undefined;
    }
    reply.header('Cache-Control', 'no-store');
    return { user, ip };
  };

  const record = (caller: Caller, action: string, target: string, detail: Record<string, unknown> = {}): void => {
    audit.emit('admin_action', { ip: caller.ip, user: caller.user.id, detail: { action, target, by: 'console', ...detail } });
  };
  const actor = (caller: Caller): Actor => ({ id: caller.user.id, via: 'console', ip: caller.ip });

  app.get('/api/admin/me', async (req, reply) => {
    const caller = await authorize(req, reply, 'view');
    if (!caller) return reply;
    return { user: caller.user, node: deps.directory.nodeId, cluster: deps.bus.kind !== 'memory', registration: deps.config.accounts.registration };
  });

  // ---- security events ----

  app.get('/api/admin/events', { schema: S.events }, async (req, reply) => {
    const caller = await authorize(req, reply, 'view');
    if (!caller) return reply;
    const q = req.query as Query;
    const limit = typeof q.limit === 'number' ? q.limit : 50;
    const cursor = typeof q.before === 'string' ? q.before.split('.').map(Number) : undefined;
    const f = filters(q);
    const [events, counts] = await Promise.all([
      store.searchSecurityEvents({ ...f, limit: limit + 1, ...(cursor ? { before: { ts: cursor[0]!, id: cursor[1]! } } : {}) }),
      store.countSecurityEvents(f),
    ]);
    const more = events.length > limit;
    if (more) events.length = limit;
    const byType: Record<string, number> = {};
    const bySeverity: Record<string, number> = {};
    let total = 0;
    for (const c of counts) {
      const n = Number(c.count);
      byType[c.type] = (byType[c.type] ?? 0) + n;
      bySeverity[c.severity] = (bySeverity[c.severity] ?? 0) + n;
      total += n;
    }
    const last = events[events.length - 1];
    return { events: events.map(wireEvent), ...(more && last ? { next: `${last.ts}.${last.id}` } : {}), counts: { total, byType, bySeverity }, since: f.since, now: Date.now() };
  });

  app.get('/api/admin/events/changes', { schema: S.changes }, async (req, reply) => {
    const caller = await authorize(req, reply, 'view');
    if (!caller) return reply;
    const q = req.query as Query;
    const events = await store.changedSecurityEvents({ ...filters(q), limit: 200 }, q.after as number);
    return { events: events.map(wireEvent), now: Date.now() };
  });

  // ---- live connections, numbers, bans ----

  app.get('/api/admin/connections', { schema: S.connections }, async (req, reply) => {
    const caller = await authorize(req, reply, 'view');
    if (!caller) return reply;
    const q = req.query as Query;
    return deps.directory.list({ user: q.user as string | undefined, ip: q.ip as string | undefined });
  });

  app.get('/api/admin/stats', async (req, reply) => {
    const caller = await authorize(req, reply, 'view');
    if (!caller) return reply;
    return liveNumbers(deps.metrics, deps.directory.nodeId, deps.openConnections());
  });

  app.get('/api/admin/bans', async (req, reply) => {
    const caller = await authorize(req, reply, 'view');
    if (!caller) return reply;
    return { bans: deps.bans.list().sort((a, b) => b.createdAt - a.createdAt) };
  });

  // ---- actions ----

  app.post('/api/admin/kick', { schema: S.kick }, async (req, reply) => {
    const caller = await authorize(req, reply, 'kick');
    if (!caller) return reply;
    const b = req.body as { connection?: string; user?: string };
    if ((b.connection === undefined) === (b.user === undefined)) return fail(reply, 400, 'BAD_REQUEST', 'Name either a connection or a user.');
    const close = { code: CLOSE.FORBIDDEN, reason: 'disconnected by an administrator' };
    // On every node: the one holding the connection (or the user's connections) closes it.
    deps.bus.publish({ target: b.connection !== undefined ? { kind: 'connection', connectionId: b.connection } : { kind: 'user', user: b.user! }, frame: '', effect: { close } });
    record(caller, 'kick', b.connection ?? b.user!, { scope: b.connection !== undefined ? 'connection' : 'user' });
    return { ok: true };
  });

  app.post('/api/admin/bans', { schema: S.ban }, async (req, reply) => {
    const caller = await authorize(req, reply, 'ban');
    if (!caller) return reply;
    const b = req.body as { kind: 'user' | 'ip'; value: string; durationMs?: number; reason?: string };
    if (b.kind === 'ip' && !isIP(b.value)) return fail(reply, 400, 'BAD_REQUEST', 'That is not an IP address.');
    // An admin who bans their own account or address locks themselves out of this console.
    if ((b.kind === 'user' && b.value === caller.user.id) || (b.kind === 'ip' && b.value === caller.ip))
      return fail(reply, 400, 'BAD_REQUEST', 'You cannot ban yourself or your own address.');
    const ban = await deps.bans.ban(b.kind, b.value, b.reason ?? `admin ${caller.user.name}`, b.durationMs !== undefined ? { durationMs: b.durationMs } : {});
    record(caller, 'ban', `${b.kind}:${b.value}`, { until: ban.until });
    return { ban };
  });

  app.post('/api/admin/unban', { schema: S.unban }, async (req, reply) => {
    const caller = await authorize(req, reply, 'ban');
    if (!caller) return reply;
    const b = req.body as { kind: 'user' | 'ip'; value: string };
    if (!deps.bans.active(b.kind, b.value)) return fail(reply, 404, 'NOT_FOUND', 'No such active ban.');
    await deps.bans.unban(b.kind, b.value);
    record(caller, 'unban', `${b.kind}:${b.value}`);
    return { ok: true };
  });

  app.post('/api/admin/mute', { schema: S.mute }, async (req, reply) => {
    const caller = await authorize(req, reply, 'mute');
    if (!caller) return reply;
    const b = req.body as { user: string; durationMs: number };
    const until = Date.now() + b.durationMs;
    // Every node's spam guard: `chat.send` answers SPAM with retryAfterMs until then (0 lifts it).
    deps.bus.publish({ target: { kind: 'connection', connectionId: '' }, frame: '', effect: { mute: { user: b.user, until } } });
    record(caller, b.durationMs > 0 ? 'mute' : 'unmute', b.user, { until });
    return { until };
  });

  app.post('/api/admin/revoke', { schema: S.user }, async (req, reply) => {
    const caller = await authorize(req, reply, 'revoke');
    if (!caller) return reply;
    const result = await deps.users.revokeSessions((req.body as { user: string }).user, actor(caller));
    return result.ok ? { ok: true } : fail(reply, 404, result.code, 'No such account.');
  });

  for (const [path, disabled] of [
    ['/api/admin/users/disable', true],
    ['/api/admin/users/enable', false],
  ] as const) {
    app.post(path, { schema: S.user }, async (req, reply) => {
      const caller = await authorize(req, reply, 'disable');
      if (!caller) return reply;
      const target = (req.body as { user: string }).user;
      if (disabled && target === caller.user.id) return fail(reply, 400, 'BAD_REQUEST', 'You cannot disable your own account.');
      const result = await deps.users.setDisabled(target, disabled, actor(caller));
      return result.ok ? { user: publicUser(result.value) } : fail(reply, 404, result.code, 'No such account.');
    });
  }

  app.get('/api/admin/users', { schema: S.users }, async (req, reply) => {
    const caller = await authorize(req, reply, 'view');
    if (!caller) return reply;
    const q = req.query as Query;
    const users = await store.listUsers({ search: q.search as string | undefined, after: q.after as string | undefined, limit: 51 });
    const more = users.length > 50;
    if (more) users.length = 50;
    return { users: users.map(publicUser), ...(more ? { next: users[users.length - 1]!.id } : {}) };
  });

  app.get('/api/admin/invites', async (req, reply) => {
    const caller = await authorize(req, reply, 'invite');
    if (!caller) return reply;
    const now = Date.now();
    return {
      registration: deps.config.accounts.registration,
      invites: (await store.listInvites(100)).map((i) => ({
        id: i.id,
        createdBy: i.createdBy,
        createdAt: i.createdAt,
        expiresAt: i.expiresAt,
        usedBy: i.usedBy,
        usedAt: i.usedAt,
        state: inviteState(i, now),
      })),
    };
  });

  app.post('/api/admin/invites', { schema: S.invite }, async (req, reply) => {
    const caller = await authorize(req, reply, 'invite');
    if (!caller) return reply;
    const ttl = (req.body as { ttlMs?: number } | undefined)?.ttlMs ?? deps.config.accounts.inviteTtlMs;
    const invite = await createInvite(store, caller.user.id, ttl);
    record(caller, 'invite', invite.id, { expiresAt: invite.expiresAt });
    return reply.code(201).send(invite);
  });

  app.post('/api/admin/announcements', { schema: S.announce }, async (req, reply) => {
    const caller = await authorize(req, reply, 'announce');
    if (!caller) return reply;
    // The text rules of admin.broadcast (docs/protocol.md "Message text").
    const trimmed = (req.body as { text: string }).text.trim();
    const chars = codePoints(trimmed);
    if (chars === 0 || chars > deps.config.limits.maxMessageChars)
      return fail(reply, 400, 'INVALID_PAYLOAD', `The announcement must be 1 to ${deps.config.limits.maxMessageChars} characters.`);
    const ts = Date.now();
    const text = sanitizeText(trimmed);
    deps.bus.publish({ target: { kind: 'all' }, type: 'announcement', frame: JSON.stringify({ type: 'announcement', text, from: caller.user.name, ts }) });
    record(caller, 'announce', 'all', { chars });
    return { ts };
  });
}

function publicUser(u: { id: string; name: string; roles: string[]; disabled?: boolean | undefined; createdAt: number }): Record<string, unknown> {
  return { id: u.id, name: u.name, roles: u.roles, disabled: u.disabled ?? false, createdAt: u.createdAt };
}
