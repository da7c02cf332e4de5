/**
 * HTTP routes of the built-in accounts (`/api/auth/*`). The refresh
 * token travels in an HttpOnly, SameSite=Strict cookie scoped to `/api/auth` (so page scripts
 * never see it) and, for non-browser clients, in the JSON body. State-changing requests from a
 * browser must come from an allowed origin.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Accounts, AccountResult } from '../auth/accounts.js';
import type { TokenVerifier } from '../auth/jwt.js';
import type { SecurityAudit } from '../security/audit.js';
import { normalizeOrigin } from '../guards/handshake/origin.js';

export const REFRESH_COOKIE = 'bulwark_refresh';

export interface AuthRoutesDeps {
  /** Absent when tokens come from an outside issuer (public-key algorithms): no account routes. */
  accounts: Accounts | undefined;
  verifier: TokenVerifier;
  audit: SecurityAudit;
  tls: boolean;
  allowedOrigins(): ReadonlySet<string>;
  clientIp(req: FastifyRequest): string;
}

function readCookie(req: FastifyRequest, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

function refreshCookie(tls: boolean, value: string, maxAgeS: number): string {
  return `${REFRESH_COOKIE}=${encodeURIComponent(value)}; Path=/api/auth; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${tls ? '; Secure' : ''}`;
}

export function registerAuthRoutes(app: FastifyInstance, deps: AuthRoutesDeps): void {
  const send = (reply: FastifyReply, result: AccountResult, okStatus: number): FastifyReply => {
    reply.header('Cache-Control', 'no-store');
    if (result.ok) {
      const s = result.session;
      reply.header('Set-Cookie', refreshCookie(deps.tls, s.refreshToken, Math.floor((s.refreshExpiresAt - Date.now()) / 1000)));
      return reply.code(okStatus).send({ user: s.user, accessToken: s.accessToken, expiresAt: s.expiresAt, refreshToken: s.refreshToken });
    }
    if (result.retryAfterMs !== undefined) reply.header('Retry-After', String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))));
    const payload: Record<string, unknown> = { error: result.error, message: result.message };
    if (result.retryAfterMs !== undefined) payload.retryAfterMs = result.retryAfterMs;
    if (result.details) payload.details = result.details;
    return reply.code(result.status).send(payload);
  };

  /** Cross-site form posts and fetches are refused: a browser always sends Origin on POST. */
  const sameSite = (req: FastifyRequest, reply: FastifyReply): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    const canonical = normalizeOrigin(origin);
    if (canonical !== undefined && deps.allowedOrigins().has(canonical)) return true;
    deps.audit.emit('origin_rejected', { ip: deps.clientIp(req), detail: { origin: origin.slice(0, 200), path: req.url.split('?')[0] } });
    void reply.code(403).send({ error: 'FORBIDDEN', message: 'Cross-origin request refused.' });
    return false;
  };

  const accounts = deps.accounts;
  if (accounts) registerAccountRoutes(app, deps, accounts, sameSite, send);
}

type SameSite = (req: FastifyRequest, reply: FastifyReply) => boolean;
type Send = (reply: FastifyReply, result: AccountResult, okStatus: number) => FastifyReply;

function registerAccountRoutes(app: FastifyInstance, deps: AuthRoutesDeps, accounts: Accounts, sameSite: SameSite, send: Send): void {
  app.post('/api/auth/register', async (req, reply) => {
    if (!sameSite(req, reply)) return reply;
    const b = body(req);
    return send(reply, await accounts.register({ username: b.username, password: b.password }, deps.clientIp(req)), 201);
  });

  app.post('/api/auth/login', async (req, reply) => {
    if (!sameSite(req, reply)) return reply;
    const b = body(req);
    return send(reply, await accounts.login({ username: b.username, password: b.password }, deps.clientIp(req)), 200);
  });

  app.post('/api/auth/refresh', async (req, reply) => {
    if (!sameSite(req, reply)) return reply;
    const token = body(req).refreshToken ?? readCookie(req, REFRESH_COOKIE);
    return send(reply, await accounts.refresh(token, deps.clientIp(req)), 200);
  });

  app.post('/api/auth/logout', async (req, reply) => {
    if (!sameSite(req, reply)) return reply;
    const token = body(req).refreshToken ?? readCookie(req, REFRESH_COOKIE);
    let access: { jti?: string | undefined; expiresAt: number; user: string } | undefined;
    const header = req.headers.authorization;
    if (typeof header === 'string' && /^Bearer\s+/i.test(header)) {
      const verdict = await deps.verifier.verify(header.replace(/^Bearer\s+/i, '').trim());
      if (verdict.ok) access = { jti: verdict.identity.jti, expiresAt: verdict.identity.expiresAt, user: verdict.identity.id };
    }
    await accounts.logout(token, access);
    reply.header('Set-Cookie', refreshCookie(deps.tls, '', 0));
    return reply.code(204).send();
  });
}
