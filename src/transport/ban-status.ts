/**
 * `GET /ws` without an upgrade: why a WebSocket handshake from here would be refused, as JSON a
 * browser can read. A browser never sees the status of a refused upgrade (its WebSocket just
 * closes 1006), so a client whose socket failed to open asks here instead of retrying blindly
 * (docs/protocol.md "Abuse scoring and bans"). A banned IP, or the user of a valid
 * `Authorization: Bearer` token who is banned, gets `403` with `Retry-After` and
 * `{error: "FORBIDDEN", message: "banned until <ISO time>", until, retryAfterMs}`; anyone else
 * `426 Upgrade Required`. Each request spends the handshake rate (`429` over it). Nothing is
 * recorded or changed: an anonymous client cannot make the server write here.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { retryAfterSeconds } from '../admission/refusal.js';
import type { SessionAuth } from '../auth/session-auth.js';
import type { RateLimiter } from '../guards/rate-limits.js';
import { bannedReason, type Bans } from '../security/bans.js';
import type { BanRecord } from '../store/store.js';

export interface BanStatusDeps {
  bans: Bans;
  auth: SessionAuth;
  handshakeRate: RateLimiter;
  clientIp(req: FastifyRequest): string;
}

const BEARER = /^Bearer\s+(\S{1,8192})$/i;

export function registerBanStatus(app: FastifyInstance, deps: BanStatusDeps): void {
  app.get('/ws', async function banStatus(req, reply) {
    reply.header('Cache-Control', 'no-store');
    const ip = deps.clientIp(req);
    const rate = await deps.handshakeRate.consume(ip);
    if (!rate.ok) {
      reply.header('Retry-After', String(retryAfterSeconds(rate.retryAfterMs)));
      return reply.code(429).send({ error: 'RATE_LIMITED', message: 'Too many requests; slow down.', retryAfterMs: rate.retryAfterMs });
    }
    let ban: BanRecord | undefined = deps.bans.active('ip', ip);
    const bearer = typeof req.headers.authorization === 'string' ? BEARER.exec(req.headers.authorization) : null;
    if (!ban && bearer) {
      const outcome = await deps.auth.verifyToken(bearer[1]!);
      if (outcome.ok) ban = deps.bans.active('user', outcome.identity.id);
    }
    if (ban) {
      const retryAfterMs = Math.max(0, ban.until - Date.now());
      reply.header('Retry-After', String(retryAfterSeconds(retryAfterMs)));
      return reply.code(403).send({ error: 'FORBIDDEN', message: bannedReason(ban.until), until: ban.until, retryAfterMs });
    }
    reply.header('Upgrade', 'websocket');
    return reply.code(426).send({ error: 'BAD_REQUEST', message: 'Open a WebSocket here (subprotocol bulwark.v1).' });
  });
}
