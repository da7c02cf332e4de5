/**
 * Whether this node can use Redis right now (contract section 5, docs/cluster.md "Redis
 * outage"). The node is degraded while a Redis connection is not ready (closed, reconnecting) or
 * while its lease renewals keep failing (Redis connected but not answering). While degraded the
 * hot path does not even try Redis: limits, idempotency and the per-user cap answer from the
 * node's own state at once, `/readyz` answers 503 with the reason, and the bus delivers locally.
 * Entering and leaving the state are reported once each (`cluster_degraded`, `cluster_recovered`).
 */

/** Consecutive failed lease renewals before a connected Redis counts as unreachable. */
const PROBE_FAILURES = 2;

export interface HealthListener {
  degraded(reason: string): void;
  recovered(downMs: number): void;
}

export class ClusterHealth {
  private readonly down = new Map<string, string>();
  private probeFailures = 0;
  private since = 0;
  private current: string | undefined;
  private readonly listeners: HealthListener[] = [];

  /** True while Redis is usable: callers go to Redis, else straight to their fallback. */
  get ok(): boolean {
    return this.current === undefined;
  }

  /** Why the node is degraded (undefined when it is not). */
  get reason(): string | undefined {
    return this.current;
  }

  onChange(listener: HealthListener): void {
    this.listeners.push(listener);
  }

  /** A connection (by name) is not ready, with why. */
  connectionDown(name: string, why: string): void {
    this.down.set(name, why);
    this.update();
  }

  connectionUp(name: string): void {
    this.down.delete(name);
    this.update();
  }

  /** The outcome of a lease renewal, the node's periodic probe of Redis. */
  probe(ok: boolean): void {
    this.probeFailures = ok ? 0 : this.probeFailures + 1;
    this.update();
  }

  private update(): void {
    let reason: string | undefined;
    for (const [name, why] of this.down) {
      reason = `redis ${name} connection ${why}`;
      break;
    }
    if (reason === undefined && this.probeFailures >= PROBE_FAILURES) reason = 'redis is not answering';
    const was = this.current;
    this.current = reason;
    if (was === undefined && reason !== undefined) {
      this.since = Date.now();
      for (const l of this.listeners) l.degraded(reason);
    } else if (was !== undefined && reason === undefined) {
      const downMs = Date.now() - this.since;
      for (const l of this.listeners) l.recovered(downMs);
    }
  }
}
