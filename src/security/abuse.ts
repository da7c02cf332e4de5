/**
 * Abuse scoring (contract section 4, "Errors"): each violation adds its weight to the user's and
 * the IP's score; a score counts violations within `abuse.windowMs`. Over `abuse.threshold` the
 * user's connections close 4429 and the user and IP are banned for a growing period. Scores live
 * in LRUs bounded by `abuse.maxTracked`.
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
  auth_failed: 10,
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

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip === 'localhost';
}

export class AbuseScores {
  private readonly scores: LRUCache<string, { score: number }>;
  private readonly exempt: ReadonlySet<string>;

  constructor(
    private readonly config: Config,
    private readonly bans: Bans,
    private readonly audit: SecurityAudit,
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

  private add(key: string, weight: number): boolean {
    const entry = this.scores.get(key, { updateAgeOnGet: false });
    if (entry) {
      entry.score += weight;
    } else {
      this.scores.set(key, { score: weight });
    }
    return (entry?.score ?? weight) >= this.config.abuse.threshold;
  }

  private record(type: SecurityEventType, event: SecurityEventRecord): void {
    const weight = ABUSE_WEIGHTS[type];
    if (!weight) return;
    const userOver = event.user !== undefined && this.add(`u:${event.user}`, weight);
    const ip = event.ip;
    const ipBannable = ip !== undefined && isIP(ip) !== 0 && (this.config.abuse.banProxyIps || (!isLoopback(ip) && !this.exempt.has(ip)));
    const ipOver = ip !== undefined && this.add(`ip:${ip}`, weight) && ipBannable;
    if (!userOver && !ipOver) return;
    if (userOver) this.scores.delete(`u:${event.user}`);
    if (ipOver) this.scores.delete(`ip:${ip}`);
    this.audit.emit('abuse_threshold', { ip, user: event.user, detail: { trigger: type, user: userOver, ip: ipOver } });
    const tasks: Array<Promise<unknown>> = [];
    if (userOver) tasks.push(this.bans.ban('user', event.user!, `abuse: ${type}`, { closeCode: CLOSE.TOO_MANY }));
    if (ipOver) tasks.push(this.bans.ban('ip', ip!, `abuse: ${type}`, { closeCode: CLOSE.TOO_MANY }));
    void Promise.all(tasks).catch(() => undefined);
  }
}
