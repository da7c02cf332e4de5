/**
 * Cross-site WebSocket hijacking defence (contract section 2, step 1). Browsers always send
 * `Origin` on a WebSocket upgrade and a page cannot forge it, so an exact match against the
 * allowlist stops a foreign page from opening a socket with the user's cookies. Comparison is on
 * the serialized origin (scheme://host[:port], lower case, default port dropped): a prefix or
 * suffix that merely looks alike never matches.
 */
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

/** Origins seen recently and their canonical form: a handshake from a known origin costs no URL parse. */
const seen = new Map<string, string | undefined>();
/** Bound on `seen`: a flood of distinct origins empties it rather than growing it. */
const MAX_SEEN = 256;

function canonicalOf(origin: string): string | undefined {
  const known = seen.get(origin);
  if (known !== undefined || seen.has(origin)) return known;
  const canonical = normalizeOrigin(origin);
  if (seen.size >= MAX_SEEN) seen.clear();
  seen.set(origin, canonical);
  return canonical;
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
