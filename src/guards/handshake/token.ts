/**
 * Early token (contract section 2, step 5): `Authorization: Bearer <jwt>` or an offered
 * subprotocol `bulwark.bearer.<jwt>`. Present and invalid, expired or revoked -> 401. A token in
 * the query string is refused (400) unless `auth.allowQueryToken`; the token itself never reaches
 * a log or event.
 */
import type { SessionAuth } from '../../auth/session-auth.js';
import { BEARER_PREFIX } from './subprotocol.js';
import type { HandshakeGuard, HandshakeRequest } from './types.js';

export type EarlyToken = { token: string; via: 'header' | 'subprotocol' | 'query' } | undefined;

export function findEarlyToken(req: HandshakeRequest, allowQuery: boolean): EarlyToken | 'query_refused' {
  const header = req.headers.authorization;
  if (typeof header === 'string' && /^Bearer\s+/i.test(header)) return { token: header.replace(/^Bearer\s+/i, '').trim(), via: 'header' };
  for (const p of req.protocols) if (p.startsWith(BEARER_PREFIX)) return { token: p.slice(BEARER_PREFIX.length), via: 'subprotocol' };
  const query = req.url.searchParams.get('token') ?? req.url.searchParams.get('access_token');
  if (query !== null) return allowQuery ? { token: query, via: 'query' } : 'query_refused';
  return undefined;
}

export interface TokenGuardOptions {
  allowQueryToken: boolean;
  /**
   * A revoked `jti` is refused here, 401, instead of opening a socket only to close it 4401
   * (docs/protocol.md "Tokens"). @default never revoked
   */
  revoked?: (jti: string) => boolean;
}

export function tokenGuard(auth: SessionAuth, options: TokenGuardOptions): HandshakeGuard {
  return {
    name: 'token',
    check: async function earlyToken(req) {
      const found = findEarlyToken(req, options.allowQueryToken);
      if (found === undefined) return undefined;
      if (found === 'query_refused') return { reason: 'query_token', event: 'query_token_refused' };
      const outcome = await auth.verifyToken(found.token);
      if (!outcome.ok) {
        return { reason: 'token', event: outcome.denial.event, detail: { via: found.via, ...outcome.denial.detail } };
      }
      const jti = outcome.identity.jti;
      if (jti !== undefined && options.revoked?.(jti)) {
        return { reason: 'token', event: 'token_revoked', user: outcome.identity.id, detail: { via: found.via } };
      }
      req.identity = outcome.identity;
      return undefined;
    },
  };
}
