/**
 * Emits security events (contract section 3 "Under attack"): every event increments a metric and
 * reaches the listeners (abuse scoring, admin alerts); the log line and the stored row are
 * aggregated, so an attacker cannot turn refusals into an unbounded write path. Details are
 * scrubbed of anything that looks like a credential before they leave this module.
 *
 * Aggregation: events of one type from one source (IP and user) within one minute (aligned to
 * the clock) are one row with a `count` and one log line when first seen; when the minute closes,
 * a source that repeated gets one more line with its count. Pending counts reach the store every
 * few seconds, added to the row in place. At most `maxSources` sources are tracked per minute;
 * past that, events of the minute aggregate per type only (no IP, no user), so stored rows and log
 * lines per minute stay bounded by `maxSources` plus the number of event types whatever the flood.
 * The same happens while the pruner says the table has no room for more rows.
 * The window is per node: on PostgreSQL, nodes of a cluster add to the same row.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { SecurityEventRecord, Store } from '../store/store.js';
import type { Metrics } from '../observability/metrics.js';
import { SECURITY_EVENTS, isAlertWorthy, type SecurityEventType } from './events.js';

export interface SecurityEventInput {
  ip?: string | undefined;
  user?: string | undefined;
  detail?: Record<string, unknown> | undefined;
}

export type SecurityListener = (type: SecurityEventType, event: SecurityEventRecord) => void;

export interface AuditOptions {
  /** Sources ((type, IP, user) triples) aggregated separately per minute. @default 1000 */
  maxSources?: number;
  /** How often pending counts are written. @default 5000 */
  flushIntervalMs?: number;
  /** Told of every new row (the pruner keeps the table within `audit.maxRows`). */
  onRowCreated?: () => void;
  /** Whether a new per-source row may be created now; when not, the event aggregates per type. */
  mayCreateRow?: () => boolean;
}

const SECRET_KEY = /token|password|secret|authorization|cookie|jwt|bearer/i;
const MAX_DETAIL_STRING = 200;
/** Aggregation window: one minute, aligned to the clock so nodes agree on it. */
export const AUDIT_WINDOW_MS = 60_000;

function scrub(detail: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (!detail) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(detail)) {
    if (SECRET_KEY.test(key)) continue;
    if (typeof value === 'string') out[key] = value.length > MAX_DETAIL_STRING ? `${value.slice(0, MAX_DETAIL_STRING)}…` : value;
    else if (typeof value === 'number' || typeof value === 'boolean' || value === null) out[key] = value;
    else if (Array.isArray(value)) out[key] = value.slice(0, 10).map((v) => (typeof v === 'string' ? v.slice(0, MAX_DETAIL_STRING) : v));
  }
  return out;
}

interface Aggregate {
  /** The row's aggregation key in the store (a hash of window and source). */
  key: string;
  /** What the row says: the first event of the window from this source. */
  record: SecurityEventRecord;
  /** Occurrences in this window. */
  total: number;
  /** Occurrences not yet written to the store. */
  pending: number;
  lastTs: number;
}

export class SecurityAudit {
  private readonly listeners: SecurityListener[] = [];
  private readonly maxSources: number;
  private readonly onRowCreated: (() => void) | undefined;
  private readonly mayCreateRow: () => boolean;
  private window = -1;
  private readonly aggregates = new Map<string, Aggregate>();
  /** Aggregates with counts not yet written. */
  private dirty: Aggregate[] = [];
  private sources = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly metrics: Metrics,
    options: AuditOptions = {},
  ) {
    this.maxSources = options.maxSources ?? 1000;
    this.onRowCreated = options.onRowCreated;
    this.mayCreateRow = options.mayCreateRow ?? (() => true);
    this.timer = setInterval(() => this.tick(), options.flushIntervalMs ?? 5000);
    this.timer.unref();
  }

  /** Called for every event (abuse scoring, alerts). Listeners must not throw. */
  onEvent(listener: SecurityListener): void {
    this.listeners.push(listener);
  }

  emit(type: SecurityEventType, input: SecurityEventInput = {}): SecurityEventRecord {
    const severity = SECURITY_EVENTS[type];
    const ts = Date.now();
    const event: SecurityEventRecord = { ts, type, severity, ip: input.ip, user: input.user, detail: scrub(input.detail) };
    this.metrics.securityEvents.inc({ type });
    this.aggregate(type, event);
    for (const listener of this.listeners) listener(type, event);
    return event;
  }

  /** Sources tracked in the current window (bounded by `maxSources` plus the event types). */
  get size(): number {
    return this.aggregates.size;
  }

  /** Writes every pending count now (tests, shutdown); the window stays open. */
  flush(): void {
    const dirty = this.dirty;
    this.dirty = [];
    for (const agg of dirty) {
      if (agg.pending === 0) continue;
      this.store.recordSecurityEvent({ ...agg.record, count: agg.pending, lastTs: agg.lastTs }, agg.key);
      agg.pending = 0;
    }
  }

  /** Closes the window (its repeat counts are written and logged) and stops the timer. */
  close(): void {
    clearInterval(this.timer);
    this.closeWindow();
  }

  private aggregate(type: SecurityEventType, event: SecurityEventRecord): void {
    const window = Math.floor(event.ts / AUDIT_WINDOW_MS);
    if (window !== this.window) {
      this.closeWindow();
      this.window = window;
    }
    let source = `${type}\u0000${event.ip ?? ''}\u0000${event.user ?? ''}`;
    let agg = this.aggregates.get(source);
    let record = event;
    if (!agg && (this.sources >= this.maxSources || !this.mayCreateRow())) {
      // Full (or the table is at its bound until the pruner catches up): aggregate coarser, per
      // type, rather than track more sources.
      source = `${type}\u0000*`;
      agg = this.aggregates.get(source);
      record = { ts: event.ts, type, severity: event.severity, detail: { aggregated: 'type' } };
    }
    if (agg) {
      agg.total++;
      agg.lastTs = event.ts;
      if (agg.pending++ === 0) this.dirty.push(agg);
      return;
    }
    const key = createHash('sha256').update(`${window}\u0000${source}`).digest('base64url').slice(0, 22);
    agg = { key, record, total: 1, pending: 0, lastTs: event.ts };
    this.aggregates.set(source, agg);
    if (record === event) this.sources++;
    const level = isAlertWorthy(record.severity) ? 'warn' : 'info';
    this.log[level]({ security: type, severity: record.severity, ip: record.ip, user: record.user, detail: record.detail }, 'security event');
    this.store.recordSecurityEvent({ ...record, count: 1, lastTs: event.ts }, key);
    this.onRowCreated?.();
  }

  private tick(): void {
    if (Math.floor(Date.now() / AUDIT_WINDOW_MS) !== this.window) this.closeWindow();
    else this.flush();
  }

  private closeWindow(): void {
    this.flush();
    for (const agg of this.aggregates.values()) {
      if (agg.total < 2) continue;
      const r = agg.record;
      const level = isAlertWorthy(r.severity) ? 'warn' : 'info';
      this.log[level]({ security: r.type, severity: r.severity, ip: r.ip, user: r.user, count: agg.total, firstTs: r.ts, lastTs: agg.lastTs }, 'security event repeated');
    }
    this.aggregates.clear();
    this.sources = 0;
  }
}
