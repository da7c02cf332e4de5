/**
 * Turning a token into an authenticated session (contract section 3): verification, admission
 * checks (revocation, bans, per-user cap), `welcome`, live expiry with `auth.refresh_required`,
 * and `auth.refresh`. Shared by the `auth` frame and the early token of the handshake.
 */
import type { Config } from '../config/schema.js';
import { ok, refuse, type Reply } from '../domain/reply.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { SecurityAudit } from '../security/audit.js';
import type { SecurityEventType } from '../security/events.js';
import type { Connection } from '../transport/connection.js';
import type { Hub } from '../fanout/hub.js';
import type { Identity, TokenFailure, TokenVerifier } from './jwt.js';

export interface Denial {
  close: number;
  reason: string;
  event: SecurityEventType;
  detail?: Record<string, unknown>;
  /** Until when trying again is pointless (a ban), for clients to tell their user. */
  retryAfterMs?: number;
}

/** A pluggable admission rule run after the token verified (revocation, bans, cluster caps). */
export type AdmissionCheck = (identity: Identity, ip: string) => Denial | undefined | Promise<Denial | undefined>;

export type VerifyOutcome = { ok: true; identity: Identity } | { ok: false; denial: Denial };

function tokenDenial(reason: TokenFailure): Denial {
  if (reason === 'expired') return { close: CLOSE.UNAUTHENTICATED, reason: 'token expired', event: 'token_expired' };
  return { close: CLOSE.UNAUTHENTICATED, reason: 'invalid token', event: 'auth_failed', detail: { reason } };
}

/** The error code that goes with a denial's close code, for the `error` reply sent before the close. */
export function denialCode(close: number): ErrorCode {
  if (close === CLOSE.FORBIDDEN) return 'FORBIDDEN';
  if (close === CLOSE.TOO_MANY) return 'RATE_LIMITED';
  return 'UNAUTHENTICATED';
}

export class SessionAuth {
  private readonly checks: AdmissionCheck[] = [];

  constructor(
    private readonly verifier: TokenVerifier,
    private readonly hub: Hub,
    private readonly config: Config,
    private readonly audit: SecurityAudit,
  ) {
    this.checks.push(this.userCap);
  }

  /** Checks that only count new connections (the cluster-wide cap) skip `auth.refresh`. */
  private readonly admissionOnly = new Set<AdmissionCheck>();

  addCheck(check: AdmissionCheck, options: { onRefresh?: boolean } = {}): void {
    this.checks.push(check);
    if (options.onRefresh === false) this.admissionOnly.add(check);
  }

  /** Per-user connection cap on this node; the cluster-wide count is an added check. */
  private readonly userCap: AdmissionCheck = (identity) =>
    this.hub.userCount(identity.id) >= this.config.limits.maxConnectionsPerUser
      ? { close: CLOSE.TOO_MANY, reason: 'too many connections', event: 'user_connection_cap' }
      : undefined;

  /** Verifies a token only (the handshake's early-token step answers 401 on failure). */
  async verifyToken(token: string): Promise<VerifyOutcome> {
    const verdict = await this.verifier.verify(token);
    return verdict.ok ? { ok: true, identity: verdict.identity } : { ok: false, denial: tokenDenial(verdict.reason) };
  }

  /** Runs the admission checks for a verified identity. */
  async admission(identity: Identity, ip: string): Promise<Denial | undefined> {
    for (const check of this.checks) {
      const denial = await check(identity, ip);
      if (denial) return denial;
    }
    return undefined;
  }

  /** Verifies a token and runs admission checks, without touching any connection. */
  async verify(token: string, ip: string): Promise<VerifyOutcome> {
    const outcome = await this.verifyToken(token);
    if (!outcome.ok) return outcome;
    const denial = await this.admission(outcome.identity, ip);
    return denial ? { ok: false, denial } : outcome;
  }

  /** A connection whose token was verified during the handshake. */
  async admitEarly(conn: Connection, identity: Identity): Promise<void> {
    const denial = await this.admission(identity, conn.ip);
    if (conn.closing) return;
    if (denial) return this.refuse(conn, denial, identity.id);
    this.admit(conn, identity);
  }

  refuse(conn: Connection, denial: Denial, user?: string): void {
    this.audit.emit(denial.event, { ip: conn.ip, user, detail: denial.detail });
    conn.close(denial.close, denial.reason);
  }

  /** Authenticates the connection and sends `welcome`. */
  admit(conn: Connection, identity: Identity, replyTo?: string): void {
    conn.authenticate(identity);
    conn.send({
      type: 'welcome',
      ...(replyTo !== undefined ? { id: replyTo } : {}),
      user: { id: identity.id, name: identity.name, roles: identity.roles },
      connectionId: conn.connectionId,
      heartbeatMs: this.config.heartbeatMs,
      limits: { maxPayloadBytes: this.config.limits.maxPayloadBytes, maxMessageChars: this.config.limits.maxMessageChars },
    });
    this.scheduleExpiry(conn, identity);
  }

  /** The token's refresh reminder, then its expiry: one timer at a time per connection, on callbacks shared by all. */
  private scheduleExpiry(conn: Connection, identity: Identity): void {
    const now = Date.now();
    const remindAt = identity.expiresAt - this.config.auth.refreshLeadMs;
    if (remindAt <= now) {
      conn.send({ type: 'auth.refresh_required', expiresAt: identity.expiresAt });
      conn.timer(identity.expiresAt - now, this.expire);
      return;
    }
    conn.timer(remindAt - now, this.remind);
  }

  // Each identity change (admit, auth.refresh) schedules anew, so the identity a timer finds is the one it was set for.
  private readonly remind = (conn: Connection): void => {
    const identity = conn.identity;
    if (!identity) return;
    conn.send({ type: 'auth.refresh_required', expiresAt: identity.expiresAt });
    conn.timer(identity.expiresAt - Date.now(), this.expire);
  };

  private readonly expire = (conn: Connection): void => {
    const identity = conn.identity;
    if (!identity) return;
    this.audit.emit('token_expired', { ip: conn.ip, user: identity.id, detail: { live: true } });
    conn.close(CLOSE.UNAUTHENTICATED, 'token expired');
  };

  /**
   * The `auth` frame on an unauthenticated connection. A refusal closes the connection; when the
   * frame carried an `id`, `answer` first sends its one reply (`error {id, code}`), so the client
   * learns why before the close.
   */
  async authFrame(conn: Connection, token: string, id: string | undefined, answer?: (reply: Reply) => void): Promise<void> {
    const outcome = await this.verifyToken(token);
    if (conn.closing) return;
    if (!outcome.ok) return this.refuseFrame(conn, outcome.denial, undefined, id, answer);
    const denial = await this.admission(outcome.identity, conn.ip);
    if (conn.closing) return;
    if (denial) return this.refuseFrame(conn, denial, outcome.identity.id, id, answer);
    this.admit(conn, outcome.identity, id);
  }

  private refuseFrame(conn: Connection, denial: Denial, user: string | undefined, id: string | undefined, answer: ((reply: Reply) => void) | undefined): void {
    if (id !== undefined && answer) {
      const code = denialCode(denial.close);
      // RATE_LIMITED always says when to try again; the per-user cap frees when another of the
      // user's connections ends, so this is a hint, like the handshake's 503 Retry-After.
      // A ban says until when (docs/protocol.md "Abuse scoring and bans").
      const retryAfterMs = code === 'RATE_LIMITED' ? 5000 : denial.retryAfterMs;
      answer(retryAfterMs !== undefined ? { ok: false, code, message: denial.reason, retryAfterMs } : refuse(code, denial.reason));
    }
    this.refuse(conn, denial, user);
  }

  /** `auth.refresh`: a new token for the same subject extends the session. */
  async refresh(conn: Connection, token: string): Promise<Reply> {
    const verdict = await this.verifier.verify(token);
    if (!verdict.ok) {
      this.audit.emit(verdict.reason === 'expired' ? 'token_expired' : 'auth_failed', { ip: conn.ip, user: conn.userId, detail: { reason: verdict.reason, refresh: true } });
      return refuse('UNAUTHENTICATED', 'The new token is not valid.');
    }
    if (verdict.identity.id !== conn.userId) {
      this.refuse(conn, { close: CLOSE.FORBIDDEN, reason: 'token subject changed', event: 'refresh_subject_mismatch' }, conn.userId);
      return refuse('FORBIDDEN', 'The new token is for another user.');
    }
    for (const check of this.checks) {
      if (check === this.userCap || this.admissionOnly.has(check)) continue;
      const denial = await check(verdict.identity, conn.ip);
      if (denial) {
        this.refuse(conn, denial, conn.userId);
        return refuse('UNAUTHENTICATED', denial.reason);
      }
    }
    conn.refreshIdentity(verdict.identity);
    this.scheduleExpiry(conn, verdict.identity);
    return ok({ expiresAt: verdict.identity.expiresAt });
  }
}
