/**
 * Built-in accounts for the web app: registration (open, by invitation or closed), login with
 * brute-force protection, short access JWTs, rotating refresh tokens stored hashed, reuse
 * detection that revokes the whole family, and logout. Login answers never reveal whether a
 * username exists: an unknown name costs the same scrypt work and gets the same answer as a wrong
 * password. An account's id is `acct:<username>` (src/auth/identity.ts), a namespace token
 * subjects of other issuers cannot enter, so registering a name never takes over a token
 * subject's rooms and history.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { SecurityAudit } from '../security/audit.js';
import type { Store, UserRecord } from '../store/store.js';
import { memoryLimiterFactory, type RateLimiter, type RateLimiterFactory } from '../guards/rate-limits.js';
import { LoginThrottle } from './login-throttle.js';
import { mintToken } from './jwt.js';
import { accountId } from './identity.js';
import { normalizeDisplayName } from './display-name.js';
import { inviteHash, looksLikeInvite } from './invites.js';
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
  | { ok: false; status: 400 | 401 | 403 | 409 | 429; error: string; message: string; retryAfterMs?: number; details?: Array<{ path: string; message: string }> };

function sha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const INVALID_LOGIN = 'Invalid username or password.';

export class Accounts {
  private readonly throttle: LoginThrottle;

  constructor(
    private readonly store: Store,
    private readonly config: Config,
    private readonly secret: Uint8Array,
    private readonly audit: SecurityAudit,
    private readonly revocations: Revocations,
    /** Per-IP login and registration attempts (`rateLimits.login`). */
    private readonly ipLimiter: RateLimiter,
    /** Where the lockout counters live: memory, or Redis in a cluster (shared by every node). */
    limiterFactory: RateLimiterFactory = memoryLimiterFactory,
  ) {
    this.throttle = new LoginThrottle(limiterFactory);
  }

  /** Who may register (`accounts.registration`), for the sign-in page. */
  get registration(): Config['accounts']['registration'] {
    return this.config.accounts.registration;
  }

  private async issue(user: Pick<UserRecord, 'id' | 'name' | 'roles'>, family: string): Promise<Session> {
    const now = Date.now();
    const ttl = this.config.auth.accessTokenTtlMs;
    // `sid` ties the access token to its refresh family: revoking the family ends it too.
    const accessToken = await mintToken(this.secret, this.config.auth, { sub: user.id, name: user.name, roles: user.roles, ttlMs: ttl, jti: randomUUID(), sid: family });
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

  async register(input: { username: unknown; password: unknown; invite?: unknown }, ip: string): Promise<AccountResult> {
    const mode = this.config.accounts.registration;
    const limited = await this.ipAllowed(ip);
    if (limited) return limited;
    if (mode === 'closed') {
      this.audit.emit('register_refused', { ip, detail: { reason: 'closed' } });
      return { ok: false, status: 403, error: 'FORBIDDEN', message: 'Registration is closed on this server. Ask an administrator for an account.' };
    }
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
    const id = accountId(username);
    const now = Date.now();
    let claimed: string | undefined;
    if (mode === 'invite') {
      // One code, one account: claimed atomically before the account exists, given back if it cannot.
      const code = input.invite;
      if (!looksLikeInvite(code) || !(await this.store.claimInvite((claimed = inviteHash(code)), id, now))) {
        this.audit.emit('register_refused', { ip, detail: { reason: code === undefined || code === '' ? 'invite_required' : 'invite_invalid' } });
        return {
          ok: false,
          status: 403,
          error: 'FORBIDDEN',
          message:
            code === undefined || code === '' ? 'An invitation code is required to create an account.' : 'That invitation code is not valid: it is mistyped, used or expired.',
          details: [{ path: 'invite', message: 'a valid, unused invitation code is required' }],
        };
      }
    }
    const user: UserRecord = { id, name: normalizeDisplayName(username), passwordHash: await hashPassword(password), roles: [], createdAt: now };
    if (!(await this.store.createUser(user))) {
      if (claimed) await this.store.releaseInvite(claimed);
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
    const throttled = await this.throttle.check(username, ip);
    if (!throttled.ok) {
      this.audit.emit('login_locked', { ip, detail: { scope: throttled.scope, username } });
      return { ok: false, status: 429, error: 'RATE_LIMITED', message: 'Too many attempts; try again later.', retryAfterMs: throttled.retryAfterMs };
    }
    const user = USERNAME.test(username) ? await this.store.getUser(accountId(username)) : undefined;
    const valid = await verifyPassword(password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
    if (!user || !valid) {
      await this.throttle.failed(username, ip);
      this.audit.emit('login_failed', { ip, detail: { username } });
      return { ok: false, status: 401, error: 'UNAUTHENTICATED', message: INVALID_LOGIN };
    }
    await this.throttle.succeeded(username, ip);
    // Said only to someone who knows the password: a guesser learns nothing about the account.
    if (user.disabled) {
      this.audit.emit('login_failed', { ip, user: user.id, detail: { username, reason: 'disabled' } });
      return { ok: false, status: 403, error: 'FORBIDDEN', message: 'This account is disabled. Ask an administrator.' };
    }
    return { ok: true, session: await this.issue(user, randomUUID()) };
  }

  async refresh(refreshToken: unknown, ip: string): Promise<AccountResult> {
    const denied: AccountResult = { ok: false, status: 401, error: 'UNAUTHENTICATED', message: 'Sign in again.' };
    if (typeof refreshToken !== 'string' || refreshToken.length < 20 || refreshToken.length > 200) return denied;
    const hash = sha256(refreshToken);
    const record = await this.store.getRefreshToken(hash);
    if (!record || record.revoked || record.expiresAt <= Date.now()) return denied;
    if (!(await this.store.useRefreshToken(hash, Date.now()))) {
      // A used token presented again: someone holds a copy. Revoke the whole family, and with it
      // every access token minted from it, whoever holds them: their sockets close on every node.
      this.audit.emit('refresh_reuse', { ip, user: record.userId, detail: { family: record.family } });
      await this.revokeFamily(record.family, record.userId);
      return denied;
    }
    const user = await this.store.getUser(record.userId);
    if (!user || user.disabled) return denied;
    return { ok: true, session: await this.issue(user, record.family) };
  }

  /** Ends a session: its refresh tokens, and the access tokens minted from it (by their `sid`). */
  private async revokeFamily(family: string, user: string): Promise<void> {
    await this.store.revokeRefreshFamily(family);
    await this.revocations.revokeSession(family, Date.now() + this.config.auth.accessTokenTtlMs + this.config.auth.clockSkewMs, user);
  }

  /** Revokes the refresh family (closing the sockets its tokens opened) and, when given, the access token's jti. */
  async logout(refreshToken: unknown, access: { jti?: string | undefined; expiresAt: number; user: string } | undefined): Promise<void> {
    if (typeof refreshToken === 'string' && refreshToken.length <= 200) {
      const record = await this.store.getRefreshToken(sha256(refreshToken));
      if (record) await this.revokeFamily(record.family, record.userId);
    }
    if (access?.jti) await this.revocations.revoke(access.jti, access.expiresAt, access.user);
  }
}
