/**
 * Abuse scoring (contract section 4, "Errors"): each violation adds its weight to the user's and
 * the IP's score; a score counts violations within `abuse.windowMs`. Over `abuse.threshold` the
 * user's connections close 4429 and the user and IP are banned for a growing period. Scores live
 * in LRUs bounded by `abuse.maxTracked`.
 *
 * A subject that is banned (or being banned) is not scored: what a banned address keeps sending
 * (a flood refused before the ban check, such as invalid upgrades or a foreign Origin) must not ban
 * it again and again, each time writing a ban row, doubling the period and alerting admins.
 * The next ban of the subject is for what it does once this one has ended.
 *
 * In a cluster the scores are shared (contract section 5; cluster/abuse-scores.ts): every node adds
 * to the same counts, and the node whose addition reaches the threshold bans. While the shared
 * store is unreachable, the node counts alone, at its share of the threshold.
 */
import { isIP } from 'node:net';
import type { LRUCache } from 'lru-cache';
import { boundedCache } from './bounded-cache.js';
import type { Config } from '../config/schema.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { SecurityEventRecord } from '../store/store.js';
import type { SecurityAudit } from './audit.js';
import type { Bans } from './bans.js';
import type { SecurityEventType } from './events.js';

/** How much each violation weighs; events not listed here are not violations. */
export const ABUSE_WEIGHTS: Partial<Record<SecurityEventType, number>> = {
  malformed_frame: 5,
  malformed_limit: 20,
  invalid_payload: 3,
  unknown_type: 3,
  rate_limited: 2,
  spam_detected: 10,
  user_muted: 20,
  replay_detected: 10,
  forbidden_action: 5,
  binary_frame: 10,
  frame_too_big: 20,
  ping_flood: 10,
  auth_failed: 10,
  api_key_refused: 10,
  token_expired: 2,
  token_revoked: 10,
  refresh_subject_mismatch: 50,
  origin_rejected: 10,
  handshake_rate_limited: 5,
  query_token_refused: 5,
  headers_too_large: 10,
  login_failed: 5,
  refresh_reuse: 50,
  slow_consumer: 5,
  xss_attempt: 10,
  // An anonymous write path: accepted reports weigh a little, refused ones more, so a flooder is banned.
  csp_violation: 2,
  csp_report_refused: 5,
};

/** Scores shared by the nodes of a cluster. */
export interface SharedScores {
  /** False while the shared store is unreachable: the node then counts alone. */
  readonly usable: boolean;
  /** The node's share of a limit while it counts alone (`limit ÷ live nodes`). */
  share(limit: number): number;
  /**
   * Adds `weight` to `key`'s score for `windowMs` from its first violation; true for exactly one
   * caller, the one whose addition reached `threshold` (the score then starts again). Rejects when
   * the store is unreachable.
   */
  add(key: string, weight: number, threshold: number, windowMs: number): Promise<boolean>;
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip === 'localhost';
}

export class AbuseScores {
  private readonly scores: LRUCache<string, { score: number }>;
  private readonly exempt: ReadonlySet<string>;
  /** Subjects whose ban is being written (between the threshold and the ban taking effect). */
  private readonly banning = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly bans: Bans,
    private readonly audit: SecurityAudit,
    private readonly shared?: SharedScores,
  ) {
    this.scores = boundedCache(config.abuse.maxTracked, config.abuse.windowMs);
    this.exempt = new Set(config.trustProxy);
    audit.onEvent((type, event) => this.record(type, event));
  }

  get size(): number {
    return this.scores.size;
  }

  score(key: string): number {
    return this.scores.get(key)?.score ?? 0;
  }

  /** The node's own count; over the threshold (the node's share of it while a cluster's store is unreachable). */
  private add(key: string, weight: number): boolean {
    const entry = this.scores.get(key, { updateAgeOnGet: false });
    if (entry) {
      entry.score += weight;
    } else {
      this.scores.set(key, { score: weight });
    }
    const threshold = this.shared ? this.shared.share(this.config.abuse.threshold) : this.config.abuse.threshold;
    const over = (entry?.score ?? weight) >= threshold;
    if (over) this.scores.delete(key);
    return over;
  }

  /** The cluster's count, or the node's own when the shared store fails. */
  private async addShared(shared: SharedScores, key: string, weight: number): Promise<boolean> {
    try {
      return await shared.add(key, weight, this.config.abuse.threshold, this.config.abuse.windowMs);
    } catch {
      return this.add(key, weight);
    }
  }

  private record(type: SecurityEventType, event: SecurityEventRecord): void {
    const weight = ABUSE_WEIGHTS[type];
    if (!weight) return;
    const user = event.user !== undefined && !this.banned('user', event.user) ? event.user : undefined;
    const ip = event.ip !== undefined && !this.banned('ip', event.ip) ? event.ip : undefined;
    if (user === undefined && ip === undefined) return;
    const ipBannable = ip !== undefined && isIP(ip) !== 0 && (this.config.abuse.banProxyIps || (!isLoopback(ip) && !this.exempt.has(ip)));
    const shared = this.shared;
    if (shared?.usable) {
      const byUser = user !== undefined ? this.addShared(shared, `u:${user}`, weight) : false;
      // An IP that is never banned is not counted cluster-wide.
      const byIp = ip !== undefined && ipBannable ? this.addShared(shared, `ip:${ip}`, weight) : false;
      void Promise.all([byUser, byIp]).then(([userOver, ipOver]) => this.over(type, event, userOver, ipOver));
      return;
    }
    const userOver = user !== undefined && this.add(`u:${user}`, weight);
    const ipOver = ip !== undefined && this.add(`ip:${ip}`, weight) && ipBannable;
    this.over(type, event, userOver, ipOver);
  }

  /** Under an active ban, or with its ban on the way. */
  private banned(kind: 'user' | 'ip', value: string): boolean {
    return this.banning.has(`${kind}:${value}`) || this.bans.active(kind, value) !== undefined;
  }

  private over(type: SecurityEventType, event: SecurityEventRecord, userOver: boolean, ipOver: boolean): void {
    const ip = event.ip;
    // A shared score answers asynchronously: another event may have banned the subject meanwhile.
    userOver &&= !this.banned('user', event.user!);
    ipOver &&= !this.banned('ip', ip!);
    if (!userOver && !ipOver) return;
    this.audit.emit('abuse_threshold', { ip, user: event.user, detail: { trigger: type, user: userOver, ip: ipOver } });
    if (userOver) this.banOnce('user', event.user!, type);
    if (ipOver) this.banOnce('ip', ip!, type);
  }

  private banOnce(kind: 'user' | 'ip', value: string, type: SecurityEventType): void {
    const k = `${kind}:${value}`;
    this.banning.add(k);
    void this.bans
      .ban(kind, value, `abuse: ${type}`, { closeCode: CLOSE.TOO_MANY })
      .catch(() => undefined)
      .finally(() => this.banning.delete(k));
  }
}
