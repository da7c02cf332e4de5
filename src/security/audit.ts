/**
 * Emits security events: one structured log line, one stored row, one metric increment, and
 * (for warning and above) a live alert to admins. Details are scrubbed of anything that looks
 * like a credential before they leave this module.
 */
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

const SECRET_KEY = /token|password|secret|authorization|cookie|jwt|bearer/i;
const MAX_DETAIL_STRING = 200;

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

export class SecurityAudit {
  private readonly listeners: SecurityListener[] = [];

  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly metrics: Metrics,
  ) {}

  /** Called for every event (abuse scoring, alerts). Listeners must not throw. */
  onEvent(listener: SecurityListener): void {
    this.listeners.push(listener);
  }

  emit(type: SecurityEventType, input: SecurityEventInput = {}): SecurityEventRecord {
    const severity = SECURITY_EVENTS[type];
    const event: SecurityEventRecord = { ts: Date.now(), type, severity, ip: input.ip, user: input.user, detail: scrub(input.detail) };
    this.metrics.securityEvents.inc({ type });
    const level = isAlertWorthy(severity) ? 'warn' : 'info';
    this.log[level]({ security: type, severity, ip: event.ip, user: event.user, detail: event.detail }, 'security event');
    this.store.recordSecurityEvent(event);
    for (const listener of this.listeners) listener(type, event);
    return event;
  }
}
