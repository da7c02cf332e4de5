/**
 * Token verification (contract section 3, "Tokens"). Only algorithms from `auth.algorithms`
 * are accepted; `none` is impossible (jose never verifies unsecured tokens through jwtVerify);
 * a key of the wrong type for the algorithm is refused by jose. `sub` and `exp` are required.
 */
import { SignJWT, jwtVerify, errors, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { VerifyKey } from './keys.js';
import { ACCOUNT_PREFIX, leadingLabel } from './identity.js';
import { normalizeDisplayName } from './display-name.js';

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

export type TokenFailure = 'malformed' | 'expired' | 'not_yet_valid' | 'bad_signature' | 'bad_algorithm' | 'bad_claims' | 'reserved_subject' | 'lifetime' | 'no_key';

export type TokenVerdict = { ok: true; identity: Identity } | { ok: false; reason: TokenFailure };

/** The display name of a subject with nothing visible in its `name` or `sub`. */
const UNNAMED = '(unnamed)';

/**
 * Whether a subject may be used by this key: `acct:` ids belong to the built-in accounts, whose
 * tokens only the server's own HMAC key signs (src/auth/identity.ts).
 */
function subjectAllowed(sub: string, ownsAccounts: boolean): boolean {
  return ownsAccounts || leadingLabel(sub) !== ACCOUNT_PREFIX;
}

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

export class TokenVerifier {
  constructor(
    private readonly key: VerifyKey,
    private readonly auth: Config['auth'],
  ) {}

  async verify(token: string): Promise<TokenVerdict> {
    try {
      const options = {
        algorithms: this.auth.algorithms,
        requiredClaims: ['sub', 'exp'],
        clockTolerance: Math.floor(this.auth.clockSkewMs / 1000),
        ...(this.auth.issuer ? { issuer: this.auth.issuer } : {}),
        ...(this.auth.audience ? { audience: this.auth.audience } : {}),
      };
      const { payload } = this.key.kind === 'public' ? await jwtVerify(token, this.key.key, options) : await jwtVerify(token, this.key.key, options);
      // jose checks iat only with maxTokenAge: a token "issued" in the future is refused here.
      const now = Date.now();
      if (typeof payload.iat === 'number' && payload.iat * 1000 > now + this.auth.clockSkewMs) return { ok: false, reason: 'not_yet_valid' };
      if (!lifetimeAllowed(payload, now, this.auth)) return { ok: false, reason: 'lifetime' };
      const identity = toIdentity(payload);
      if (!identity) return { ok: false, reason: 'bad_claims' };
      if (!subjectAllowed(identity.id, this.key.kind === 'secret')) return { ok: false, reason: 'reserved_subject' };
      return { ok: true, identity };
    } catch (error) {
      return { ok: false, reason: classify(error) };
    }
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
