/**
 * Collects the writes issued during one event-loop turn and commits them together: one
 * transaction per turn instead of one per write, which is what makes a durable store fast.
 * A promise settles only after its write has been committed (or has failed on its own).
 */
export interface BatchedWrite<T = unknown> {
  run(): T;
  resolve(value: T): void;
  reject(error: unknown): void;
  /**
   * The write only buffers its rows (a message append): the store writes them, many per
   * statement, before the next write that is not buffered and before the commit.
   */
  buffered?: boolean;
}

export class WriteBatcher {
  private pending: BatchedWrite[] = [];
  private scheduled = false;
  private batchStart = 0;
  /** Called after each commit with the time since the batch's first write was requested. */
  onCommit: ((ms: number, ops: number) => void) | undefined;
  private idle: Array<() => void> = [];

  constructor(
    /** Runs every op in one transaction; throws if the transaction as a whole failed. */
    private readonly inTransaction: (ops: readonly BatchedWrite[]) => unknown[],
    /** Runs one op in its own transaction, used to isolate a failure. */
    private readonly alone: (op: BatchedWrite) => unknown,
  ) {}

  enqueue<T>(run: () => T, buffered = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({ run, resolve, reject, buffered } as BatchedWrite);
      this.schedule();
    });
  }

  /** Like enqueue, for writes nobody waits on (audit rows): failures are reported, not thrown. */
  enqueueDetached(run: () => unknown, onError: (error: unknown) => void): void {
    this.pending.push({ run, resolve: noop, reject: onError });
    this.schedule();
  }

  get size(): number {
    return this.pending.length;
  }

  /** Resolves once every write enqueued so far is committed. */
  flush(): Promise<void> {
    if (this.pending.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Commits now, synchronously (shutdown path). */
  drainSync(): void {
    this.commit();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.batchStart = performance.now();
    setImmediate(() => this.commit());
  }

  private commit(): void {
    this.scheduled = false;
    const ops = this.pending;
    if (ops.length > 0) {
      this.pending = [];
      let results: unknown[] | undefined;
      try {
        results = this.inTransaction(ops);
      } catch {
        results = undefined;
      }
      this.onCommit?.(performance.now() - this.batchStart, ops.length);
      if (results) {
        for (let i = 0; i < ops.length; i++) ops[i]!.resolve(results[i]);
      } else {
        // One op broke the batch: commit each alone so only the faulty one fails.
        for (const op of ops) {
          let value: unknown;
          try {
            value = this.alone(op);
          } catch (error) {
            op.reject(error);
            continue;
          }
          op.resolve(value);
        }
      }
    }
    if (this.pending.length === 0) {
      const waiters = this.idle;
      this.idle = [];
      for (const w of waiters) w();
    } else {
      this.schedule();
    }
  }
}

function noop(): void {}
