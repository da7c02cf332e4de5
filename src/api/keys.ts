/**
 * Server API keys (docs/protocol.md "Server API"). A key is `bwk_` and 256 random bits
 * (base64url), shown once to the operator who created it; the store keeps only its SHA-256, so a
 * copy of the database lets nobody call the API. A key carries scopes, may expire, and is revoked
 * by id.
 *
 * The server looks a presented key up by its hash and compares the stored hash with the presented
 * one in constant time. Lookups are cached for `cacheMs` (one second by default), so a revocation
 * or an expiry written by `bulwark apikeys revoke` on any node takes effect within that time.
 * Successful calls are counted in memory per key and written (`uses`, `lastUsedAt`) every few
 * seconds: one row per key, however many calls.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { boundedCache } from '../security/bounded-cache.js';
import type { ApiKeyRecord, Store } from '../store/store.js';

export const API_SCOPES = ['publish', 'history', 'broadcast', 'presence', 'admin'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export const API_KEY_PREFIX = 'bwk_';
/** `bwk_` and 43 base64url characters (32 random bytes). */
const KEY_SHAPE = /^bwk_[A-Za-z0-9_-]{43}$/;

export function apiKeyHash(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Whether a string has the shape of a key: a cheap filter before hashing and a store read. */
export function looksLikeApiKey(key: unknown): key is string {
  return typeof key === 'string' && KEY_SHAPE.test(key);
}

export function isApiScope(scope: string): scope is ApiScope {
  return (API_SCOPES as readonly string[]).includes(scope);
}

/** `publish,history` → the scopes; an unknown or missing scope throws with a message naming it. */
export function parseScopes(text: string): ApiScope[] {
  const scopes = [...new Set(text.split(',').map((s) => s.trim()))].filter((s) => s !== '');
  if (scopes.length === 0) throw new Error(`no scope given (expected some of ${API_SCOPES.join(', ')})`);
  for (const s of scopes) if (!isApiScope(s)) throw new Error(`unknown scope "${s}" (expected some of ${API_SCOPES.join(', ')})`);
  return scopes as ApiScope[];
}

export interface CreatedApiKey {
  /** The key to hand to the backend: shown once, never stored. */
  key: string;
  record: ApiKeyRecord;
}

export interface NewApiKey {
  name: string;
  scopes: readonly ApiScope[];
  /** Lifetime from now; undefined for a key that does not expire. */
  ttlMs?: number | undefined;
}

export async function createApiKey(store: Store, spec: NewApiKey, now = Date.now()): Promise<CreatedApiKey> {
  const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
  const record: ApiKeyRecord = {
    id: randomBytes(6).toString('hex'),
    name: spec.name,
    hash: apiKeyHash(key),
    scopes: [...spec.scopes],
    createdAt: now,
    expiresAt: spec.ttlMs === undefined ? null : now + spec.ttlMs,
    lastUsedAt: null,
    revokedAt: null,
    uses: 0,
  };
  await store.createApiKey({ id: record.id, name: record.name, hash: record.hash, scopes: record.scopes, createdAt: record.createdAt, expiresAt: record.expiresAt });
  return { key, record };
}

export type ApiKeyState = 'active' | 'expired' | 'revoked';

export function apiKeyState(key: ApiKeyRecord, now = Date.now()): ApiKeyState {
  if (key.revokedAt !== null) return 'revoked';
  return key.expiresAt !== null && key.expiresAt <= now ? 'expired' : 'active';
}

/** Why a presented key was refused (the `reason` of its `api_key_refused` event). */
export type KeyRefusal = 'missing' | 'malformed' | 'unknown' | 'expired' | 'revoked';

export type KeyVerdict = { ok: true; key: ApiKeyRecord } | { ok: false; reason: KeyRefusal };

export interface ApiKeyVerifierOptions {
  /** How long a lookup (found or not) is reused. @default 1000 */
  cacheMs?: number;
  /** Lookups cached at most. @default 1000 */
  maxCached?: number;
  /** How often use counts are written. @default 5000 */
  flushIntervalMs?: number;
  onError?: (err: unknown) => void;
}

interface Use {
  calls: number;
  at: number;
}

const NOT_FOUND = Symbol('no such key');

export class ApiKeyVerifier {
  private readonly cache;
  private readonly uses = new Map<string, Use>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly options: ApiKeyVerifierOptions = {},
  ) {
    this.cache = boundedCache<string, ApiKeyRecord | typeof NOT_FOUND>(options.maxCached ?? 1000, options.cacheMs ?? 1000);
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 5000);
    this.timer.unref();
  }

  /** The key behind an `Authorization` header value, or why there is none. */
  async verify(authorization: string | undefined, now = Date.now()): Promise<KeyVerdict> {
    if (authorization === undefined || authorization === '') return { ok: false, reason: 'missing' };
    const match = /^Bearer +(\S+)$/i.exec(authorization);
    if (!match || !looksLikeApiKey(match[1])) return { ok: false, reason: 'malformed' };
    const hash = apiKeyHash(match[1]);
    let found = this.cache.get(hash);
    if (found === undefined) {
      found = (await this.store.apiKeyByHash(hash)) ?? NOT_FOUND;
      this.cache.set(hash, found);
    }
    // The lookup found the row by its hash; the comparison itself takes the same time whatever matches.
    if (found === NOT_FOUND || !timingSafeEqual(Buffer.from(found.hash, 'hex'), Buffer.from(hash, 'hex'))) return { ok: false, reason: 'unknown' };
    const state = apiKeyState(found, now);
    if (state !== 'active') return { ok: false, reason: state };
    return { ok: true, key: found };
  }

  /** Counts one successful call (written with the next flush). Bounded by the number of keys. */
  used(keyId: string, at = Date.now()): void {
    const use = this.uses.get(keyId);
    if (use) {
      use.calls++;
      use.at = at;
    } else {
      this.uses.set(keyId, { calls: 1, at });
    }
  }

  /** Writes the pending use counts. */
  async flush(): Promise<void> {
    if (this.uses.size === 0) return;
    const pending = [...this.uses];
    this.uses.clear();
    try {
      await Promise.all(pending.map(([id, use]) => this.store.recordApiKeyUse(id, use.at, use.calls)));
    } catch (err) {
      this.options.onError?.(err);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
