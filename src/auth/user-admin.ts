/**
 * Administering built-in accounts and users' sessions, shared by the CLI (`bulwark users`,
 * `bulwark revoke --user`) and the admin API. Every change is one `admin_action` security event.
 * Revocations go through a `RevocationWriter`: in the server the live `Revocations` (applied at
 * once and carried cluster-wide on the bus), in the CLI the store's log alone (a running server
 * polls it within a second).
 */
import type { Config } from '../config/schema.js';
import type { RevocationKind, Store, UserRecord } from '../store/store.js';
import { FOREVER, userRevocationExpiry } from './revocation.js';
import { accountId, isAccountId } from './identity.js';
import { hashPassword, passwordProblem, USERNAME } from './passwords.js';

/** A role name: short, lower-case. Only `admin` has a meaning today (docs/admin.md). */
export const ROLE = /^[a-z][a-z0-9_-]{0,31}$/;
export const MAX_ROLES = 16;

export interface RevocationWriter {
  revokeUser(user: string, expiresAt: number, by?: string): Promise<void>;
  setDisabled(user: string, disabled: boolean, by?: string): Promise<void>;
}

/** The CLI's writer: the log only; the running server applies it when it polls. */
export function storeRevocations(store: Store): RevocationWriter {
  const add = (value: string, expiresAt: number, kind: RevocationKind, at = 0): Promise<void> => store.addRevocation(value, expiresAt, kind, at);
  return {
    revokeUser: (user, expiresAt) => add(user, expiresAt, 'user', Date.now()),
    setDisabled: (user, disabled) => add(user, FOREVER, disabled ? 'disable' : 'enable'),
  };
}

export type AdminAction = 'create' | 'grant' | 'revoke_role' | 'disable' | 'enable' | 'reset_password' | 'revoke_sessions';

/** Who acted: a user id (an admin in the console) or `cli`. */
export interface Actor {
  id?: string | undefined;
  via: 'cli' | 'console';
  /** The admin's address, in the console. */
  ip?: string | undefined;
}

export interface UserAdminDeps {
  store: Store;
  auth: Pick<Config['auth'], 'maxTokenTtlMs' | 'clockSkewMs'>;
  revocations: RevocationWriter;
  record(action: AdminAction, actor: Actor, target: string, detail?: Record<string, unknown>): void;
}

export type AdminResult<T> = { ok: true; value: T } | { ok: false; code: 'NOT_FOUND' | 'INVALID_PAYLOAD' | 'CONFLICT'; message: string };

const notFound = (ref: string): AdminResult<never> => ({ ok: false, code: 'NOT_FOUND', message: `no account ${ref}` });
const invalid = (message: string): AdminResult<never> => ({ ok: false, code: 'INVALID_PAYLOAD', message });

/** An account named by its username (`alice`) or its id (`acct:alice`). */
export function accountRef(ref: string): string {
  const trimmed = ref.trim();
  return isAccountId(trimmed) ? trimmed : accountId(trimmed.toLowerCase());
}

export class UserAdmin {
  constructor(private readonly deps: UserAdminDeps) {}

  private async account(ref: string): Promise<UserRecord | undefined> {
    return this.deps.store.getUser(accountRef(ref));
  }

  async create(input: { username: string; password: string; roles?: string[] }, actor: Actor): Promise<AdminResult<UserRecord>> {
    const username = input.username.trim().toLowerCase();
    if (!USERNAME.test(username)) return invalid('the username must be 3-32 characters: a-z 0-9 _ . - (starting with a letter or digit)');
    const problem = passwordProblem(input.password, username);
    if (problem) return invalid(`the password ${problem}`);
    const roles = [...new Set(input.roles ?? [])];
    const bad = roles.find((r) => !ROLE.test(r));
    if (bad !== undefined || roles.length > MAX_ROLES) return invalid('a role is 1-32 characters of a-z 0-9 _ - starting with a letter');
    const user: UserRecord = { id: accountId(username), name: username, passwordHash: await hashPassword(input.password), roles, createdAt: Date.now() };
    if (!(await this.deps.store.createUser(user))) return { ok: false, code: 'CONFLICT', message: `the username ${username} is taken` };
    this.deps.record('create', actor, user.id, roles.length ? { roles } : undefined);
    return { ok: true, value: user };
  }

  async grant(ref: string, role: string, actor: Actor): Promise<AdminResult<UserRecord>> {
    if (!ROLE.test(role)) return invalid('a role is 1-32 characters of a-z 0-9 _ - starting with a letter');
    const user = await this.account(ref);
    if (!user) return notFound(ref);
    if (user.roles.includes(role)) return { ok: true, value: user };
    if (user.roles.length >= MAX_ROLES) return invalid(`at most ${MAX_ROLES} roles`);
    const roles = [...user.roles, role];
    await this.deps.store.updateUser(user.id, { roles });
    this.deps.record('grant', actor, user.id, { role });
    // Takes effect with the next access token (a refresh, at most auth.accessTokenTtlMs away).
    return { ok: true, value: { ...user, roles } };
  }

  async revokeRole(ref: string, role: string, actor: Actor): Promise<AdminResult<UserRecord>> {
    const user = await this.account(ref);
    if (!user) return notFound(ref);
    if (!user.roles.includes(role)) return { ok: true, value: user };
    const roles = user.roles.filter((r) => r !== role);
    await this.deps.store.updateUser(user.id, { roles });
    // Tokens already carrying the role stop working now: the sessions reconnect with refreshed tokens.
    await this.revokeTokens(user.id);
    this.deps.record('revoke_role', actor, user.id, { role });
    return { ok: true, value: { ...user, roles } };
  }

  async setDisabled(ref: string, disabled: boolean, actor: Actor): Promise<AdminResult<UserRecord>> {
    const user = await this.account(ref);
    if (!user) return notFound(ref);
    await this.deps.store.updateUser(user.id, { disabled });
    if (disabled) await this.deps.store.revokeUserRefreshTokens(user.id);
    await this.deps.revocations.setDisabled(user.id, disabled, actor.id);
    this.deps.record(disabled ? 'disable' : 'enable', actor, user.id);
    return { ok: true, value: { ...user, disabled } };
  }

  async resetPassword(ref: string, password: string, actor: Actor): Promise<AdminResult<UserRecord>> {
    const user = await this.account(ref);
    if (!user) return notFound(ref);
    const problem = passwordProblem(password, user.name);
    if (problem) return invalid(`the password ${problem}`);
    await this.deps.store.updateUser(user.id, { passwordHash: await hashPassword(password) });
    // Whoever knew the old password is signed out everywhere.
    await this.deps.store.revokeUserRefreshTokens(user.id);
    await this.revokeTokens(user.id);
    this.deps.record('reset_password', actor, user.id);
    return { ok: true, value: user };
  }

  /**
   * Signs a user out everywhere: every token issued until now is refused and the user's live
   * connections close; an account's refresh tokens are revoked too. Works for token subjects of
   * any issuer, not only accounts.
   */
  async revokeSessions(userId: string, actor: Actor): Promise<AdminResult<undefined>> {
    if (isAccountId(userId)) {
      if (!(await this.deps.store.getUser(userId))) return notFound(userId);
      await this.deps.store.revokeUserRefreshTokens(userId);
    }
    await this.revokeTokens(userId);
    this.deps.record('revoke_sessions', actor, userId);
    return { ok: true, value: undefined };
  }

  private revokeTokens(userId: string): Promise<void> {
    return this.deps.revocations.revokeUser(userId, userRevocationExpiry(this.deps.auth, Date.now()));
  }
}
