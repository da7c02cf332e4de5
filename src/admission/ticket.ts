/**
 * One admitted connection's hold on the admission budgets, from the moment its handshake takes a
 * connection slot until the connection is gone. Its state drives the gauges on `/metrics`:
 *
 *   handshake --opened()--> pending --authenticated()--> authenticated
 *        \                     \                             \
 *         `--------------------`-------- release() ----------`--> released
 *
 * Every transition happens at most once, so a release reached by several paths (the socket's
 * `close`, a refusal, a timeout, engine.io's `connection_error`) gives each place back once.
 */
import type { TransportLabel } from '../observability/metrics.js';

export type { TransportLabel };

export type TicketState = 'handshake' | 'pending' | 'authenticated' | 'released';

/** Closes an open, unauthenticated connection to make room (4408). */
export type Evict = (code: number, reason: string) => void;

export interface TicketOwner {
  moved(ticket: Ticket, from: TicketState, to: TicketState): void;
}

export class Ticket {
  private current: TicketState = 'handshake';
  /** When the connection opened (101, or engine.io's session): its age for shedding. */
  openedAt = 0;
  /** How to shed it while it is open and unauthenticated. */
  evict: Evict | undefined;
  /** It holds a place of the pending-auth budget (it had no early token). */
  pendingBudget = false;
  /** The upgrade timeout, cleared once the connection opens or goes. */
  deadline: NodeJS.Timeout | undefined;
  /** Run once when the connection opens (the upgrade's own bookkeeping lets go of the socket). */
  onOpened: (() => void) | undefined;

  constructor(
    readonly ip: string,
    readonly transport: TransportLabel,
    private readonly owner: TicketOwner,
  ) {}

  get state(): TicketState {
    return this.current;
  }

  /** The transport opened the connection; `evict` closes it if it must make room before it authenticates. */
  opened(evict: Evict | undefined): void {
    if (this.current !== 'handshake') return;
    this.clearDeadline();
    const onOpened = this.onOpened;
    this.onOpened = undefined;
    onOpened?.();
    this.openedAt = Date.now();
    this.evict = evict;
    this.move('pending');
  }

  /** The connection authenticated: it leaves the pending-auth budget and can never be shed. */
  authenticated(): void {
    if (this.current !== 'handshake' && this.current !== 'pending') return;
    this.evict = undefined;
    this.move('authenticated');
  }

  /** Gives every place back. Idempotent. */
  release(): void {
    if (this.current === 'released') return;
    this.clearDeadline();
    this.onOpened = undefined;
    this.evict = undefined;
    this.move('released');
  }

  /**
   * `release` as a listener (`socket.once('close', ticket.releaseOnClose)`), made on first use:
   * the raw WebSocket path releases from its shared close listener, so its tickets never need one.
   */
  get releaseOnClose(): () => void {
    return (this.releaser ??= () => this.release());
  }

  private releaser: (() => void) | undefined;

  private clearDeadline(): void {
    if (this.deadline === undefined) return;
    clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  private move(to: TicketState): void {
    const from = this.current;
    this.current = to;
    this.owner.moved(this, from, to);
  }
}
