/**
 * PostgreSQL backend (node-postgres pool). Several Bulwark nodes may share one database.
 *
 * Writes issued in one event-loop turn are committed together: one `BEGIN ... COMMIT` on one
 * pooled client. One batch is in flight at a time; writes issued while it commits form the next
 * batch (group commit: the busier the node, the bigger the batches). If a batch fails, each of
 * its writes is retried in its own transaction so only the faulty one rejects.
 *
 * `seq` comes from the room row: `UPDATE rooms SET last_seq = last_seq + n ... RETURNING
 * last_seq` takes the row lock until commit, so concurrent batches (from this node or another)
 * get consecutive, gap-free ranges; the n appends to a room in one batch cost one update.
 *
 * Reads run on the pool, queued behind the writes issued before them (read-your-writes, like
 * the SQLite store). Errors leave this module as `PostgresStoreError`, whose message holds at
 * most an SQLSTATE or a network error code: never SQL text, parameters or the connection string.
 */
import { toMessage, toMessages, toRoom, type MessageRow, type RoomRow } from './rows.js';
import pg from 'pg';
import type { PoolClient, QueryResultRow, CustomTypesConfig } from 'pg';
import { POSTGRES_MIGRATIONS } from './migrations/postgres.js';
import { plainCodec, type TextCodec } from './text-codec.js';
import { RoomGoneError } from './errors.js';
import type {
  BanKind,
  BanRecord,
  RefreshTokenRecord,
  RevocationRecord,
  UserRecord,
  HistoryPage,
  HistoryQuery,
  MembershipState,
  NewMessage,
  RoomRecord,
  SecurityEventRecord,
  Store,
  StoredMessage,
} from './store.js';

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Schema for every table (created when missing); the server's search_path when unset. */
  schema?: string;
  /** Pool size. @default 10 */
  max?: number;
  codec?: TextCodec | undefined;
  onBackgroundError?: (error: unknown) => void;
  /** Commit latency of each write batch (request of its first write to commit), in ms. */
  onCommit?: (ms: number, ops: number) => void;
}

/** A database failure, stripped of anything that could leak SQL, data or credentials. */
export class PostgresStoreError extends Error {
  override name = 'PostgresStoreError';
  /** SQLSTATE (e.g. 23505) or network error code (e.g. ECONNREFUSED), when known. */
  readonly code: string | undefined;
  constructor(message: string, code?: string, cause?: unknown) {
    super(code ? `${message} (${code})` : message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

const SAFE_CODE = /^[A-Z0-9_]{2,32}$/;

function isDatabaseError(error: unknown): boolean {
  return error instanceof pg.DatabaseError;
}

function sanitize(error: unknown, what = 'database operation failed'): Error {
  if (error instanceof PostgresStoreError || error instanceof RoomGoneError) return error;
  const raw = (error as { code?: unknown } | null)?.code;
  const code = typeof raw === 'string' && SAFE_CODE.test(raw) ? raw : undefined;
  return new PostgresStoreError(isDatabaseError(error) ? what : 'database unavailable', code, error);
}

/** Deadlock or serialization failure: worth one more try. */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** BIGINT columns hold ms timestamps, ids and seqs: all well inside Number's exact range. */
const INT8_OID = 20;
const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/** Key of the session advisory lock held while migrating ("Bulwark" in ASCII, as a bigint). */
const MIGRATION_LOCK_KEY = '18706457182696043';
/** Transaction advisory lock that keeps revocation and ban ids committed in id order. */
const LOG_LOCK = 0x42756c77;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Text columns refuse NUL; audit fields carry attacker-chosen strings. */
function noNul(value: string | undefined): string | null {
  return value === undefined ? null : value.replace(/\0/g, '\uFFFD');
}

const MESSAGE_COLUMNS = 'id, seq, user_id, user_name, body, key_id, ts, reply_to, deleted';

/** Named statements: parsed once per pooled connection. */
const Q = {
  insertRoom: {
    name: 'bw_insert_room',
    text: `WITH r AS (
             INSERT INTO rooms (name, owner, visibility, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING RETURNING id
           ), m AS (
             INSERT INTO members (room_id, user_id, state) SELECT id, $2, 'member' FROM r
           )
           SELECT id FROM r`,
  },
  roomByName: { name: 'bw_room_by_name', text: 'SELECT id, name, owner, visibility, created_at FROM rooms WHERE name = $1' },
  deleteRoomMessages: { name: 'bw_delete_room_messages', text: 'DELETE FROM messages WHERE room_id = $1' },
  deleteRoom: { name: 'bw_delete_room', text: 'DELETE FROM rooms WHERE id = $1' },
  listRooms: {
    name: 'bw_list_rooms',
    text: `SELECT id, name, owner, visibility, created_at FROM rooms WHERE visibility = 'public'
           UNION
           SELECT r.id, r.name, r.owner, r.visibility, r.created_at FROM members m JOIN rooms r ON r.id = m.room_id
             WHERE m.user_id = $1 AND m.state IN ('member','invited')
           ORDER BY name LIMIT 1000`,
  },
  membership: { name: 'bw_membership', text: 'SELECT state FROM members WHERE room_id = $1 AND user_id = $2' },
  upsertMembership: {
    name: 'bw_upsert_membership',
    text: `INSERT INTO members (room_id, user_id, state) VALUES ($1, $2, $3)
           ON CONFLICT (room_id, user_id) DO UPDATE SET state = excluded.state`,
  },
  deleteMembership: { name: 'bw_delete_membership', text: 'DELETE FROM members WHERE room_id = $1 AND user_id = $2' },
  /** n appends to one room: one row lock, one range of seqs. */
  bumpSeq: { name: 'bw_bump_seq', text: 'UPDATE rooms SET last_seq = last_seq + $2 WHERE id = $1 RETURNING id, last_seq' },
  /**
   * Appends to several rooms: the rows are locked in id order (ORDER BY runs before FOR UPDATE),
   * so two nodes bumping the same rooms queue up instead of deadlocking.
   */
  bumpSeqs: {
    name: 'bw_bump_seqs',
    text: `WITH wanted AS (SELECT id, n FROM unnest($1::bigint[], $2::bigint[]) AS w(id, n)),
           locked AS (SELECT id FROM rooms WHERE id IN (SELECT id FROM wanted) ORDER BY id FOR NO KEY UPDATE)
           UPDATE rooms r SET last_seq = r.last_seq + w.n FROM wanted w, locked l
           WHERE r.id = w.id AND l.id = r.id
           RETURNING r.id, r.last_seq`,
  },
  insertMessages: {
    name: 'bw_insert_messages',
    text: `INSERT INTO messages (room_id, seq, id, user_id, user_name, body, key_id, ts, reply_to)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bytea[], $7::text[], $8::bigint[], $9::text[])`,
  },
  messageById: {
    name: 'bw_message_by_id',
    text: `SELECT r.name AS room_name, m.id, m.seq, m.user_id, m.user_name, m.body, m.key_id, m.ts, m.reply_to, m.deleted
           FROM messages m JOIN rooms r ON r.id = m.room_id WHERE m.id = $1 AND m.room_id = $2`,
  },
  markDeleted: {
    name: 'bw_mark_deleted',
    text: `UPDATE messages SET deleted = true, body = ''::bytea, key_id = NULL WHERE id = $1 AND room_id = $2`,
  },
  // One round trip per page: the room row (for its name) with a lateral range scan of the
  // (room_id, seq) primary key. No message rows: one row of NULLs. No room: no rows.
  pageLatest: {
    name: 'bw_page_latest',
    text: `SELECT r.name AS room_name, m.* FROM rooms r LEFT JOIN LATERAL (
             SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room_id = r.id ORDER BY seq DESC LIMIT $2
           ) m ON true WHERE r.id = $1`,
  },
  pageBefore: {
    name: 'bw_page_before',
    text: `SELECT r.name AS room_name, m.* FROM rooms r LEFT JOIN LATERAL (
             SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room_id = r.id AND seq < $2 ORDER BY seq DESC LIMIT $3
           ) m ON true WHERE r.id = $1`,
  },
  pageAfter: {
    name: 'bw_page_after',
    text: `SELECT r.name AS room_name, m.* FROM rooms r LEFT JOIN LATERAL (
             SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room_id = r.id AND seq > $2 ORDER BY seq ASC LIMIT $3
           ) m ON true WHERE r.id = $1`,
  },
  pageBetween: {
    name: 'bw_page_between',
    text: `SELECT r.name AS room_name, m.* FROM rooms r LEFT JOIN LATERAL (
             SELECT ${MESSAGE_COLUMNS} FROM messages WHERE room_id = r.id AND seq > $2 AND seq < $3 ORDER BY seq ASC LIMIT $4
           ) m ON true WHERE r.id = $1`,
  },
  insertEvent: {
    name: 'bw_insert_event',
    text: 'INSERT INTO security_events (ts, type, severity, ip, user_id, detail) VALUES ($1, $2, $3, $4, $5, $6)',
  },
  eventsSince: {
    name: 'bw_events_since',
    text: 'SELECT ts, type, severity, ip, user_id, detail FROM security_events WHERE ts >= $1 ORDER BY id ASC LIMIT $2',
  },
  insertUser: {
    name: 'bw_insert_user',
    text: 'INSERT INTO users (id, name, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING',
  },
  userById: { name: 'bw_user_by_id', text: 'SELECT id, name, password_hash, roles, created_at FROM users WHERE id = $1' },
  insertRefresh: { name: 'bw_insert_refresh', text: 'INSERT INTO refresh_tokens (hash, family, user_id, expires_at) VALUES ($1, $2, $3, $4)' },
  refreshByHash: {
    name: 'bw_refresh_by_hash',
    text: 'SELECT hash, family, user_id, expires_at, used_at, revoked FROM refresh_tokens WHERE hash = $1',
  },
  useRefresh: {
    name: 'bw_use_refresh',
    text: 'UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2 AND used_at IS NULL AND NOT revoked',
  },
  revokeFamily: { name: 'bw_revoke_family', text: 'UPDATE refresh_tokens SET revoked = true WHERE family = $1' },
  logLock: { name: 'bw_log_lock', text: 'SELECT pg_advisory_xact_lock($1::bigint)' },
  insertRevocation: { name: 'bw_insert_revocation', text: 'INSERT INTO revocations (jti, expires_at) VALUES ($1, $2)' },
  revocationsAfter: {
    name: 'bw_revocations_after',
    text: 'SELECT id, jti, expires_at FROM revocations WHERE id > $1 AND expires_at > $2 ORDER BY id LIMIT 10000',
  },
  insertBan: {
    name: 'bw_insert_ban',
    text: 'INSERT INTO bans (kind, value, until, level, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
  },
  bansAfter: {
    name: 'bw_bans_after',
    text: 'SELECT id, kind, value, until, level, reason, created_at FROM bans WHERE id > $1 ORDER BY id LIMIT 10000',
  },
} as const;

type Statement = { readonly name: string; readonly text: string };

interface Queryable {
  query<R extends QueryResultRow>(config: { name: string; text: string; values: unknown[] }): Promise<pg.QueryResult<R>>;
}

interface AppendOp {
  kind: 'append';
  message: NewMessage;
  body: Buffer;
  keyId: string | null;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

interface ExecOp {
  kind: 'exec';
  run(client: PoolClient): Promise<unknown>;
  /** Appends may not be moved across this op (it removes a room). */
  fence: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type Op = AppendOp | ExecOp;
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

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly codec: TextCodec;
  private readonly schema: string | undefined;
  private readonly onBackgroundError: (error: unknown) => void;
  private readonly onCommit: ((ms: number, ops: number) => void) | undefined;
  /** Collecting writes (the next batch). */
  private open: Batch | undefined;
  /** Committing now. */
  private running: Batch | undefined;
  private scheduled = false;
  private closed = false;

  /** Connects, migrates (under an advisory lock) and returns a ready store. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(options);
    try {
      await store.migrate();
    } catch (error) {
      await store.pool.end().catch(noop);
      throw sanitize(error, 'PostgreSQL migration failed');
    }
    return store;
  }

  /** Prefer `PostgresStore.open`: the constructor does not migrate. */
  constructor(options: PostgresStoreOptions) {
    if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) throw new PostgresStoreError('invalid schema name');
    this.schema = options.schema;
    this.codec = options.codec ?? plainCodec;
    this.onBackgroundError = options.onBackgroundError ?? noop;
    this.onCommit = options.onCommit;
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.max ?? 10,
      connectionTimeoutMillis: 10_000,
      idleTimeoutMillis: 30_000,
      types,
      application_name: 'bulwark',
      ...(this.schema ? { options: `-c search_path=${this.schema}` } : {}),
    });
    // An idle client losing its connection must not crash the process.
    this.pool.on('error', (error) => this.onBackgroundError(sanitize(error)));
  }

  private async migrate(): Promise<void> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
      try {
        if (this.schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        await client.query('CREATE TABLE IF NOT EXISTS bulwark_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
        const { rows } = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM bulwark_migrations');
        for (let v = rows[0]!.v; v < POSTGRES_MIGRATIONS.length; v++) {
          await client.query('BEGIN');
          try {
            await client.query(POSTGRES_MIGRATIONS[v]!);
            await client.query('INSERT INTO bulwark_migrations (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK').catch(noop);
            throw error;
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(noop);
      }
    } catch (error) {
      if (!isDatabaseError(error)) broken = error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  // ---------------------------------------------------------------- write batching

  private enqueue<T>(op: Omit<ExecOp, 'resolve' | 'reject' | 'kind' | 'fence'> & { fence?: boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) return reject(new PostgresStoreError('store closed'));
      this.push({ kind: 'exec', run: op.run, fence: op.fence ?? false, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  private push(op: Op): void {
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

  /** The point every write issued so far has settled (undefined: nothing pending). */
  private barrier(): Promise<void> | undefined {
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

  /** Reads wait for the writes issued before them, then run on the pool. */
  private async read<T>(fn: (db: Queryable) => Promise<T>): Promise<T> {
    const pending = this.barrier();
    if (pending) await pending;
    try {
      return await fn(this.pool);
    } catch (error) {
      throw sanitize(error);
    }
  }

  // ---------------------------------------------------------------- rooms and memberships

  createRoom(room: Omit<RoomRecord, 'id'>): Promise<RoomRecord | null> {
    return this.enqueue({
      run: async (c) => {
        const { rows } = await query<{ id: number }>(c, Q.insertRoom, [room.name, room.owner, room.visibility, room.createdAt]);
        return rows[0] ? { id: rows[0].id, ...room } : null;
      },
    });
  }

  getRoom(name: string): Promise<RoomRecord | undefined> {
    return this.read(async (db) => {
      const row = (await query<RoomRow>(db, Q.roomByName, [name])).rows[0];
      return row && toRoom(row);
    });
  }

  deleteRoom(roomId: number): Promise<void> {
    return this.enqueue({
      fence: true,
      run: async (c) => {
        await query(c, Q.deleteRoomMessages, [roomId]);
        await query(c, Q.deleteRoom, [roomId]);
      },
    });
  }

  listRooms(userId: string): Promise<RoomRecord[]> {
    return this.read(async (db) => (await query<RoomRow>(db, Q.listRooms, [userId])).rows.map(toRoom));
  }

  getMembership(roomId: number, userId: string): Promise<MembershipState | undefined> {
    return this.read(async (db) => (await query<{ state: MembershipState }>(db, Q.membership, [roomId, userId])).rows[0]?.state);
  }

  setMembership(roomId: number, userId: string, state: MembershipState): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.upsertMembership, [roomId, userId, state]);
      },
    });
  }

  removeMembership(roomId: number, userId: string): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.deleteMembership, [roomId, userId]);
      },
    });
  }

  // ---------------------------------------------------------------- messages

  appendMessage(message: NewMessage): Promise<StoredMessage> {
    return new Promise<StoredMessage>((resolve, reject) => {
      if (this.closed) return reject(new PostgresStoreError('store closed'));
      // Encrypt before the batch so the transaction holds its row locks as briefly as possible.
      const { body, keyId } = this.codec.encode(message.text, message.id);
      this.push({ kind: 'append', message, body, keyId, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  getMessage(roomId: number, messageId: string): Promise<StoredMessage | undefined> {
    return this.read(async (db) => {
      const row = (await query<MessageRow & { room_name: string }>(db, Q.messageById, [messageId, roomId])).rows[0];
      return row && toMessage(row, row.room_name, this.codec);
    });
  }

  deleteMessage(roomId: number, messageId: string): Promise<boolean> {
    return this.enqueue({ run: async (c) => ((await query(c, Q.markDeleted, [messageId, roomId])).rowCount ?? 0) > 0 });
  }

  history(roomId: number, query_: HistoryQuery): Promise<HistoryPage> {
    return this.read(async (db) => {
      const probe = query_.limit + 1;
      let result: pg.QueryResult<Partial<MessageRow> & { room_name: string }>;
      let descending = false;
      if (query_.after !== undefined && query_.before !== undefined) {
        result = await query(db, Q.pageBetween, [roomId, query_.after, query_.before, probe]);
      } else if (query_.after !== undefined) {
        result = await query(db, Q.pageAfter, [roomId, query_.after, probe]);
      } else if (query_.before !== undefined) {
        result = await query(db, Q.pageBefore, [roomId, query_.before, probe]);
        descending = true;
      } else {
        result = await query(db, Q.pageLatest, [roomId, probe]);
        descending = true;
      }
      const first = result.rows[0];
      if (!first) return { messages: [], hasMore: false };
      const rows = result.rows.filter((r) => r.id !== null && r.id !== undefined) as MessageRow[];
      const hasMore = rows.length > query_.limit;
      if (hasMore) rows.length = query_.limit;
      if (descending) rows.reverse();
      return { messages: await toMessages(rows, first.room_name, this.codec), hasMore };
    });
  }

  // ---------------------------------------------------------------- security events

  recordSecurityEvent(event: SecurityEventRecord): void {
    if (this.closed) return;
    try {
      const values = [event.ts, noNul(event.type), event.severity, noNul(event.ip), noNul(event.user), event.detail ? JSON.stringify(event.detail) : null];
      this.push({
        kind: 'exec',
        fence: false,
        run: async (c) => {
          await query(c, Q.insertEvent, values);
        },
        resolve: noop,
        reject: (error) => this.onBackgroundError(sanitize(error)),
      });
    } catch (error) {
      // e.g. a detail that JSON cannot encode: reported, never thrown into the caller.
      this.onBackgroundError(error);
    }
  }

  listSecurityEvents(sinceTs: number, limit: number): Promise<SecurityEventRecord[]> {
    return this.read(async (db) => {
      const { rows } = await query<{
        ts: number;
        type: string;
        severity: SecurityEventRecord['severity'];
        ip: string | null;
        user_id: string | null;
        detail: string | null;
      }>(db, Q.eventsSince, [sinceTs, limit]);
      return rows.map((r) => ({
        ts: r.ts,
        type: r.type,
        severity: r.severity,
        ip: r.ip ?? undefined,
        user: r.user_id ?? undefined,
        detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : undefined,
      }));
    });
  }

  // ---------------------------------------------------------------- accounts

  createUser(user: UserRecord): Promise<boolean> {
    return this.enqueue({
      run: async (c) => ((await query(c, Q.insertUser, [user.id, user.name, user.passwordHash, JSON.stringify(user.roles), user.createdAt])).rowCount ?? 0) > 0,
    });
  }

  getUser(id: string): Promise<UserRecord | undefined> {
    return this.read(async (db) => {
      const row = (await query<{ id: string; name: string; password_hash: string; roles: string; created_at: number }>(db, Q.userById, [id])).rows[0];
      return row && { id: row.id, name: row.name, passwordHash: row.password_hash, roles: JSON.parse(row.roles) as string[], createdAt: row.created_at };
    });
  }

  insertRefreshToken(token: Omit<RefreshTokenRecord, 'usedAt' | 'revoked'>): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.insertRefresh, [token.hash, token.family, token.userId, token.expiresAt]);
      },
    });
  }

  getRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined> {
    return this.read(async (db) => {
      const row = (await query<{ hash: string; family: string; user_id: string; expires_at: number; used_at: number | null; revoked: boolean }>(db, Q.refreshByHash, [hash]))
        .rows[0];
      return row && { hash: row.hash, family: row.family, userId: row.user_id, expiresAt: row.expires_at, usedAt: row.used_at, revoked: row.revoked };
    });
  }

  useRefreshToken(hash: string, at: number): Promise<boolean> {
    // The row lock makes this atomic across nodes: of two racing uses, exactly one updates.
    return this.enqueue({ run: async (c) => ((await query(c, Q.useRefresh, [at, hash])).rowCount ?? 0) > 0 });
  }

  revokeRefreshFamily(family: string): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.revokeFamily, [family]);
      },
    });
  }

  // ---------------------------------------------------------------- revocation and ban logs

  /*
   * Nodes poll these logs by id, so ids must become visible in id order: an id taken by a
   * transaction that commits after a higher one would be skipped forever. The transaction lock
   * serializes inserters from id allocation to commit.
   */

  addRevocation(jti: string, expiresAt: number): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.logLock, [LOG_LOCK]);
        await query(c, Q.insertRevocation, [jti, expiresAt]);
      },
    });
  }

  revocationsAfter(afterId: number, now: number): Promise<RevocationRecord[]> {
    return this.read(async (db) => {
      const { rows } = await query<{ id: number; jti: string; expires_at: number }>(db, Q.revocationsAfter, [afterId, now]);
      return rows.map((r) => ({ id: r.id, jti: r.jti, expiresAt: r.expires_at }));
    });
  }

  addBan(ban: Omit<BanRecord, 'id'>): Promise<BanRecord> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.logLock, [LOG_LOCK]);
        const { rows } = await query<{ id: number }>(c, Q.insertBan, [ban.kind, ban.value, ban.until, ban.level, noNul(ban.reason), ban.createdAt]);
        return { id: rows[0]!.id, ...ban };
      },
    });
  }

  bansAfter(afterId: number): Promise<BanRecord[]> {
    return this.read(async (db) => {
      const { rows } = await query<{
        id: number;
        kind: BanKind;
        value: string;
        until: number;
        level: number;
        reason: string;
        created_at: number;
      }>(db, Q.bansAfter, [afterId]);
      return rows.map((r) => ({ id: r.id, kind: r.kind, value: r.value, until: r.until, level: r.level, reason: r.reason, createdAt: r.created_at }));
    });
  }

  // ---------------------------------------------------------------- lifecycle

  async ping(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
    } catch (error) {
      throw sanitize(error);
    }
  }

  flush(): Promise<void> {
    return this.barrier() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Writes issued before close commit; later ones are refused.
    for (let pending = this.barrier(); pending; pending = this.barrier()) await pending;
    await this.pool.end();
  }
}

function settle(op: Op, result: Settled): void {
  if (result.ok) op.resolve(result.value);
  else op.reject(result.error);
}

function query<R extends QueryResultRow = QueryResultRow>(db: Queryable, statement: Statement, values: unknown[]): Promise<pg.QueryResult<R>> {
  return db.query<R>({ name: statement.name, text: statement.text, values });
}
