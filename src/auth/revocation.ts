/**
 * Revocation (contract section 3, docs/protocol.md "Revocation"), of four kinds:
 *
 * - one token, by `jti` (`bulwark revoke --jti`, logout);
 * - a session: every token minted from one refresh family, by the `sid` claim (refresh-token reuse,
 *   logout);
 * - a user's sessions: every token of a user issued before a time (`bulwark revoke --user`, a role
 *   taken away, a password reset);
 * - a disabled account: every token of the user until it is enabled again.
 *
 * A revocation is written to the store's append-only log, applied at once on this node, and
 * carried on the bus with its record: the live connections it covers close on every node (4401,
 * or 4403 for a disabled account) within one bus round trip, and every node adds it to its own
 * sets. Nodes, and a running server when the CLI revoked, also poll the log every 500 ms. Entries
 * are kept only until the tokens they cover would have expired anyway (`auth.maxTokenTtlMs`
 * bounds that), so memory is bounded by the revocation rate times the token lifetime; disable and
 * enable entries are kept for good (they are operator actions).
 */
import type { Bus, Effect } from '../bus/bus.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { SecurityAudit } from '../security/audit.js';
import type { RevocationKind, Store } from '../store/store.js';
import type { Identity } from './jwt.js';
import type { Denial } from './session-auth.js';

/** Disable and enable entries never lapse: the store keeps them with this expiry. */
export const FOREVER = Number.MAX_SAFE_INTEGER;

export interface RevocationEntry {
  kind: RevocationKind;
  /** A jti, a session family or a user id. */
  value: string;
  expiresAt: number;
  /** `user`: tokens issued before this time (ms) are revoked. */
  at: number;
}

/** How long a `user` revocation must last: until every token issued before it has expired. */
export function userRevocationExpiry(auth: { maxTokenTtlMs: number; clockSkewMs: number }, at: number): number {
  return at + auth.maxTokenTtlMs + auth.clockSkewMs;
}

const REVOKED: Denial = { close: CLOSE.UNAUTHENTICATED, reason: 'token revoked', event: 'token_revoked', detail: { scope: 'jti' } };
const SESSION_REVOKED: Denial = { close: CLOSE.UNAUTHENTICATED, reason: 'session revoked', event: 'token_revoked', detail: { scope: 'session' } };
const USER_REVOKED: Denial = { close: CLOSE.UNAUTHENTICATED, reason: 'session revoked', event: 'token_revoked', detail: { scope: 'user' } };
const DISABLED: Denial = { close: CLOSE.FORBIDDEN, reason: 'account disabled', event: 'disabled_refused' };

export class Revocations {
  private readonly jtis = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  /** user -> tokens issued before `at` are revoked, until `until`. */
  private readonly users = new Map<string, { at: number; until: number }>();
  private readonly disabled = new Set<string>();
  private lastId = 0;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly audit: SecurityAudit,
  ) {}

  isRevoked(jti: string | undefined): boolean {
    if (jti === undefined) return false;
    const until = this.jtis.get(jti);
    return until !== undefined && until > Date.now();
  }

  isDisabled(user: string): boolean {
    return this.disabled.has(user);
  }

  /** Why a verified identity may not be admitted (or keep its connection), if it may not. */
  denial(identity: Identity): Denial | undefined {
    const now = Date.now();
    if (this.disabled.has(identity.id)) return DISABLED;
    if (this.isRevoked(identity.jti)) return REVOKED;
    if (identity.sid !== undefined && (this.sessions.get(identity.sid) ?? 0) > now) return SESSION_REVOKED;
    const user = this.users.get(identity.id);
    // A token without `iat` cannot show it was issued after the revocation.
    if (user && user.until > now && (identity.issuedAt ?? 0) < user.at) return USER_REVOKED;
    return undefined;
  }

  /** Revokes a token id until `expiresAt` and closes its live connections everywhere. */
  async revoke(jti: string, expiresAt: number, by?: string): Promise<void> {
    await this.record({ kind: 'jti', value: jti, expiresAt, at: 0 }, by);
  }

  /** Revokes every token of a refresh family (its `sid`) and closes the connections they opened. */
  async revokeSession(sid: string, expiresAt: number, by?: string): Promise<void> {
    await this.record({ kind: 'sid', value: sid, expiresAt, at: 0 }, by);
  }

  /** Revokes every token of a user issued before now and closes the user's connections. */
  async revokeUser(user: string, expiresAt: number, by?: string, at = Date.now()): Promise<void> {
    await this.record({ kind: 'user', value: user, expiresAt, at }, by);
  }

  /** Disables (or enables again) every token of a user; disabling closes the user's connections. */
  async setDisabled(user: string, disabled: boolean, by?: string): Promise<void> {
    await this.record({ kind: disabled ? 'disable' : 'enable', value: user, expiresAt: FOREVER, at: 0 }, by);
  }

  private async record(entry: RevocationEntry, by: string | undefined): Promise<void> {
    await this.store.addRevocation(entry.value, entry.expiresAt, entry.kind, entry.at);
    this.apply(entry, by);
  }

  /** Adds an entry to the sets; false when it changes nothing (already known). */
  private add(entry: RevocationEntry): boolean {
    const { kind, value, expiresAt } = entry;
    switch (kind) {
      case 'jti':
      case 'sid': {
        const map = kind === 'jti' ? this.jtis : this.sessions;
        if ((map.get(value) ?? 0) >= expiresAt) return false;
        map.set(value, expiresAt);
        return true;
      }
      case 'user': {
        const prev = this.users.get(value);
        if (prev && prev.at >= entry.at && prev.until >= expiresAt) return false;
        this.users.set(value, { at: Math.max(prev?.at ?? 0, entry.at), until: Math.max(prev?.until ?? 0, expiresAt) });
        return true;
      }
      case 'disable':
        if (this.disabled.has(value)) return false;
        this.disabled.add(value);
        return true;
      case 'enable':
        return this.disabled.delete(value);
    }
  }

  private apply(entry: RevocationEntry, by?: string, announce = true): void {
    if (!this.add(entry)) return;
    if (announce) {
      if (entry.kind === 'jti') this.audit.emit('token_revoked', { user: by, detail: { scope: 'jti', jti: entry.value } });
      else if (entry.kind === 'sid') this.audit.emit('token_revoked', { user: by, detail: { scope: 'session', session: entry.value } });
      else if (entry.kind === 'user') this.audit.emit('token_revoked', { user: entry.value, detail: { scope: 'user', by } });
    }
    const revocation = { jti: entry.value, expiresAt: entry.expiresAt, kind: entry.kind, at: entry.at };
    this.bus.publish({ ...closeTarget(entry), frame: '', effect: { ...closeEffect(entry), revocation } });
  }

  /** A revocation another node announced on the bus (its close effect reaches connections on its own). */
  adopt(record: { jti: string; expiresAt: number; kind?: RevocationKind | undefined; at?: number | undefined }): void {
    if (record.expiresAt <= Date.now()) return;
    this.add({ kind: record.kind ?? 'jti', value: record.jti, expiresAt: record.expiresAt, at: record.at ?? 0 });
  }

  /** Pulls revocations written by other processes; drops expired entries. */
  async poll(): Promise<void> {
    const now = Date.now();
    const rows = await this.store.revocationsAfter(this.lastId, now);
    for (const row of rows) {
      this.lastId = Math.max(this.lastId, row.id);
      this.apply({ kind: row.kind, value: row.jti, expiresAt: row.expiresAt, at: row.at }, undefined, false);
    }
    for (const map of [this.jtis, this.sessions]) for (const [key, until] of map) if (until <= now) map.delete(key);
    for (const [user, entry] of this.users) if (entry.until <= now) this.users.delete(user);
  }

  /** Loads the current log position without re-announcing old revocations. */
  async load(): Promise<void> {
    const rows = await this.store.revocationsAfter(0, Date.now());
    for (const row of rows) {
      this.lastId = Math.max(this.lastId, row.id);
      this.add({ kind: row.kind, value: row.jti, expiresAt: row.expiresAt, at: row.at });
    }
  }

  get size(): number {
    return this.jtis.size + this.sessions.size + this.users.size + this.disabled.size;
  }
}

function closeTarget(entry: RevocationEntry): Pick<Parameters<Bus['publish']>[0], 'target'> {
  // A jti or a session may be used by any of a user's connections, and only the token knows the user.
  if (entry.kind === 'jti' || entry.kind === 'sid') return { target: { kind: 'all' } };
  return entry.kind === 'enable' ? { target: { kind: 'connection', connectionId: '' } } : { target: { kind: 'user', user: entry.value } };
}

function closeEffect(entry: RevocationEntry): Effect {
  switch (entry.kind) {
    case 'jti':
      return { jti: entry.value, close: { code: CLOSE.UNAUTHENTICATED, reason: 'token revoked' } };
    case 'sid':
      return { sid: entry.value, close: { code: CLOSE.UNAUTHENTICATED, reason: 'session revoked' } };
    case 'user':
      return { close: { code: CLOSE.UNAUTHENTICATED, reason: 'session revoked' } };
    case 'disable':
      return { close: { code: CLOSE.FORBIDDEN, reason: 'account disabled' } };
    case 'enable':
      return {};
  }
}
