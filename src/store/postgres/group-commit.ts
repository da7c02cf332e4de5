/**
 * Group commit for the PostgreSQL store. Writes issued in one event-loop turn are committed
 * together: one `BEGIN ... COMMIT` on one pooled client. One batch is in flight at a time; writes
 * issued while it commits form the next batch (the busier the node, the bigger the batches). If a
 * batch fails, each of its writes is retried in its own transaction so only the faulty one rejects.
 *
 * `seq` comes from the room row: `UPDATE rooms SET last_seq = last_seq + n ... RETURNING
 * last_seq` takes the row lock until commit, so concurrent batches (from this node or another)
 * get consecutive, gap-free ranges; the n appends to a room in one batch cost one update.
 */
import type pg from 'pg';
import type { PoolClient } from 'pg';
import { RoomGoneError } from '../errors.js';
import type { NewMessage, StoredMessage } from '../store.js';
import { isDatabaseError, isTransient, PostgresStoreError, sanitize } from './errors.js';
import { Q, query } from './queries.js';

export interface AppendOp {
  kind: 'append';
  message: NewMessage;
  body: Buffer;
  keyId: string | null;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface ExecOp {
  kind: 'exec';
  run(client: PoolClient): Promise<unknown>;
  /** Appends may not be moved across this op (it removes a room). */
  fence: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export type Op = AppendOp | ExecOp;
type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Batch {
  ops: Op[];
  firstAt: number;
  /** Resolves (never rejects) once every op of the batch has settled. */
  done: Promise<void>;
  settle(): void;
}

function newBatch(): Batch {
  let settle!: () => void;
  const done = new Promise<void>((resolve) => (settle = resolve));
  return { ops: [], firstAt: performance.now(), done, settle };
}

function noop(): void {}

export class GroupCommit {
  /** Collecting writes (the next batch). */
  private open: Batch | undefined;
  /** Committing now. */
  private running: Batch | undefined;
  private scheduled = false;
  private ended = false;

  constructor(
    private readonly pool: pg.Pool,
    /** Commit latency of each batch (request of its first write to commit), in ms. */
    private readonly onCommit: ((ms: number, ops: number) => void) | undefined,
  ) {}

  enqueue<T>(op: Omit<ExecOp, 'resolve' | 'reject' | 'kind' | 'fence'> & { fence?: boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.ended) return reject(new PostgresStoreError('store closed'));
      this.push({ kind: 'exec', run: op.run, fence: op.fence ?? false, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  push(op: Op): void {
    if (!this.open) this.open = newBatch();
    this.open.ops.push(op);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // setImmediate: every write of the current turn (and its microtasks) joins the batch.
    setImmediate(() => {
      this.scheduled = false;
      this.startBatch();
    });
  }

  private startBatch(): void {
    const batch = this.open;
    if (this.running || !batch) return;
    this.open = undefined;
    this.running = batch;
    void this.commit(batch).finally(() => {
      this.running = undefined;
      batch.settle();
      if (this.open) this.schedule();
    });
  }

  /** Refuses writes from now on; resolves once every write issued before has settled. */
  async close(): Promise<void> {
    this.ended = true;
    for (let pending = this.barrier(); pending; pending = this.barrier()) await pending;
  }

  get closed(): boolean {
    return this.ended;
  }

  /** The point every write issued so far has settled (undefined: nothing pending). */
  barrier(): Promise<void> | undefined {
    return this.open?.done ?? this.running?.done;
  }

  private async commit(batch: Batch): Promise<void> {
    const { ops } = batch;
    let results: Settled[] | undefined;
    let failure: unknown;
    try {
      results = await this.transaction(ops);
    } catch (error) {
      failure = error;
    }
    this.onCommit?.(performance.now() - batch.firstAt, ops.length);
    if (results) {
      for (let i = 0; i < ops.length; i++) settle(ops[i]!, results[i]!);
      return;
    }
    if (ops.length === 1 && !isTransient(failure)) {
      ops[0]!.reject(sanitize(failure));
      return;
    }
    // One op broke the batch (or it hit a deadlock): commit each alone so only the faulty one fails.
    for (const op of ops) {
      let attempt = 0;
      for (;;) {
        try {
          settle(op, (await this.transaction([op]))[0]!);
          break;
        } catch (error) {
          if (isTransient(error) && ++attempt < 3) continue;
          op.reject(sanitize(error));
          break;
        }
      }
    }
  }

  /** Runs ops in one transaction on one pooled client; throws when the transaction failed. */
  private async transaction(ops: readonly Op[]): Promise<Settled[]> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      try {
        const results = await this.runOps(client, ops);
        await client.query('COMMIT');
        return results;
      } catch (error) {
        if (isDatabaseError(error)) await client.query('ROLLBACK').catch(noop);
        throw error;
      }
    } catch (error) {
      // A network error leaves the connection in an unknown state: drop it from the pool.
      if (!isDatabaseError(error)) broken = error instanceof Error ? error : new Error('connection failed');
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Runs ops in order, except appends: those between two room deletions run together, at the
   * position of the first of them (moving an append earlier never changes its outcome, as no
   * other op affects `seq`), so a room gets one seq update per batch.
   */
  private async runOps(client: PoolClient, ops: readonly Op[]): Promise<Settled[]> {
    const out = new Array<Settled>(ops.length);
    let appendsDone = false;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (op.kind === 'append') {
        if (appendsDone) continue;
        appendsDone = true;
        const run: number[] = [];
        for (let j = i; j < ops.length; j++) {
          const o = ops[j]!;
          if (o.kind === 'append') run.push(j);
          else if (o.fence) break;
        }
        await this.appendRun(client, ops, run, out);
        continue;
      }
      if (op.fence) appendsDone = false;
      out[i] = { ok: true, value: await op.run(client) };
    }
    return out;
  }

  private async appendRun(client: PoolClient, ops: readonly Op[], indexes: readonly number[], out: Settled[]): Promise<void> {
    const counts = new Map<number, number>();
    for (const i of indexes) {
      const roomId = (ops[i] as AppendOp).message.roomId;
      counts.set(roomId, (counts.get(roomId) ?? 0) + 1);
    }
    let bumped: Array<{ id: number; last_seq: number }>;
    if (counts.size === 1) {
      const [roomId, n] = counts.entries().next().value!;
      bumped = (await query<{ id: number; last_seq: number }>(client, Q.bumpSeq, [roomId, n])).rows;
    } else {
      const ids = [...counts.keys()].sort((a, b) => a - b);
      bumped = (await query<{ id: number; last_seq: number }>(client, Q.bumpSeqs, [ids, ids.map((id) => counts.get(id)!)])).rows;
    }
    /** room id -> next seq to hand out. */
    const next = new Map<number, number>();
    for (const row of bumped) next.set(row.id, row.last_seq - counts.get(row.id)! + 1);
    const cols: unknown[][] = [[], [], [], [], [], [], [], [], []];
    for (const i of indexes) {
      const op = ops[i] as AppendOp;
      const m = op.message;
      const seq = next.get(m.roomId);
      if (seq === undefined) {
        out[i] = { ok: false, error: new RoomGoneError() };
        continue;
      }
      next.set(m.roomId, seq + 1);
      const values = [m.roomId, seq, m.id, m.userId, m.userName, op.body, op.keyId, m.ts, m.replyTo ?? null];
      for (let c = 0; c < values.length; c++) cols[c]!.push(values[c]);
      const stored: StoredMessage = {
        id: m.id,
        seq,
        roomName: m.roomName,
        userId: m.userId,
        userName: m.userName,
        text: m.text,
        ts: m.ts,
        replyTo: m.replyTo,
        deleted: false,
      };
      out[i] = { ok: true, value: stored };
    }
    if (cols[0]!.length > 0) await query(client, Q.insertMessages, cols);
  }
}

function settle(op: Op, result: Settled): void {
  if (result.ok) op.resolve(result.value);
  else op.reject(result.error);
}
