/**
 * Resolves the key material for verifying (and, with a shared secret, signing) tokens.
 * With no key configured, a random 256-bit secret is created once in the data directory with
 * mode 0600: there is no built-in default secret.
 */
import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRemoteJWKSet, importSPKI, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import type { Config } from '../config/schema.js';
import { ensurePrivateDir, tighten } from '../store/private-files.js';

/** The key material of one issuer. */
/** A shared secret is verified with node:crypto's HMAC (auth/hmac-jws.ts), the others by jose. */
export type IssuerKey = { kind: 'secret'; key: KeyObject } | { kind: 'public'; key: CryptoKey } | { kind: 'jwks'; key: JWTVerifyGetKey };

/** One issuer a token can name, with its own keys (docs/protocol.md "Several issuers"). */
export interface Issuer {
  /** The `iss` routed here and required; undefined: the single-issuer keys without `auth.issuer`. */
  issuer: string | undefined;
  audience: string | undefined;
  algorithms: readonly string[];
  key: IssuerKey;
  /** Prepended to this issuer's `sub` to make the user id. */
  subjectPrefix: string | undefined;
  /** This key signs the built-in accounts' tokens: it alone may name `acct:` subjects. */
  ownsAccounts: boolean;
}

/** One issuer's key (the single-issuer configuration), or every configured issuer. */
export type VerifyKey = IssuerKey | { kind: 'issuers'; issuers: Issuer[] };

export const SECRET_FILE = 'jwt-secret';

/** Raised when a command other than `serve` finds no secret where it looked (it never creates one). */
export class MissingSecretError extends Error {
  override name = 'MissingSecretError';
}

/**
 * Reads the generated HMAC secret in the data directory; creates it when `create` (only
 * `bulwark serve` and an embedded node do: an operator command run from the wrong directory must
 * not mint tokens with a secret no server knows).
 */
export function loadOrCreateSecret(dataDir: string, create = true): Uint8Array {
  const path = join(dataDir, SECRET_FILE);
  try {
    const text = readFileSync(path, 'utf8').trim();
    tighten(path, 0o600);
    return Buffer.from(text, 'base64url');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!create) throw new MissingSecretError(`no signing secret in ${dataDir} (${SECRET_FILE} is missing)`);
  ensurePrivateDir(dataDir);
  const secret = randomBytes(32);
  writeFileSync(path, `${secret.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  return secret;
}

/** The HMAC signing secret: configured, or generated in the data directory (created there only when `create`). */
export function hmacSecret(config: Config, create = true): Uint8Array {
  return config.auth.secret ? new TextEncoder().encode(config.auth.secret) : loadOrCreateSecret(config.dataDir, create);
}

/** A key from one of the three ways to give it; each issuer's key object (and JWKS cache) is its own. */
async function issuerKey(
  source: { secret?: Uint8Array | undefined; publicKey?: string | undefined; jwksUrl?: string | undefined },
  algorithms: readonly string[],
): Promise<IssuerKey> {
  if (source.jwksUrl) {
    // jose caches the set, refetches on an unknown kid (rotation) and rate-limits refetches.
    return { kind: 'jwks', key: createRemoteJWKSet(new URL(source.jwksUrl), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5000 }) };
  }
  if (source.publicKey) {
    const pem = source.publicKey.includes('-----BEGIN') ? source.publicKey : readFileSync(source.publicKey, 'utf8');
    return { kind: 'public', key: await importSPKI(pem, algorithms[0]!) };
  }
  return { kind: 'secret', key: createSecretKey(source.secret!) };
}

/** Whether the single-issuer keys describe an issuer (with only `auth.issuers` they may not). */
function hasPrimary(auth: Config['auth']): boolean {
  return auth.algorithms.some((a) => a.startsWith('HS')) || Boolean(auth.publicKey || auth.jwksUrl);
}

export async function resolveVerifyKey(config: Config): Promise<VerifyKey> {
  const { auth } = config;
  const primary = (): Promise<IssuerKey> =>
    issuerKey({ jwksUrl: auth.jwksUrl, publicKey: auth.publicKey, secret: auth.jwksUrl || auth.publicKey ? undefined : hmacSecret(config) }, auth.algorithms);
  if (auth.issuers.length === 0) return primary();
  const issuers: Issuer[] = [];
  if (hasPrimary(auth)) {
    const key = await primary();
    issuers.push({ issuer: auth.issuer, audience: auth.audience, algorithms: auth.algorithms, key, subjectPrefix: undefined, ownsAccounts: key.kind === 'secret' });
  }
  for (const entry of auth.issuers) {
    const algorithms = entry.algorithms ?? (entry.secret !== undefined ? ['HS256'] : ['RS256']);
    const secret = entry.secret !== undefined ? new TextEncoder().encode(entry.secret) : undefined;
    const key = await issuerKey({ secret, publicKey: entry.publicKey, jwksUrl: entry.jwksUrl }, algorithms);
    issuers.push({ issuer: entry.issuer, audience: entry.audience, algorithms, key, subjectPrefix: entry.subjectPrefix, ownsAccounts: false });
  }
  return { kind: 'issuers', issuers };
}
