/**
 * Bans of users and IPs (contract section 4, "Errors"): a banned IP is refused at the handshake
 * (403), a banned user at the handshake when it sends an early token (403) and at `auth` (close
 * 4403); a new ban closes the subject's live connections (4403, or 4429 when abuse scoring
 * banned it), each refusal and close saying until when. Each new ban of the same subject lasts twice as long as the last (1 min, 2, 4, ...).
 * The ban log lives in the store; every node applies it and polls it, so the CLI's `bulwark ban`
 * reaches a running server within a second.
 */
import type { AdmissionCheck } from '../auth/session-auth.js';
import type { Bus } from '../bus/bus.js';
import { bannedReason } from '../protocol/bans.js';
import { CLOSE } from '../protocol/close-codes.js';

export { bannedReason };
import type { BanKind, BanRecord, Store } from '../store/store.js';
import type { SecurityAudit } from './audit.js';

export const FIRST_BAN_MS = 60_000;
/** A subject with no ban for this long starts again at the first period. */
const LEVEL_MEMORY_MS = 24 * 3600_000;

export function banPeriodMs(level: number): number {
  return FIRST_BAN_MS * 2 ** Math.min(Math.max(level - 1, 0), 20);
}

/** The level of a new ban after `prev`: one more if `prev` ended less than a day ago, else the first. */
export function nextBanLevel(prev: BanRecord | undefined, now = Date.now()): number {
  const recent = prev && prev.createdAt > now - LEVEL_MEMORY_MS - banPeriodMs(prev.level);
  return recent ? prev.level + 1 : 1;
}

/** The admission check for bans of the user or the client IP (close 4403 at `auth`). */
export function banCheck(bans: Bans): AdmissionCheck {
  return function banned(identity, ip) {
    const ban = bans.active('user', identity.id) ?? bans.active('ip', ip);
    if (!ban) return undefined;
    return { close: CLOSE.FORBIDDEN, reason: bannedReason(ban.until), event: 'banned_refused', retryAfterMs: ban.until - Date.now(), detail: { kind: ban.kind, until: ban.until } };
  };
}

const key = (kind: BanKind, value: string): string => `${kind}:${value}`;

export class Bans {
  /** Latest log entry per subject; entries are dropped a day after they lapse. */
  private readonly latest = new Map<string, BanRecord>();
  private lastId = 0;

  constructor(
    private readonly store: Store,
    private readonly bus: Bus,
    private readonly audit: SecurityAudit,
  ) {}

  /** The active ban for a subject, if any. */
  active(kind: BanKind, value: string | undefined): BanRecord | undefined {
    if (value === undefined) return undefined;
    const record = this.latest.get(key(kind, value));
    return record && record.until > Date.now() ? record : undefined;
  }

  list(): BanRecord[] {
    const now = Date.now();
    return [...this.latest.values()].filter((b) => b.until > now);
  }

  /** Bans for the next doubling period (or `durationMs`), closes live connections of the subject. */
  async ban(kind: BanKind, value: string, reason: string, options: { durationMs?: number; closeCode?: number } = {}): Promise<BanRecord> {
    const now = Date.now();
    const level = nextBanLevel(this.latest.get(key(kind, value)), now);
    const record = await this.store.addBan({ kind, value, until: now + (options.durationMs ?? banPeriodMs(level)), level, reason, createdAt: now });
    this.apply(record, options.closeCode ?? CLOSE.FORBIDDEN);
    return record;
  }

  async unban(kind: BanKind, value: string): Promise<void> {
    const prev = this.latest.get(key(kind, value));
    const record = await this.store.addBan({ kind, value, until: 0, level: prev?.level ?? 0, reason: 'lifted', createdAt: Date.now() });
    this.apply(record, CLOSE.FORBIDDEN);
  }

  /** `announce` is false for entries another process wrote (and recorded its own event for). */
  private apply(record: BanRecord, closeCode: number, announce = true): void {
    this.lastId = Math.max(this.lastId, record.id);
    this.latest.set(key(record.kind, record.value), record);
    if (record.until === 0) {
      if (announce) this.audit.emit('ban_removed', record.kind === 'ip' ? { ip: record.value } : { user: record.value });
      this.announceRecord(record);
      return;
    }
    if (announce)
      this.audit.emit('ban_added', {
        ...(record.kind === 'ip' ? { ip: record.value } : { user: record.value }),
        detail: { until: record.until, level: record.level, reason: record.reason },
      });
    // The subject's live connections close on every node, told until when (docs/protocol.md "Abuse scoring and bans").
    const target = record.kind === 'user' ? { kind: 'user' as const, user: record.value } : { kind: 'ip' as const, ip: record.value };
    this.bus.publish({ target, frame: '', effect: { close: { code: closeCode, reason: bannedReason(record.until) }, ban: record } });
  }

  /** Carries a record with no connection to close (an unban) to the other nodes of a cluster. */
  private announceRecord(record: BanRecord): void {
    if (this.bus.kind === 'memory') return;
    // No connection is targeted: the record is the whole message.
    this.bus.publish({ target: { kind: 'connection', connectionId: '' }, frame: '', effect: { ban: record } });
  }

  /**
   * A record another node announced on the bus. Its id belongs to that node's store, so the
   * local log position is left alone; the latest record per subject (by creation time) wins.
   */
  adopt(record: BanRecord): void {
    const k = key(record.kind, record.value);
    const prev = this.latest.get(k);
    if (prev && (prev === record || prev.createdAt > record.createdAt)) return;
    if (prev && prev.createdAt === record.createdAt && prev.until === record.until && prev.level === record.level) return;
    this.latest.set(k, record);
  }

  /** Applies entries other processes wrote; forgets subjects idle for a day. */
  async poll(): Promise<void> {
    for (const record of await this.store.bansAfter(this.lastId)) {
      if (record.id <= this.lastId) continue;
      this.apply(record, CLOSE.FORBIDDEN, false);
    }
    const forget = Date.now() - LEVEL_MEMORY_MS;
    for (const [k, record] of this.latest) if (record.until < forget && record.createdAt < forget) this.latest.delete(k);
  }

  /** Loads the log without re-announcing it. */
  async load(): Promise<void> {
    for (const record of await this.store.bansAfter(0)) {
      this.lastId = Math.max(this.lastId, record.id);
      this.latest.set(key(record.kind, record.value), record);
    }
  }
}
