/**
 * Alert webhooks (`alerts.webhooks`, contract section 5; docs/admin.md "Alert webhooks"): the
 * alerts admins see live are also POSTed to each configured URL whose `minSeverity` they reach,
 * so they reach someone who is not looking at the console.
 *
 * - Signed: `X-Bulwark-Signature: v1=<hex HMAC-SHA256(secret, "<X-Bulwark-Timestamp>.<body>")>`,
 *   recomputed at every attempt with a fresh timestamp, so a receiver can refuse stale replays.
 * - Bounded in time: each attempt has `timeoutMs`; redirects are not followed.
 * - Retried with exponential backoff and full jitter (`backoffMs`, doubling, at most a minute;
 *   `Retry-After` of a 429/503 is honoured within that bound), up to `maxAttempts`; a 4xx other
 *   than 408 and 429 is final.
 * - Bounded in memory: one delivery in flight per webhook and at most `queueSize` waiting; past it
 *   the oldest non-critical alert is dropped (a critical one only when nothing else is left), and
 *   drops are counted.
 * - Failures are security events, aggregated: the first `webhook_failed` of a window is recorded
 *   at once, what follows within `REPORT_WINDOW_MS` is summed into one event at its end, so a retry
 *   storm against a dead receiver is one event a minute, not one per attempt.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { WebhookConfig } from '../config/schema.js';
import type { SecurityEventRecord, Severity } from '../store/store.js';
import type { SecurityEventInput } from './audit.js';

export const REPORT_WINDOW_MS = 60_000;
const MAX_BACKOFF_MS = 60_000;
const MAX_TEXT = 1500;
const RANK: Record<Severity, number> = { info: 0, notice: 1, warning: 2, error: 3, critical: 4 };

export type DeliveryResult = 'delivered' | 'retried' | 'failed' | 'dropped';

export interface WebhookDeps {
  /** Records a `webhook_failed` security event (the caller's audit). */
  report(input: SecurityEventInput): void;
  /** Counts deliveries by result (metrics). */
  count?(result: DeliveryResult): void;
  /** Aggregation window of failure events. @default 60000 */
  reportWindowMs?: number;
}

interface Delivery {
  id: string;
  event: SecurityEventRecord;
  attempts: number;
}

type Attempt = { ok: true } | { ok: false; retry: boolean; error: string; retryAfterMs?: number };

/** The signature header value for a body sent at `timestamp` (seconds). */
export function signature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** One line a person reads in a chat channel. Strings in alerts are already neutralised. */
export function summarize(event: SecurityEventRecord): string {
  const parts = [`[${event.severity}] ${event.type}`];
  if (event.user) parts.push(`user ${event.user}`);
  if (event.ip) parts.push(`ip ${event.ip}`);
  const flat: string[] = [];
  const walk = (value: unknown, prefix: string): void => {
    if (value && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
    else flat.push(`${prefix}=${Array.isArray(value) ? value.join(',') : String(value)}`);
  };
  walk(event.detail, '');
  if (flat.length) parts.push(flat.join(' '));
  const text = `${parts.join(' · ')} · ${new Date(event.ts).toISOString()}`;
  return text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}…` : text;
}

/** Slack reads `&`, `<` and `>` as markup (links, mentions): escaped as its docs say. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Discord markdown and mentions: escaped, and `allowed_mentions` pings nobody. */
function discordEscape(text: string): string {
  return text.replace(/([\\*_~`|>#[\]()@])/g, '\\$1');
}

export function webhookBody(format: WebhookConfig['format'], id: string, event: SecurityEventRecord): string {
  switch (format) {
    case 'json':
      return JSON.stringify({ id, source: 'bulwark', event });
    case 'slack':
      return JSON.stringify({ text: slackEscape(summarize(event)) });
    case 'discord':
      return JSON.stringify({ content: discordEscape(summarize(event)), allowed_mentions: { parse: [] } });
  }
}

/** Aborted at shutdown or after `timeoutMs`, whichever comes first (AbortSignal.any: Node 20.3+). */
function attemptSignal(shutdown: AbortSignal, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([shutdown, timeout]);
  const both = new AbortController();
  const stop = (): void => both.abort();
  shutdown.addEventListener('abort', stop, { once: true });
  timeout.addEventListener('abort', stop, { once: true });
  return both.signal;
}

/** A URL's origin only: a webhook path often carries a secret (Slack, Discord). */
function endpointOf(url: string): string {
  return new URL(url).origin;
}

class Endpoint {
  private readonly queue: Delivery[] = [];
  private current: Delivery | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private closed = false;
  private reportTimer: NodeJS.Timeout | undefined;
  private pending = { failed: 0, retried: 0, dropped: 0, lastError: '' };

  constructor(
    private readonly index: number,
    private readonly config: WebhookConfig,
    private readonly deps: WebhookDeps,
  ) {}

  get size(): number {
    return this.queue.length + (this.current ? 1 : 0);
  }

  offer(event: SecurityEventRecord): void {
    if (this.closed || RANK[event.severity] < RANK[this.config.minSeverity]) return;
    if (this.queue.length >= this.config.queueSize && !this.makeRoom(event)) return;
    this.queue.push({ id: randomUUID(), event, attempts: 0 });
    this.pump();
  }

  /** Drops the oldest non-critical waiting alert (a critical one only for another critical one). */
  private makeRoom(incoming: SecurityEventRecord): boolean {
    let victim = this.queue.findIndex((d) => d.event.severity !== 'critical');
    if (victim < 0) {
      if (incoming.severity !== 'critical') {
        this.note('dropped', 'queue full');
        return false;
      }
      victim = 0;
    }
    this.queue.splice(victim, 1);
    this.note('dropped', 'queue full');
    return true;
  }

  private pump(): void {
    if (this.current || this.closed) return;
    const next = this.queue.shift();
    if (!next) return;
    this.current = next;
    void this.attempt(next);
  }

  private async attempt(delivery: Delivery): Promise<void> {
    delivery.attempts++;
    const result = await this.send(delivery);
    if (this.closed) return;
    if (result.ok) {
      this.deps.count?.('delivered');
      return this.next();
    }
    if (result.retry && delivery.attempts < this.config.maxAttempts) {
      this.note('retried', result.error);
      // Full jitter (a random delay up to the doubled backoff): many nodes retrying do not stampede.
      const ceiling = Math.min(this.config.backoffMs * 2 ** (delivery.attempts - 1), MAX_BACKOFF_MS);
      const delay = Math.max(Math.random() * ceiling, Math.min(result.retryAfterMs ?? 0, MAX_BACKOFF_MS));
      this.retryTimer = setTimeout(() => void this.attempt(delivery), delay).unref();
      return;
    }
    this.note('failed', result.error);
    this.next();
  }

  private next(): void {
    this.current = undefined;
    this.pump();
  }

  private async send(delivery: Delivery): Promise<Attempt> {
    const body = webhookBody(this.config.format, delivery.id, delivery.event);
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const res = await fetch(this.config.url, {
        method: 'POST',
        redirect: 'error',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'bulwark-webhook/1',
          'x-bulwark-delivery': delivery.id,
          'x-bulwark-event': delivery.event.type,
          'x-bulwark-timestamp': String(timestamp),
          'x-bulwark-signature': signature(this.config.secret, timestamp, body),
        },
        body,
        signal: attemptSignal(this.abort.signal, this.config.timeoutMs),
      });
      // The answer's body is not needed: release the connection without reading it.
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return { ok: true };
      const retry = res.status >= 500 || res.status === 408 || res.status === 429;
      const after = Number(res.headers.get('retry-after'));
      return { ok: false, retry, error: `status ${res.status}`, ...(after > 0 ? { retryAfterMs: after * 1000 } : {}) };
    } catch (error) {
      const name = (error as Error).name;
      return { ok: false, retry: true, error: name === 'TimeoutError' ? 'timeout' : name === 'AbortError' ? 'aborted' : 'network error' };
    }
  }

  /** Counts an outcome; problems are reported at once for the first of a window, then summed. */
  private note(result: DeliveryResult, error: string): void {
    this.deps.count?.(result);
    if (result === 'delivered') return;
    this.pending[result]++;
    this.pending.lastError = error;
    if (result === 'retried') return;
    if (this.reportTimer) return;
    this.flush();
  }

  private flush(): void {
    const { failed, retried, dropped, lastError } = this.pending;
    if (failed === 0 && dropped === 0) {
      this.pending.retried = 0;
      this.reportTimer = undefined;
      return;
    }
    this.pending = { failed: 0, retried: 0, dropped: 0, lastError: '' };
    const windowMs = this.deps.reportWindowMs ?? REPORT_WINDOW_MS;
    this.deps.report({ detail: { webhook: this.index, endpoint: endpointOf(this.config.url), failed, retried, dropped, reason: lastError, windowMs } });
    this.reportTimer = setTimeout(() => this.flush(), windowMs).unref();
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.reportTimer) clearTimeout(this.reportTimer);
    this.queue.length = 0;
    this.current = undefined;
  }
}

export class Webhooks {
  private readonly endpoints: Endpoint[];

  constructor(configs: readonly WebhookConfig[], deps: WebhookDeps) {
    this.endpoints = configs.map((config, i) => new Endpoint(i, config, deps));
  }

  /** An alert from the alert stream (src/security/alerts.ts). */
  offer(event: SecurityEventRecord): void {
    for (const endpoint of this.endpoints) endpoint.offer(event);
  }

  /** Alerts waiting or in flight, over every webhook. */
  get size(): number {
    return this.endpoints.reduce((n, e) => n + e.size, 0);
  }

  /** Stops at once: in-flight requests are aborted, waiting alerts dropped. */
  close(): void {
    for (const endpoint of this.endpoints) endpoint.close();
  }
}
