/**
 * Live alerts to admins (contract section 3 "Under attack"): every security event of severity
 * warning or higher becomes a `security.alert` frame to connected admins, within a budget per
 * severity and second (`alerts.perSecond`), so an attack cannot flood the people watching it —
 * and cannot blind them either:
 *
 * - each severity has its own budget: warnings never spend what errors and critical alerts need;
 * - the first critical alert of each type in a second is sent even past the critical budget, so
 *   a flood of one critical type cannot hide another;
 * - what a budget suppresses is counted per type and reported one second later in one
 *   `alerts_suppressed` alert (`detail.count`, `detail.byType`), at the highest suppressed severity.
 *
 * Attacker-supplied text never reads as the server's own words: a detail string is shown at top
 * level only when its key is one the server fills and its value is a plain identifier; every other
 * string (an origin, a URL, a blocked-uri, a user agent, a path, a room…) goes under
 * `detail.untrusted`, cut to `UNTRUSTED_MAX` characters, with control, bidi and invisible
 * characters replaced by visible `\u{…}` escapes. `ip` and `user` are neutralised the same way.
 */
import type { Bus } from '../bus/bus.js';
import type { SecurityEventRecord, Severity } from '../store/store.js';
import type { SecurityAudit } from './audit.js';
import { isAlertWorthy } from './events.js';
import { CLIENT_FRAME_TYPES } from '../protocol/frames.js';

/** Alerts per second, per severity. */
export interface AlertBudgets {
  warning: number;
  error: number;
  critical: number;
}

type AlertSeverity = keyof AlertBudgets;

export const UNTRUSTED_MAX = 120;
/** Detail keys whose values the server itself chooses (identifiers, codes, names of rules). */
const TRUSTED_KEYS: ReadonlySet<string> = new Set([
  'action',
  'aggregated',
  'by',
  'cluster',
  'kind',
  'live',
  'reason',
  'refresh',
  'rule',
  'scope',
  'status',
  'transport',
  'trigger',
  'via',
]);
/** `type` in a detail names a frame type; an unknown one is whatever the client sent. */
const FRAME_TYPES: ReadonlySet<string> = new Set(CLIENT_FRAME_TYPES);
const IDENTIFIER = /^[A-Za-z0-9_.:-]{1,64}$/;
/** C0/C1 controls, zero-width and bidi controls, line and paragraph separators, BOM. */
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
const RANK: Record<Severity, number> = { info: 0, notice: 1, warning: 2, error: 3, critical: 4 };

/** Attacker-supplied text made safe to show: visible escapes for invisible characters, then cut. */
export function neutralize(value: string, max = UNTRUSTED_MAX): string {
  const visible = value.replace(UNSAFE_CHARS, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
  return visible.length > max ? `${visible.slice(0, max)}…` : visible;
}

/** The detail an admin sees: server-chosen values at top level, everything else under `untrusted`. */
export function alertDetail(detail: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!detail) return undefined;
  const out: Record<string, unknown> = {};
  const untrusted: Record<string, unknown> = {};
  let hasUntrusted = false;
  for (const [key, value] of Object.entries(detail)) {
    if (typeof value === 'number' || typeof value === 'boolean' || value === null) {
      out[key] = value;
    } else if (typeof value === 'string' && (key === 'type' ? FRAME_TYPES.has(value) : TRUSTED_KEYS.has(key) && IDENTIFIER.test(value))) {
      out[key] = value;
    } else {
      hasUntrusted = true;
      untrusted[neutralize(key, 32)] = Array.isArray(value) ? value.slice(0, 10).map((v) => neutralize(String(v))) : neutralize(String(value));
    }
  }
  if (hasUntrusted) out.untrusted = untrusted;
  return out;
}

function alertEvent(event: SecurityEventRecord): SecurityEventRecord {
  const out: SecurityEventRecord = { ts: event.ts, type: event.type, severity: event.severity };
  if (event.ip !== undefined) out.ip = neutralize(event.ip, 64);
  if (event.user !== undefined) out.user = neutralize(event.user, 128);
  const detail = alertDetail(event.detail);
  if (detail) out.detail = detail;
  return out;
}

export class AdminAlerts {
  private windowStart = 0;
  private readonly sent: Record<AlertSeverity, number> = { warning: 0, error: 0, critical: 0 };
  /** Critical types already alerted in this second. */
  private readonly criticalTypes = new Set<string>();
  /** Suppressed alerts by type (event types: a fixed set), and the highest severity among them. */
  private suppressed = new Map<string, number>();
  private suppressedSeverity: AlertSeverity = 'warning';
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly budgets: AlertBudgets,
    audit: SecurityAudit,
  ) {
    audit.onEvent((_type, event) => {
      if (isAlertWorthy(event.severity)) this.push(event);
    });
  }

  private push(event: SecurityEventRecord): void {
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.sent.warning = this.sent.error = this.sent.critical = 0;
      this.criticalTypes.clear();
    }
    const severity = event.severity as AlertSeverity;
    const firstCritical = severity === 'critical' && !this.criticalTypes.has(event.type);
    if (this.sent[severity] < this.budgets[severity] || firstCritical) {
      this.sent[severity]++;
      if (severity === 'critical') this.criticalTypes.add(event.type);
      this.publish(alertEvent(event));
      return;
    }
    this.suppressed.set(event.type, (this.suppressed.get(event.type) ?? 0) + 1);
    if (RANK[severity] > RANK[this.suppressedSeverity]) this.suppressedSeverity = severity;
    this.flushTimer ??= setTimeout(() => this.flushSuppressed(), 1000).unref();
  }

  private flushSuppressed(): void {
    this.flushTimer = undefined;
    if (this.suppressed.size === 0) return;
    const byType: Record<string, number> = {};
    let count = 0;
    for (const [type, n] of this.suppressed) {
      byType[type] = n;
      count += n;
    }
    const severity = this.suppressedSeverity;
    this.suppressed = new Map();
    this.suppressedSeverity = 'warning';
    this.publish({ ts: Date.now(), type: 'alerts_suppressed', severity, detail: { count, byType } });
  }

  private publish(event: SecurityEventRecord): void {
    this.bus.publish({ target: { kind: 'admins' }, type: 'security.alert', frame: JSON.stringify({ type: 'security.alert', event }) });
  }

  close(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }
}
