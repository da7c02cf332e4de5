/**
 * Keeps the stored security events within `audit.retentionDays` and `audit.maxRows` (contract
 * section 3 "Under attack"), on SQLite and PostgreSQL alike, off the hot path: a timer runs it
 * every `audit.pruneIntervalMs`, and it runs early once this node has created half its row budget.
 *
 * The bound holds at every moment, not only after a run: a run deletes down to `maxRows` minus a
 * headroom (a tenth, at least twice the number of event types), and between two completed runs
 * the audit may create at most the headroom less one row per event type of new per-source rows
 * (`mayCreateRow`); past that budget, or while a run is behind or failing, the audit aggregates
 * per type instead (at most one row per type a minute), which the rest of the headroom absorbs.
 *
 * Each store call deletes at most `PRUNE_BATCH` rows in one short transaction; a run makes at
 * most `MAX_BATCHES_PER_RUN` calls and yields to the event loop between them, then pauses. A
 * failed run is reported and retried at the next tick.
 */
import type { Store } from '../store/store.js';
import { SECURITY_EVENTS } from './events.js';

export interface AuditPrunerOptions {
  retentionDays: number;
  maxRows: number;
  intervalMs: number;
  onError(error: unknown): void;
  /** Told how many rows each run deleted (metrics, tests). */
  onPruned?: (deleted: number) => void;
}

const DAY_MS = 24 * 3600_000;
/** Rows deleted per store call: a few milliseconds of work. */
export const PRUNE_BATCH = 1000;
const MAX_BATCHES_PER_RUN = 20;
/** Per-type rows one minute can create while per-source rows are refused. */
const PER_TYPE_ROWS = Object.keys(SECURITY_EVENTS).length;
const RESUME_MS = 1000;

const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class AuditPruner {
  private readonly keep: number;
  private readonly budget: number;
  /** Rows created that no completed run has counted yet. */
  private outstanding = 0;
  /** The last run stopped at its batch budget or failed: the table may be over the bound. */
  private behind = true;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;
  private resume: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    private readonly options: AuditPrunerOptions,
  ) {
    const headroom = Math.min(Math.floor(options.maxRows / 2), Math.max(2 * PER_TYPE_ROWS, Math.floor(options.maxRows / 10)));
    this.keep = options.maxRows - headroom;
    this.budget = Math.max(1, headroom - PER_TYPE_ROWS);
    this.timer = setInterval(() => void this.run(), options.intervalMs);
    this.timer.unref();
  }

  /** Whether the audit may create a per-source row now (else it aggregates per type). */
  mayCreateRow(): boolean {
    return !this.behind && this.outstanding < this.budget;
  }

  /** One new row was created: prune early when rows pile up faster than the timer. */
  rowCreated(): void {
    if (++this.outstanding >= this.budget / 2) void this.run();
  }

  /** Runs now (or right after the run in progress); resolves when that run is over. */
  run(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    // Every row created so far was enqueued before this run's first delete, so the run counts it.
    const counted = this.outstanding;
    this.running = this.prune()
      .then((more) => {
        this.outstanding = Math.max(0, this.outstanding - counted);
        this.behind = more;
        // Still over the bound after a full run: go on after a pause that leaves the writer to others.
        if (more && !this.stopped) this.resume ??= setTimeout(() => ((this.resume = undefined), void this.run()), RESUME_MS).unref();
      })
      .catch((error: unknown) => this.options.onError(error))
      .finally(() => {
        this.running = undefined;
        if (this.again && !this.stopped) {
          this.again = false;
          void this.run();
        }
      });
    return this.running;
  }

  /** One bounded run; true when it stopped at its batch budget with rows left to delete. */
  private async prune(): Promise<boolean> {
    let total = 0;
    let more = false;
    for (let i = 0; i < MAX_BATCHES_PER_RUN && !this.stopped; i++) {
      const before = Date.now() - this.options.retentionDays * DAY_MS;
      const deleted = await this.store.pruneSecurityEvents({ before, keep: this.keep, limit: PRUNE_BATCH });
      total += deleted;
      more = deleted === PRUNE_BATCH;
      if (!more) break;
      await yieldToLoop();
    }
    this.options.onPruned?.(total);
    return more;
  }

  /** Stops the timer; resolves once a run in progress is over. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    if (this.resume) clearTimeout(this.resume);
    await this.running;
  }
}
