/**
 * Admission counters: how many places of a budget are taken, in total and per client IP. Two
 * budgets use them: connection slots (`limits.maxConnections` / `maxConnectionsPerIp`, one slot
 * per connection from its handshake passing the capacity step until its socket closes) and the
 * pending-auth budget (`limits.maxPendingAuth` / `maxPendingAuthPerIp`, one place per
 * connection until it authenticates or closes).
 *
 * The interface is all admission needs, so a cluster-wide implementation (Redis, for caps that
 * hold across nodes) can replace `LocalCounts` without touching the transports. What every
 * implementation must guarantee:
 * - `tryAcquire` checks and takes in one atomic step: with N places free, N concurrent calls
 *   succeed and the N+1th is refused (a burst cannot overshoot).
 * - `release(ip)` gives back one place taken by a successful `tryAcquire(ip)`. Admission calls it
 *   exactly once per place (the `Ticket` makes every release idempotent), on every path.
 * - It never fails open. A store that cannot answer either throws (or rejects) — admission then
 *   refuses the handshake 503 and records `handshake_error` — or decides by a bound it can still
 *   keep: the cluster's counts (`src/cluster/slot-counts.ts`) admit by this node's own count at
 *   its share of each cap (`limit ÷ live nodes`) while Redis is unreachable (docs/protocol.md,
 *   "Cluster").
 */

export type SlotScope = 'node' | 'ip';

export type SlotVerdict = { ok: true } | { ok: false; scope: SlotScope };

export interface AdmissionCounts {
  /** Takes one place for `ip` if neither the total nor the IP's share is spent. */
  tryAcquire(ip: string): SlotVerdict | Promise<SlotVerdict>;
  /** Gives back one place of `ip`. */
  release(ip: string): void;
  /** Places taken in total (this node's view), for gauges, pressure and tests. */
  total(): number;
  /** Places taken by one IP (this node's view). */
  perIp(ip: string): number;
}

const GRANTED: SlotVerdict = Object.freeze({ ok: true });
const NODE_FULL: SlotVerdict = Object.freeze({ ok: false, scope: 'node' });
const IP_FULL: SlotVerdict = Object.freeze({ ok: false, scope: 'ip' });

/** Counts in this process. Memory: one map entry per IP holding at least one place. */
export class LocalCounts implements AdmissionCounts {
  private taken = 0;
  private readonly byIp = new Map<string, number>();

  constructor(private readonly limits: { readonly max: number; readonly maxPerIp: number }) {}

  tryAcquire(ip: string): SlotVerdict {
    if (this.taken >= this.limits.max) return NODE_FULL;
    const mine = this.byIp.get(ip) ?? 0;
    if (mine >= this.limits.maxPerIp) return IP_FULL;
    this.taken++;
    this.byIp.set(ip, mine + 1);
    return GRANTED;
  }

  release(ip: string): void {
    const mine = this.byIp.get(ip);
    if (mine === undefined) return;
    this.taken--;
    if (mine <= 1) this.byIp.delete(ip);
    else this.byIp.set(ip, mine - 1);
  }

  total(): number {
    return this.taken;
  }

  perIp(ip: string): number {
    return this.byIp.get(ip) ?? 0;
  }
}
