/**
 * Cross-site WebSocket hijacking defence (contract section 2, step 1). Browsers always send
 * `Origin` on a WebSocket upgrade and a page cannot forge it, so an exact match against the
 * allowlist stops a foreign page from opening a socket with the user's cookies. Comparison is on
 * the serialized origin (scheme://host[:port], lower case, default port dropped): a prefix or
 * suffix that merely looks alike never matches.
 */
import { boundedCache } from '../../security/bounded-cache.js';
import type { HandshakeGuard } from './types.js';

/** Canonical `scheme://host[:port]`, or undefined when the value is not an http(s) origin. */
export function normalizeOrigin(value: string): string | undefined {
  if (value === 'null') return undefined;
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/**
 * Origins seen recently and their canonical form ('' when not an http(s) origin): a handshake
 * from a known origin costs no URL parse. Client-controlled keys, so the project's bounded LRU.
 */
const seen = boundedCache<string, string>(256, 10 * 60_000);

function canonicalOf(origin: string): string | undefined {
  let canonical = seen.get(origin);
  if (canonical === undefined) seen.set(origin, (canonical = normalizeOrigin(origin) ?? ''));
  return canonical === '' ? undefined : canonical;
}

export interface OriginPolicy {
  /** Allowed origins; the guard reads it on each check so the server can add its own after listen. */
  allowed(): ReadonlySet<string>;
  allowMissing: boolean;
}

export function originGuard(policy: OriginPolicy): HandshakeGuard {
  return {
    name: 'origin',
    check: function origin(req) {
      if (req.origin === undefined) {
        return policy.allowMissing ? undefined : { reason: 'origin', event: 'origin_rejected', detail: { origin: null } };
      }
      const canonical = canonicalOf(req.origin);
      if (canonical !== undefined && policy.allowed().has(canonical)) return undefined;
      return { reason: 'origin', event: 'origin_rejected', detail: { origin: req.origin.slice(0, 200) } };
    },
  };
}
