/**
 * Token verification (contract section 3, "Tokens"). Only algorithms from `auth.algorithms`
 * are accepted; `none` is impossible (jose never verifies unsecured tokens through jwtVerify);
 * a key of the wrong type for the algorithm is refused by jose. `sub` and `exp` are required.
 */
import { SignJWT, decodeJwt, jwtVerify, errors, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { Issuer, VerifyKey } from './keys.js';
import { ACCOUNT_PREFIX, API_KEY_SUBJECT_PREFIX, leadingLabel } from './identity.js';
import { normalizeDisplayName } from './display-name.js';
import { verifyHmacJwt } from './hmac-jws.js';

export interface Identity {
  id: string;
  name: string;
  roles: string[];
  /** Expiry, ms since epoch. */
  expiresAt: number;
  jti?: string | undefined;
  /** The session (refresh family) a built-in account's token was minted from: the `sid` claim. */
  sid?: string | undefined;
  /** `iat`, ms since epoch, when the token has one. */
  issuedAt?: number | undefined;
}

export type TokenFailure =
  'malformed' | 'expired' | 'not_yet_valid' | 'bad_signature' | 'bad_algorithm' | 'bad_claims' | 'reserved_subject' | 'lifetime' | 'unknown_issuer' | 'no_key';

/** The longest user id (the frames' `user` field, docs/protocol.md). */
const MAX_USER_ID = 128;

export type TokenVerdict = { ok: true; identity: Identity } | { ok: false; reason: TokenFailure };

/** The display name of a subject with nothing visible in its `name` or `sub`. */
const UNNAMED = '(unnamed)';

function toIdentity(payload: JWTPayload): Identity | null {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > 128 || /[\u0000-\u001f\u007f]/.test(sub)) return null;
  if (typeof payload.exp !== 'number') return null;
  const rawName = payload['name'];
  // Shown next to every message: normalised, without bidi controls or invisible characters.
  const name = (typeof rawName === 'string' ? normalizeDisplayName(rawName) : '') || normalizeDisplayName(sub) || UNNAMED;
  const rawRoles = payload['roles'];
  if (rawRoles !== undefined && (!Array.isArray(rawRoles) || !rawRoles.every((r) => typeof r === 'string'))) return null;
  const roles = ((rawRoles as string[] | undefined) ?? []).slice(0, 32);
  const jti = typeof payload.jti === 'string' ? payload.jti : undefined;
  const rawSid = payload['sid'];
  const sid = typeof rawSid === 'string' && rawSid.length > 0 && rawSid.length <= 128 ? rawSid : undefined;
  const issuedAt = typeof payload.iat === 'number' ? payload.iat * 1000 : undefined;
  return { id: sub, name, roles, expiresAt: payload.exp * 1000, jti, sid, issuedAt };
}

/**
 * `auth.maxTokenTtlMs` (contract section 3): a token may not live longer than this from its `iat`,
 * or from now when it has none. jose accepts any finite `exp` (`1e308` included), and a key that
 * leaked once would otherwise mint tokens that never end.
 */
function lifetimeAllowed(payload: JWTPayload, now: number, auth: Config['auth']): boolean {
  const exp = payload.exp! * 1000;
  if (typeof payload.iat === 'number') return exp - payload.iat * 1000 <= auth.maxTokenTtlMs;
  return exp - now <= auth.maxTokenTtlMs + auth.clockSkewMs;
}

function classify(error: unknown): TokenFailure {
  if (error instanceof errors.JWTExpired) return 'expired';
  if (error instanceof errors.JWTClaimValidationFailed) return error.claim === 'nbf' || error.claim === 'iat' ? 'not_yet_valid' : 'bad_claims';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'bad_signature';
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return 'bad_algorithm';
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid) return 'no_key';
  if (error instanceof TypeError) return 'bad_algorithm'; // key type does not fit the algorithm
  return 'malformed';
}

/**
 * Verifies tokens of one issuer or of several (`auth.issuers`). With several, a token is routed by
 * the `iss` it names and verified with that issuer's keys alone, never with another's: a key
 * served by issuer A cannot vouch for a token claiming issuer B, even when both key sets use the
 * same `kid` (the JWKS mix-up). A token naming no configured issuer goes to the single-issuer
 * keys when they have no `auth.issuer`, else is refused (`unknown_issuer`). After a failure no
 * other issuer is tried.
 */
export class TokenVerifier {
  private readonly issuers: readonly Issuer[];
  private readonly byIssuer = new Map<string, Issuer>();
  private readonly fallback: Issuer | undefined;
  /** Namespace labels no unprefixed issuer may use: `acct:`, `apikey:` and every configured prefix. */
  private readonly reserved: ReadonlySet<string>;

  constructor(
    key: VerifyKey,
    private readonly auth: Config['auth'],
  ) {
    this.issuers =
      key.kind === 'issuers'
        ? key.issuers
        : [{ issuer: auth.issuer, audience: auth.audience, algorithms: auth.algorithms, key, subjectPrefix: undefined, ownsAccounts: key.kind === 'secret' }];
    for (const entry of this.issuers) if (entry.issuer !== undefined) this.byIssuer.set(entry.issuer, entry);
    this.fallback = this.issuers.find((entry) => entry.issuer === undefined);
    this.reserved = new Set([ACCOUNT_PREFIX, API_KEY_SUBJECT_PREFIX, ...this.issuers.flatMap((entry) => (entry.subjectPrefix ? [entry.subjectPrefix] : []))]);
  }

  /** The one issuer whose keys may verify this token. */
  private route(token: string): Issuer | TokenFailure {
    if (this.issuers.length === 1) return this.issuers[0]!;
    let iss: unknown;
    try {
      iss = decodeJwt(token).iss;
    } catch {
      return 'malformed';
    }
    return (typeof iss === 'string' ? this.byIssuer.get(iss) : undefined) ?? this.fallback ?? 'unknown_issuer';
  }

  async verify(token: string): Promise<TokenVerdict> {
    const entry = this.route(token);
    if (typeof entry === 'string') return { ok: false, reason: entry };
    try {
      const options = {
        algorithms: [...entry.algorithms],
        requiredClaims: ['sub', 'exp'],
        clockTolerance: Math.floor(this.auth.clockSkewMs / 1000),
        ...(entry.issuer ? { issuer: entry.issuer } : {}),
        ...(entry.audience ? { audience: entry.audience } : {}),
      };
      const key = entry.key;
      const { payload } =
        key.kind === 'secret'
          ? verifyHmacJwt(token, key.key, options)
          : key.kind === 'public'
            ? await jwtVerify(token, key.key, options)
            : await jwtVerify(token, key.key, options);
      // jose checks iat only with maxTokenAge: a token "issued" in the future is refused here.
      const now = Date.now();
      if (typeof payload.iat === 'number' && payload.iat * 1000 > now + this.auth.clockSkewMs) return { ok: false, reason: 'not_yet_valid' };
      if (!lifetimeAllowed(payload, now, this.auth)) return { ok: false, reason: 'lifetime' };
      const identity = toIdentity(payload);
      if (!identity) return { ok: false, reason: 'bad_claims' };
      return this.namespaced(identity, entry);
    } catch (error) {
      return { ok: false, reason: classify(error) };
    }
  }

  /** The user id in its issuer's namespace (src/auth/identity.ts). */
  private namespaced(identity: Identity, entry: Issuer): TokenVerdict {
    if (entry.subjectPrefix !== undefined) {
      const id = `${entry.subjectPrefix}${identity.id}`;
      return id.length > MAX_USER_ID ? { ok: false, reason: 'bad_claims' } : { ok: true, identity: { ...identity, id } };
    }
    const label = leadingLabel(identity.id);
    if (label !== undefined && this.reserved.has(label) && !(label === ACCOUNT_PREFIX && entry.ownsAccounts)) return { ok: false, reason: 'reserved_subject' };
    return { ok: true, identity };
  }
}

export interface MintOptions {
  sub: string;
  name?: string | undefined;
  roles?: string[] | undefined;
  ttlMs: number;
  jti?: string;
  /** The session (refresh family) of a built-in account's token. */
  sid?: string;
}

/** Signs an HS* token with the shared secret (CLI `bulwark token`, built-in accounts). */
export async function mintToken(secret: Uint8Array, auth: Config['auth'], options: MintOptions): Promise<string> {
  const alg = auth.algorithms.find((a) => a.startsWith('HS'));
  if (!alg) throw new Error('minting needs an HMAC algorithm in auth.algorithms');
  const nowMs = Date.now();
  const now = Math.floor(nowMs / 1000);
  let jwt = new SignJWT({
    ...(options.name ? { name: options.name } : {}),
    ...(options.roles && options.roles.length ? { roles: options.roles } : {}),
    ...(options.sid ? { sid: options.sid } : {}),
  })
    .setProtectedHeader({ alg, typ: 'JWT' })
    .setSubject(options.sub)
    // A NumericDate may have a fraction (RFC 7519 section 2): to the millisecond, a token minted
    // right after "revoke this user's tokens issued until now" is told apart from one minted before.
    .setIssuedAt(nowMs / 1000)
    .setExpirationTime(now + Math.max(1, Math.round(options.ttlMs / 1000)))
    .setJti(options.jti ?? randomUUID());
  if (auth.issuer) jwt = jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt = jwt.setAudience(auth.audience);
  return jwt.sign(secret);
}

/** Parses "15m", "2h", "30s", "7d" or plain milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new Error(`not a duration: ${text}`);
  const n = Number(m[1]);
  const unit = m[2] ?? 'ms';
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[unit]!;
  return n * factor;
}
