/**
 * Built-in accounts for the web app: registration, login with brute-force protection, short
 * access JWTs, rotating refresh tokens stored hashed, reuse detection that revokes the whole
 * family, and logout. Login answers never reveal whether a username exists: an unknown name costs
 * the same scrypt work and gets the same answer as a wrong password.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config/schema.js';
import type { SecurityAudit } from '../security/audit.js';
import type { Store, UserRecord } from '../store/store.js';
import { memoryLimiterFactory, type LimiterBackend, type RateLimiter, type RateLimiterFactory } from '../guards/rate-limits.js';
import { mintToken } from './jwt.js';
import { DUMMY_HASH_PROMISE, USERNAME, hashPassword, passwordProblem, verifyPassword } from './passwords.js';
import type { Revocations } from './revocation.js';

export interface Session {
  user: { id: string; name: string; roles: string[] };
  accessToken: string;
  expiresAt: number;
  refreshToken: string;
  refreshExpiresAt: number;
}

export type AccountResult =
  | { ok: true; session: Session }
  | { ok: false; status: 400 | 401 | 409 | 429; error: string; message: string; retryAfterMs?: number; details?: Array<{ path: string; message: string }> };

/** Consecutive failed logins for one username before it is locked, and for how long. */
export const USERNAME_MAX_FAILS = 5;
export const USERNAME_LOCK_MS = 15 * 60_000;

function sha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const INVALID_LOGIN = 'Invalid username or password.';

export class Accounts {
  private readonly failsByUsername: LimiterBackend;

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly secret: Uint8Array,
    private readonly audit: SecurityAudit,
    private readonly revocations: Revocations,
    /** Per-IP login and registration attempts (`rateLimits.login`). */
    private readonly ipLimiter: RateLimiter,
    /** Where failures per username are counted (a cluster counts them in Redis). @default this process's memory */
    factory: RateLimiterFactory = memoryLimiterFactory,
  ) {
    // rate-limiter-flexible's consecutive-failures pattern: count failures, block, reset on success.
    this.failsByUsername = factory('login_fail_user', { points: USERNAME_MAX_FAILS, durationMs: USERNAME_LOCK_MS }, { blockDurationMs: USERNAME_LOCK_MS });
  }

  private async issue(user: Pick<UserRecord, 'id' | 'name' | 'roles'>, family: string): Promise<Session> {
    const now = Date.now();
    const ttl = this.config.auth.accessTokenTtlMs;
    const accessToken = await mintToken(this.secret, this.config.auth, { sub: user.id, name: user.name, roles: user.roles, ttlMs: ttl, jti: randomUUID() });
    const refreshToken = randomBytes(32).toString('base64url');
    const refreshExpiresAt = now + this.config.auth.refreshTokenTtlMs;
    await this.store.insertRefreshToken({ hash: sha256(refreshToken), family, userId: user.id, expiresAt: refreshExpiresAt });
    return {
      user: { id: user.id, name: user.name, roles: user.roles },
      accessToken,
      expiresAt: now + Math.round(ttl / 1000) * 1000,
      refreshToken,
      refreshExpiresAt,
    };
  }

  private async ipAllowed(ip: string): Promise<AccountResult | undefined> {
    const verdict = await this.ipLimiter.consume(ip);
    if (verdict.ok) return undefined;
    this.audit.emit('login_locked', { ip, detail: { scope: 'ip' } });
    return { ok: false, status: 429, error: 'RATE_LIMITED', message: 'Too many attempts; try again later.', retryAfterMs: verdict.retryAfterMs };
  }

  async register(input: { username: unknown; password: unknown }, ip: string): Promise<AccountResult> {
    const limited = await this.ipAllowed(ip);
    if (limited) return limited;
    const details: Array<{ path: string; message: string }> = [];
    const username = typeof input.username === 'string' ? input.username.trim().toLowerCase() : '';
    const password = typeof input.password === 'string' ? input.password : '';
    if (!USERNAME.test(username)) details.push({ path: 'username', message: 'must be 3-32 characters: a-z 0-9 _ . - (starting with a letter or digit)' });
    const problem = passwordProblem(password, username || ' ');
    if (problem) details.push({ path: 'password', message: problem });
    if (details.length) {
      this.audit.emit('register_refused', { ip, detail: { reason: 'policy', fields: details.map((d) => d.path) } });
      return { ok: false, status: 400, error: 'INVALID_PAYLOAD', message: 'The username or password is not acceptable.', details };
    }
    const user: UserRecord = { id: username, name: username, passwordHash: await hashPassword(password), roles: [], createdAt: Date.now() };
    if (!(await this.store.createUser(user))) {
      this.audit.emit('register_refused', { ip, detail: { reason: 'taken' } });
      return { ok: false, status: 409, error: 'CONFLICT', message: 'That username is not available.' };
    }
    return { ok: true, session: await this.issue(user, randomUUID()) };
  }

  async login(input: { username: unknown; password: unknown }, ip: string): Promise<AccountResult> {
    const username = typeof input.username === 'string' ? input.username.trim().toLowerCase().slice(0, 64) : '';
    const password = typeof input.password === 'string' ? input.password.slice(0, 1024) : '';
    const limited = await this.ipAllowed(ip);
    if (limited) return limited;
    const lock = await this.failsByUsername.get(username);
    if (lock && lock.remainingPoints <= 0) {
      this.audit.emit('login_locked', { ip, detail: { scope: 'username', username } });
      return { ok: false, status: 429, error: 'RATE_LIMITED', message: 'Too many attempts; try again later.', retryAfterMs: Math.max(1, lock.msBeforeNext) };
    }
    const user = USERNAME.test(username) ? await this.store.getUser(username) : undefined;
    const valid = await verifyPassword(password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
    if (!user || !valid) {
      try {
        await this.failsByUsername.consume(username);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
      }
      this.audit.emit('login_failed', { ip, detail: { username } });
      return { ok: false, status: 401, error: 'UNAUTHENTICATED', message: INVALID_LOGIN };
    }
    await this.failsByUsername.delete(username);
    return { ok: true, session: await this.issue(user, randomUUID()) };
  }

  async refresh(refreshToken: unknown, ip: string): Promise<AccountResult> {
    const denied: AccountResult = { ok: false, status: 401, error: 'UNAUTHENTICATED', message: 'Sign in again.' };
    if (typeof refreshToken !== 'string' || refreshToken.length < 20 || refreshToken.length > 200) return denied;
    const hash = sha256(refreshToken);
    const record = await this.store.getRefreshToken(hash);
    if (!record || record.revoked || record.expiresAt <= Date.now()) return denied;
    if (!(await this.store.useRefreshToken(hash, Date.now()))) {
      // A used token presented again: someone holds a copy. Revoke the whole family.
      await this.store.revokeRefreshFamily(record.family);
      this.audit.emit('refresh_reuse', { ip, user: record.userId, detail: { family: record.family } });
      return denied;
    }
    const user = await this.store.getUser(record.userId);
    if (!user) return denied;
    return { ok: true, session: await this.issue(user, record.family) };
  }

  /** Revokes the refresh family and, when given, the access token's jti (closing its sockets). */
  async logout(refreshToken: unknown, access: { jti?: string | undefined; expiresAt: number; user: string } | undefined): Promise<void> {
    if (typeof refreshToken === 'string' && refreshToken.length <= 200) {
      const record = await this.store.getRefreshToken(sha256(refreshToken));
      if (record) await this.store.revokeRefreshFamily(record.family);
    }
    if (access?.jti) await this.revocations.revoke(access.jti, access.expiresAt, access.user);
  }
}
