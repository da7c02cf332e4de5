/**
 * Prometheus metrics, on a registry owned by one server instance (tests run several servers in
 * one process). Label values come from fixed sets (frame types, codes, reasons), never from input.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly openConnections = new Gauge({ name: 'bulwark_open_connections', help: 'Open WebSocket connections', registers: [this.registry] });
  readonly framesIn = new Counter({ name: 'bulwark_frames_in_total', help: 'Client frames received, by type', labelNames: ['type'], registers: [this.registry] });
  readonly framesOut = new Counter({ name: 'bulwark_frames_out_total', help: 'Server frames sent, by type', labelNames: ['type'], registers: [this.registry] });
  readonly errors = new Counter({ name: 'bulwark_errors_total', help: 'Error replies, by code', labelNames: ['code'], registers: [this.registry] });
  readonly handshakeRefusals = new Counter({
    name: 'bulwark_handshake_refusals_total',
    help: 'Refused WebSocket handshakes, by reason',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly webhookDeliveries = new Counter({
    name: 'bulwark_webhook_deliveries_total',
    help: 'Alert webhook deliveries, by result (delivered, retried, failed, dropped)',
    labelNames: ['result'],
    registers: [this.registry],
  });
  /** Admission (docs/protocol.md "Under attack"): every admitted connection is in exactly one of these three, by transport. */
  readonly pendingHandshakes = new Gauge({
    name: 'bulwark_pending_handshakes',
    help: 'Handshakes holding a connection slot, not yet switched to WebSocket (101) or an engine.io session',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly pendingAuth = new Gauge({
    name: 'bulwark_pending_auth_connections',
    help: 'Open connections that have not authenticated yet',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly authenticatedConnections = new Gauge({
    name: 'bulwark_authenticated_connections',
    help: 'Open authenticated connections',
    labelNames: ['transport'],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'bulwark_api_requests_total',
    help: 'Server API calls with a valid key, by operation and status',
    labelNames: ['operation', 'status'],
    registers: [this.registry],
  });
  readonly securityEvents = new Counter({ name: 'bulwark_security_events_total', help: 'Security events, by type', labelNames: ['type'], registers: [this.registry] });
  readonly storeLatency = new Histogram({
    name: 'bulwark_store_latency_seconds',
    help: 'Time from a store write request to its commit',
    labelNames: ['op'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  private readonly inByType = new Map<string, Counter.Internal>();
  private readonly outByType = new Map<string, Counter.Internal>();

  /** Hot-path counters: the labelled child is looked up once per type, not hashed per frame. */
  frameIn(type: string): void {
    let child = this.inByType.get(type);
    if (!child) this.inByType.set(type, (child = this.framesIn.labels(type)));
    child.inc();
  }

  frameOut(type: string, count = 1): void {
    let child = this.outByType.get(type);
    if (!child) this.outByType.set(type, (child = this.framesOut.labels(type)));
    child.inc(count);
  }

  constructor(options: { defaults?: boolean } = {}) {
    if (options.defaults) collectDefaultMetrics({ register: this.registry });
  }
}
