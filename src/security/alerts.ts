/**
 * Live alerts to admins: every security event of severity warning or higher becomes a
 * `security.alert` frame to connected admins, at most `alerts.perSecond` per second so an attack
 * cannot flood the people watching it; the rest are counted and reported in one summary alert.
 */
import type { Bus } from '../bus/bus.js';
import type { SecurityEventRecord } from '../store/store.js';
import type { SecurityAudit } from './audit.js';
import { isAlertWorthy } from './events.js';

export class AdminAlerts {
  private windowStart = 0;
  private sent = 0;
  private suppressed = 0;
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly perSecond: number,
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
      this.sent = 0;
    }
    if (this.sent < this.perSecond) {
      this.sent++;
      this.publish(event);
      return;
    }
    this.suppressed++;
    this.flushTimer ??= setTimeout(() => this.flushSuppressed(), 1000).unref();
  }

  private flushSuppressed(): void {
    this.flushTimer = undefined;
    if (this.suppressed === 0) return;
    const count = this.suppressed;
    this.suppressed = 0;
    this.publish({ ts: Date.now(), type: 'alerts_suppressed', severity: 'warning', detail: { count } });
  }

  private publish(event: SecurityEventRecord): void {
    this.bus.publish({ target: { kind: 'admins' }, type: 'security.alert', frame: JSON.stringify({ type: 'security.alert', event }) });
  }

  close(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
  }
}
