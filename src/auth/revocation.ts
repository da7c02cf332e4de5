/**
 * Token revocation by `jti` (contract section 3). A revocation is written to the store, applied
 * at once on this node (live connections with that jti close 4401 through the bus), and picked up
 * by every other node — or a running server, when the CLI revoked — by polling the store's
 * append-only log. Entries are kept only until the token would have expired anyway, so memory is
 * bounded by the revocation rate times the token lifetime.
 */
import type { Bus } from '../bus/bus.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { SecurityAudit } from '../security/audit.js';
import type { Store } from '../store/store.js';

export class Revocations {
  private readonly revoked = new Map<string, number>();
  private lastId = 0;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly audit: SecurityAudit,
  ) {}

  isRevoked(jti: string | undefined): boolean {
    if (jti === undefined) return false;
    const until = this.revoked.get(jti);
    return until !== undefined && until > Date.now();
  }

  /** Revokes a token id until `expiresAt` and closes its live connections everywhere. */
  async revoke(jti: string, expiresAt: number, by?: string): Promise<void> {
    await this.store.addRevocation(jti, expiresAt);
    this.apply(jti, expiresAt, by);
  }

  private apply(jti: string, expiresAt: number, by?: string, announce = true): void {
    if (this.revoked.has(jti)) return;
    this.revoked.set(jti, expiresAt);
    if (announce) this.audit.emit('token_revoked', { user: by, detail: { jti } });
    this.bus.publish({ target: { kind: 'all' }, frame: '', effect: { jti, close: { code: CLOSE.UNAUTHENTICATED, reason: 'token revoked' }, revocation: { jti, expiresAt } } });
  }

  /** A revocation another node announced on the bus (its close effect reaches connections on its own). */
  adopt(jti: string, expiresAt: number): void {
    if (expiresAt <= Date.now() || (this.revoked.get(jti) ?? 0) >= expiresAt) return;
    this.revoked.set(jti, expiresAt);
  }

  /** Pulls revocations written by other processes; drops expired entries. */
  async poll(): Promise<void> {
    const now = Date.now();
    const rows = await this.store.revocationsAfter(this.lastId, now);
    for (const row of rows) {
      this.lastId = Math.max(this.lastId, row.id);
      this.apply(row.jti, row.expiresAt, undefined, false);
    }
    for (const [jti, until] of this.revoked) if (until <= now) this.revoked.delete(jti);
  }

  /** Loads the current log position without re-announcing old revocations. */
  async load(): Promise<void> {
    const rows = await this.store.revocationsAfter(0, Date.now());
    for (const row of rows) {
      this.lastId = Math.max(this.lastId, row.id);
      this.revoked.set(row.jti, row.expiresAt);
    }
  }

  get size(): number {
    return this.revoked.size;
  }
}
