/**
 * Prometheus metrics, on a registry owned by one server instance (tests run several servers in
 * one process). Label values come from fixed sets (frame types, codes, reasons), never from input.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The transports a connection can be admitted on (`guard`: the handshake guards' own tests). */
export const TRANSPORT_LABELS = ['ws', 'socket.io', 'guard'] as const;
export type TransportLabel = (typeof TRANSPORT_LABELS)[number];

/** One count, changed on the hot path by a plain addition. */
export class Tally {
  value = 0;

  inc(): void {
    this.value++;
  }

  dec(): void {
    this.value--;
  }
}

/** A gauge by `transport` whose values are tallies, copied into the gauge when it is collected. */
export class TransportTallies {
  readonly gauge: Gauge<'transport'>;
  private readonly tallies = new Map<TransportLabel, Tally>(TRANSPORT_LABELS.map((t) => [t, new Tally()]));

  constructor(registry: Registry, name: string, help: string) {
    const tallies = this.tallies;
    this.gauge = new Gauge({
      name,
      help,
      labelNames: ['transport'],
      registers: [registry],
      collect() {
        for (const [transport, tally] of tallies) this.set({ transport }, tally.value);
      },
    });
  }

  of(transport: TransportLabel): Tally {
    return this.tallies.get(transport)!;
  }
}

export class Metrics {
  readonly registry = new Registry();
  /** Open connections, counted on the hot path; `openConnections` reads it when collected. */
  readonly open = new Tally();
  readonly openConnections: Gauge = new Gauge({
    name: 'bulwark_open_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
    collect: (): void => this.openConnections.set(this.open.value),
  });
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
  /**
   * Admission (docs/protocol.md "Under attack"): every admitted connection is in exactly one of
   * these three, by transport. Each handshake moves through all three, so they are tallies read
   * at scrape time rather than labelled prom-client updates (a label hash each) per transition.
   */
  readonly pendingHandshakes = new TransportTallies(
    this.registry,
    'bulwark_pending_handshakes',
    'Handshakes holding a connection slot, not yet switched to WebSocket (101) or an engine.io session',
  );
  readonly pendingAuth = new TransportTallies(this.registry, 'bulwark_pending_auth_connections', 'Open connections that have not authenticated yet');
  readonly authenticatedConnections = new TransportTallies(this.registry, 'bulwark_authenticated_connections', 'Open authenticated connections');
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
