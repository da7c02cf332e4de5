/**
 * Admission, in one place for every transport (`/ws`, `/socket.io/`, the embeddable guard):
 * the handshake guards in their order (docs/protocol.md "Handshake"), the connection slot taken
 * at the capacity step, the pending-auth budget and its shedding (docs/protocol.md "Under
 * attack"), and the refusal's event and metric. What it admits is a `Ticket`; the transport
 * moves it along (opened, authenticated) and every path that ends a connection releases it.
 *
 * Shedding rule: while the node is under pressure (open connections at `limits.shedAtRatio` of
 * `limits.maxConnections`) the auth timeout is `auth.pressureTimeoutMs`. An unauthenticated
 * connection older than that is overdue: a sweep closes overdue ones `4408`, oldest first, and
 * when a handshake finds no free slot or no pending-auth place, the oldest overdue one is closed
 * to admit it. A connection is never closed before its (reduced) timeout, and an authenticated
 * one never to make room.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { capacityRefusal, pendingAuthRefusal } from '../guards/handshake/capacity.js';
import type { HandshakeGuard, HandshakeRequest, HandshakeVerdict } from '../guards/handshake/types.js';
import type { RateLimiter } from '../guards/rate-limits.js';
import type { Metrics, TransportTallies } from '../observability/metrics.js';
import { CLOSE } from '../protocol/close-codes.js';
import type { SecurityAudit } from '../security/audit.js';
import { rowOf, type HandshakeRefusal } from './refusal.js';
import { LocalCounts, type AdmissionCounts, type SlotScope } from './slots.js';
import { Ticket, type TicketOwner, type TicketState, type TransportLabel } from './ticket.js';

export interface AdmissionDeps {
  config: Config;
  audit: SecurityAudit;
  metrics: Metrics;
  log: Logger;
  /**
   * `rateLimits.handshake`. Refusals that happen before the guard order's own rate step (an
   * invalid upgrade, an unknown path, polling while it is off) spend it first, so a flood of them
   * is answered 429 instead of each writing its own refusal event.
   */
  handshakeRate: RateLimiter;
  /** Connection slots. @default node-local counts over `limits.maxConnections` / `maxConnectionsPerIp` */
  connections?: AdmissionCounts;
  /** The pending-auth budget. @default node-local counts over `limits.maxPendingAuth` / `maxPendingAuthPerIp` */
  pendingAuth?: AdmissionCounts;
}

export interface AdmissionPlan {
  readonly transport: TransportLabel;
  /** Guards run before a slot is taken: header bounds, origin, IP ban, handshake rate. */
  readonly before: readonly HandshakeGuard[];
  /** Guards run holding the slot: subprotocol, early token, user ban. */
  readonly after: readonly HandshakeGuard[];
  /** A connection without an early token takes a place of the pending-auth budget. @default true */
  readonly pendingAuth?: boolean;
}

export type Admitted = { ok: true; ticket: Ticket } | { ok: false; refusal: HandshakeRefusal };

const SHUTDOWN: HandshakeRefusal = { reason: 'shutdown', event: 'capacity_refused', retryAfterMs: 5000, detail: { scope: 'shutdown' } };
const GUARD_ERROR: HandshakeRefusal = { reason: 'guard_error', event: 'handshake_error', retryAfterMs: 5000 };

/** Why a pending connection was shed (the `reason` of `pending_auth_shed`). */
type ShedReason = 'pressure' | 'capacity' | 'budget';

export class Admission implements TicketOwner {
  readonly connections: AdmissionCounts;
  readonly pendingAuth: AdmissionCounts;
  /** Tickets holding a pending-auth place, in admission order (oldest first). */
  private readonly pending = new Set<Ticket>();
  private readonly gauges: Record<Exclude<TicketState, 'released'>, TransportTallies>;
  private accepting = true;
  private readonly sweeper: NodeJS.Timeout;
  /** Effective limits (docs/protocol.md "Configuration keys": each at most the larger one it lives in). */
  readonly pressureTimeoutMs: number;
  private readonly pressureAt: number;

  constructor(private readonly deps: AdmissionDeps) {
    const { limits, auth } = deps.config;
    this.connections = deps.connections ?? new LocalCounts({ max: limits.maxConnections, maxPerIp: limits.maxConnectionsPerIp });
    const maxPending = Math.min(limits.maxPendingAuth, limits.maxConnections);
    this.pendingAuth = deps.pendingAuth ?? new LocalCounts({ max: maxPending, maxPerIp: Math.min(limits.maxPendingAuthPerIp, maxPending) });
    this.pressureTimeoutMs = Math.min(auth.pressureTimeoutMs, auth.timeoutMs);
    this.pressureAt = limits.shedAtRatio * limits.maxConnections;
    const m = deps.metrics;
    this.gauges = { handshake: m.pendingHandshakes, pending: m.pendingAuth, authenticated: m.authenticatedConnections };
    // Overdue connections go even when no new handshake arrives to push them out.
    this.sweeper = setInterval(() => this.underPressure() && this.sweep(), Math.max(100, Math.min(1000, this.pressureTimeoutMs / 2)));
    this.sweeper.unref();
  }

  get log(): Logger {
    return this.deps.log;
  }

  /** Open connections (and handshakes holding a slot) at `limits.shedAtRatio` of `limits.maxConnections`. */
  underPressure(): boolean {
    return this.connections.total() >= this.pressureAt;
  }

  /** The auth timeout a connection opening now gets. */
  authTimeoutMs(): number {
    return this.underPressure() ? this.pressureTimeoutMs : this.deps.config.auth.timeoutMs;
  }

  /** Refuses every later handshake with 503 (shutdown). */
  stopAccepting(): void {
    this.accepting = false;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  /**
   * Runs the plan's guards and takes the budgets. A refusal is recorded here (one event, one
   * metric increment); the caller only writes it. A guard that throws is a 503 with
   * `handshake_error`, and whatever was taken is given back.
   */
  async admit(hs: HandshakeRequest, plan: AdmissionPlan): Promise<Admitted> {
    if (!this.accepting) return this.refused(hs, plan.transport, SHUTDOWN);
    let ticket: Ticket | undefined;
    try {
      const early = await runGuards(plan.before, hs);
      if (early) return this.refused(hs, plan.transport, early);
      const full = await this.takeSlot(hs.ip);
      if (full) return this.refused(hs, plan.transport, capacityRefusal(full));
      ticket = new Ticket(hs.ip, plan.transport, this);
      this.gauges.handshake.of(plan.transport).inc();
      const late = await runGuards(plan.after, hs);
      if (late) {
        ticket.release();
        return this.refused(hs, plan.transport, late);
      }
      if (plan.pendingAuth !== false && hs.identity === undefined) {
        const refusal = await this.takePending(ticket);
        if (refusal) {
          ticket.release();
          return this.refused(hs, plan.transport, refusal);
        }
      }
      if (this.underPressure()) this.sweep();
      return { ok: true, ticket };
    } catch (error) {
      ticket?.release();
      this.deps.log.error({ err: error }, 'handshake check failed');
      return this.refused(hs, plan.transport, GUARD_ERROR);
    }
  }

  /**
   * A request of an existing session (engine.io `sid`): the guards only, no budget (the session
   * holds its places). Resolves with the recorded refusal, if any.
   */
  async vet(hs: HandshakeRequest, guards: readonly HandshakeGuard[], transport: TransportLabel): Promise<HandshakeRefusal | undefined> {
    if (!this.accepting) return this.refused(hs, transport, SHUTDOWN).refusal;
    try {
      const refusal = await runGuards(guards, hs);
      return refusal ? this.refused(hs, transport, refusal).refusal : undefined;
    } catch (error) {
      this.deps.log.error({ err: error }, 'handshake check failed');
      return this.refused(hs, transport, GUARD_ERROR).refusal;
    }
  }

  /**
   * A refusal that comes before the guard order's rate step (an invalid upgrade, an unknown
   * path, polling while it is off): the handshake rate is spent first, and over it the answer is
   * 429. Resolves with the refusal to write, already recorded.
   */
  async refuseAnonymous(hs: Pick<HandshakeRequest, 'ip'>, refusal: HandshakeRefusal, transport: TransportLabel): Promise<HandshakeRefusal> {
    let final = refusal;
    try {
      const verdict = await this.deps.handshakeRate.consume(hs.ip);
      if (!verdict.ok) final = { reason: 'rate', event: 'handshake_rate_limited', retryAfterMs: verdict.retryAfterMs, detail: { refused: refusal.reason } };
    } catch (error) {
      // The request is refused either way; a broken limiter store only costs the 429.
      this.deps.log.error({ err: error }, 'handshake rate limiter failed');
    }
    return this.refused(hs, transport, final).refusal;
  }

  /** Records a refusal decided outside `admit` (an upgrade that timed out). */
  record(hs: Pick<HandshakeRequest, 'ip'>, refusal: HandshakeRefusal, transport: TransportLabel): HandshakeRefusal {
    return this.refused(hs, transport, refusal).refusal;
  }

  private refused(hs: Pick<HandshakeRequest, 'ip'>, transport: TransportLabel, refusal: HandshakeRefusal): { ok: false; refusal: HandshakeRefusal } {
    this.deps.metrics.handshakeRefusals.inc({ reason: refusal.reason });
    const detail: Record<string, unknown> = { status: rowOf(refusal.reason).status, ...(transport === 'ws' ? {} : { transport }), ...refusal.detail };
    this.deps.audit.emit(refusal.event, { ip: hs.ip, user: refusal.user, detail });
    return { ok: false, refusal };
  }

  /** A connection slot, or the scope that is full. At node capacity an overdue pending connection makes room. */
  private async takeSlot(ip: string): Promise<SlotScope | undefined> {
    let verdict = await this.connections.tryAcquire(ip);
    if (!verdict.ok && verdict.scope === 'node' && this.shedOne('capacity')) verdict = await this.connections.tryAcquire(ip);
    return verdict.ok ? undefined : verdict.scope;
  }

  private async takePending(ticket: Ticket): Promise<HandshakeRefusal | undefined> {
    let verdict = await this.pendingAuth.tryAcquire(ticket.ip);
    if (!verdict.ok && verdict.scope === 'node' && this.shedOne('budget')) verdict = await this.pendingAuth.tryAcquire(ticket.ip);
    if (!verdict.ok) return pendingAuthRefusal(verdict.scope, verdict.scope === 'node' ? this.untilOverdueMs() : this.pressureTimeoutMs);
    if (ticket.state === 'released') {
      this.pendingAuth.release(ticket.ip);
      return undefined;
    }
    ticket.pendingBudget = true;
    this.pending.add(ticket);
    return undefined;
  }

  /** The oldest open pending connection, if any. */
  private oldestOpen(): Ticket | undefined {
    for (const ticket of this.pending) if (ticket.state === 'pending' && ticket.evict) return ticket;
    return undefined;
  }

  private untilOverdueMs(): number {
    const oldest = this.oldestOpen();
    const left = oldest ? oldest.openedAt + this.pressureTimeoutMs - Date.now() : this.pressureTimeoutMs;
    return Math.max(1000, left);
  }

  /** Closes the oldest overdue pending connection; false when none is overdue. */
  private shedOne(why: ShedReason): boolean {
    const oldest = this.oldestOpen();
    if (!oldest || Date.now() - oldest.openedAt < this.pressureTimeoutMs) return false;
    this.shed(oldest, why);
    return true;
  }

  /** Closes every overdue pending connection (under pressure), oldest first. */
  private sweep(): void {
    const now = Date.now();
    for (const ticket of [...this.pending]) {
      if (ticket.state !== 'pending' || !ticket.evict) continue;
      if (now - ticket.openedAt < this.pressureTimeoutMs) break;
      this.shed(ticket, 'pressure');
    }
  }

  private shed(ticket: Ticket, why: ShedReason): void {
    const evict = ticket.evict!;
    this.deps.audit.emit('pending_auth_shed', { ip: ticket.ip, detail: { reason: why, ageMs: Date.now() - ticket.openedAt, transport: ticket.transport } });
    // Its places are free at once; the socket closes behind it and releases again (a no-op).
    ticket.release();
    evict(CLOSE.AUTH_TIMEOUT, 'authentication timeout');
  }

  /** TicketOwner: keeps the gauges and the budgets in step with every transition. */
  moved(ticket: Ticket, from: TicketState, to: TicketState): void {
    if (from !== 'released') this.gauges[from].of(ticket.transport).dec();
    if (to !== 'released') this.gauges[to].of(ticket.transport).inc();
    if ((to === 'authenticated' || to === 'released') && ticket.pendingBudget) {
      ticket.pendingBudget = false;
      this.pending.delete(ticket);
      this.pendingAuth.release(ticket.ip);
    }
    if (to === 'released') this.connections.release(ticket.ip);
  }
}

async function runGuards(guards: readonly HandshakeGuard[], hs: HandshakeRequest): Promise<HandshakeVerdict> {
  for (const guard of guards) {
    let verdict = guard.check(hs);
    if (verdict instanceof Promise) verdict = await verdict;
    if (verdict) return verdict;
  }
  return undefined;
}
