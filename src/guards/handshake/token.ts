/**
 * Early token (contract section 2, step 5): `Authorization: Bearer <jwt>` or an offered
 * subprotocol `bulwark.bearer.<jwt>`. Present and invalid, expired or revoked (its `jti`, its session,
 * its user's earlier tokens, or a disabled account) -> 401. A token in
 * the query string is refused (400) unless `auth.allowQueryToken`; the token itself never reaches
 * a log or event.
 */
import type { Identity } from '../../auth/jwt.js';
import type { Denial, SessionAuth } from '../../auth/session-auth.js';
import { BEARER_PREFIX } from './subprotocol.js';
import type { HandshakeGuard, HandshakeRequest } from './types.js';

export type EarlyToken = { token: string; via: 'header' | 'subprotocol' | 'query' } | undefined;

export function findEarlyToken(req: HandshakeRequest, allowQuery: boolean): EarlyToken | 'query_refused' {
  const header = req.headers.authorization;
  if (typeof header === 'string' && /^Bearer\s+/i.test(header)) return { token: header.replace(/^Bearer\s+/i, '').trim(), via: 'header' };
  for (const p of req.protocols) if (p.startsWith(BEARER_PREFIX)) return { token: p.slice(BEARER_PREFIX.length), via: 'subprotocol' };
  // Without a query string there is nothing to look for (and no URL to parse).
  if (!req.target.includes('?')) return undefined;
  const query = req.url.searchParams.get('token') ?? req.url.searchParams.get('access_token');
  if (query !== null) return allowQuery ? { token: query, via: 'query' } : 'query_refused';
  return undefined;
}

export interface TokenGuardOptions {
  allowQueryToken: boolean;
  /**
   * A revoked token (its `jti`, its session `sid`, its user's tokens issued before a revocation)
   * or a disabled account is refused here, 401, instead of opening a socket only to close it
   * 4401/4403 (docs/protocol.md "Tokens", "Revocation"). @default never revoked
   */
  revoked?: (identity: Identity) => Denial | undefined;
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
      const denied = options.revoked?.(outcome.identity);
      if (denied) return { reason: 'token', event: denied.event, user: outcome.identity.id, message: denied.reason, detail: { via: found.via, ...denied.detail } };
      req.identity = outcome.identity;
      return undefined;
    },
  };
}
