/**
 * SQLite backend (better-sqlite3): WAL journal, prepared statements, one transaction per
 * event-loop turn for writes. Reads run synchronously on the caller's turn; they are index
 * range scans measured in microseconds.
 */
import {
  EVENT_COLUMNS,
  eventFilterSql,
  eventFilterValues,
  eventValues,
  toMessage,
  toMessages,
  toRoom,
  toSecurityEvent,
  toStoredEvent,
  toApiKey,
  type ApiKeyRow,
  type EventRow,
  type MessageRow,
  type RoomRow,
  type StoredEventRow,
  type UnreadableHook,
} from './rows.js';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ensurePrivateDir, ensurePrivateFile, tighten } from './private-files.js';
import type { Statement, Database as Db } from 'better-sqlite3';
import { SQLITE_MIGRATIONS } from './migrations/sqlite.js';
import { plainCodec, type EncodedText, type TextCodec } from './text-codec.js';
import { WriteBatcher, type BatchedWrite } from './write-batcher.js';
import { MessageRows, messageInsertSql, ROWS_PER_STATEMENT } from './message-rows.js';
import { SqliteCheckpointer } from './sqlite-checkpointer.js';
import { RoomGoneError } from './errors.js';
import type {
  BanKind,
  BanRecord,
  InviteRecord,
  ApiKeyRecord,
  RefreshTokenRecord,
  RevocationKind,
  RevocationRecord,
  UserChanges,
  UserQuery,
  UserRecord,
  HistoryPage,
  HistoryQuery,
  KeyCheckRecord,
  KeyKind,
  MembershipState,
  PruneOptions,
  NewMessage,
  RoomPage,
  RoomRecord,
  SecurityEventCount,
  SecurityEventQuery,
  SecurityEventSearch,
  SecurityEventRecord,
  Store,
  StoredSecurityEvent,
  StoredMessage,
} from './store.js';

interface UserRow {
  id: string;
  name: string;
  password_hash: string;
  roles: string;
  created_at: number;
  disabled: number;
}

function toUser(row: UserRow): UserRecord {
  return { id: row.id, name: row.name, passwordHash: row.password_hash, roles: JSON.parse(row.roles) as string[], createdAt: row.created_at, disabled: row.disabled === 1 };
}

interface InviteRow {
  id: string;
  hash: string;
  created_by: string;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by: string | null;
}

function toInvite(row: InviteRow): InviteRecord {
  return { id: row.id, hash: row.hash, createdBy: row.created_by, createdAt: row.created_at, expiresAt: row.expires_at, usedAt: row.used_at, usedBy: row.used_by };
}

const API_KEY_COLUMNS = 'id, name, hash, scopes, created_at, expires_at, last_used_at, revoked_at, uses';

const SQLITE_EVENT_FILTER = eventFilterSql((name) => `@${name}`, { ts: 'ts', severity: "instr(@severities, ',' || severity || ',')" });

interface KeyCheckRow {
  kind: KeyKind;
  key_id: string;
  check_value: string;
  created_at: number;
}

/** The filters of `querySecurityEvents`: a null parameter means "any". */
const EVENT_FILTER = `FROM security_events
  WHERE ts >= @since AND id > @afterId
    AND (@type IS NULL OR type = @type) AND (@user IS NULL OR user_id = @user) AND (@ip IS NULL OR ip = @ip)
    AND (@severities IS NULL OR severity IN (SELECT value FROM json_each(@severities)))`;

export interface SqliteStoreOptions {
  /** File path, or ':memory:'. */
  path: string;
  codec?: TextCodec;
  onBackgroundError?: (error: unknown) => void;
  /** Commit latency of each write batch (request of its first write to commit), in ms. */
  onCommit?: (ms: number, ops: number) => void;
  /** Rows read whose text could not be decrypted (returned as unavailable). */
  onUnreadable?: UnreadableHook;
  /**
   * WAL checkpoints run on a worker thread every this many ms (see sqlite-checkpointer.ts);
   * 0 leaves them to SQLite, inside commits. Default 500. Not used for ':memory:'.
   */
  checkpointIntervalMs?: number;
  /** With the thread: the writer still checkpoints by itself past this many WAL pages. Default 16,384 (64 MB). */
  writerCheckpointPages?: number;
}

/** A page row as `raw` statements return it, in the column order of the page queries (the body as text: see PAGE_COLUMNS). */
type RawPageRow = [string, number, string, string, string, string | null, number, string | null, number, number | null];

/**
 * The columns of a history page. The body comes back as a string, never a BLOB: the plain text
 * when the row has no key, else the ciphertext in hex (rows.ts `MessageRow.body`). better-sqlite3
 * makes each BLOB a Buffer with its own backing store, and a page of 100 of them cost the main
 * thread 383 µs and a scavenge every ~35 pages against 264 µs and half the collections as text
 * (measured on a 1,000,000-message room); the decrypt thread turns hex back into bytes.
 */
const PAGE_COLUMNS = 'id, seq, user_id, user_name, CASE WHEN key_id IS NULL THEN CAST(body AS TEXT) ELSE hex(body) END, key_id, ts, reply_to, deleted, edited_at';

function pageRow(r: RawPageRow): MessageRow {
  return { id: r[0], seq: r[1], user_id: r[2], user_name: r[3], body: r[4], key_id: r[5], ts: r[6], reply_to: r[7], deleted: r[8], edited_at: r[9] };
}

/** The writer checkpoints by itself only past this many WAL pages (64 MB): the safety net. */
const DEFAULT_WRITER_CHECKPOINT_PAGES = 16_384;
/** A WAL file larger than this is truncated back to it when it restarts. */
const WAL_SIZE_LIMIT = 64 * 1024 * 1024;
const DEFAULT_CHECKPOINT_INTERVAL_MS = 500;

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Db;
  private readonly codec: TextCodec;
  private readonly batcher: WriteBatcher;
  private readonly onBackgroundError: (error: unknown) => void;
  private readonly onUnreadable: UnreadableHook | undefined;
  private readonly checkpointer: SqliteCheckpointer | undefined;
  private closed = false;
  /** room id -> last seq assigned in the current transaction. */
  private readonly seqs = new Map<number, number>();
  /** Messages appended in the running transaction, not yet inserted. */
  private readonly rows: MessageRows;
  private readonly sql: {
    insertRoom: Statement;
    roomByName: Statement;
    deleteRoom: Statement;
    deleteRoomMessages: Statement;
    listRooms: Statement;
    listRoomsPage: Statement;
    ownedRooms: Statement;
    membership: Statement;
    upsertMembership: Statement;
    deleteMembership: Statement;
    lastSeq: Statement;
    setLastSeq: Statement;
    roomNameById: Statement;
    insertMessage: Statement;
    messageById: Statement;
    editMessage: Statement;
    markDeleted: Statement;
    pageLatest: Statement;
    pageBefore: Statement;
    pageAfter: Statement;
    pageBetween: Statement;
    insertEvent: Statement;
    eventsSince: Statement;
    queryEvents: Statement;
    changedEvents: Statement;
    countEventsBy: Statement;
    eventsNewest: Statement;
    eventsOldest: Statement;
    deleteExpiredEvents: Statement;
    countEvents: Statement;
    deleteOldestEvents: Statement;
    insertUser: Statement;
    userById: Statement;
    listUsers: Statement;
    setRoles: Statement;
    setDisabled: Statement;
    setPassword: Statement;
    revokeUserRefresh: Statement;
    insertInvite: Statement;
    listInvites: Statement;
    claimInvite: Statement;
    releaseInvite: Statement;
    revokeInvite: Statement;
    insertApiKey: Statement;
    apiKeyByHash: Statement;
    listApiKeys: Statement;
    revokeApiKey: Statement;
    recordApiKeyUse: Statement;
    insertRefresh: Statement;
    refreshByHash: Statement;
    useRefresh: Statement;
    revokeFamily: Statement;
    insertRevocation: Statement;
    revocationsAfter: Statement;
    insertBan: Statement;
    bansAfter: Statement;
    claimKeyCheck: Statement;
    replaceKeyCheck: Statement;
    keyCheck: Statement;
    sampleEncrypted: Statement;
  };

  constructor(options: SqliteStoreOptions) {
    if (options.path !== ':memory:') {
      ensurePrivateDir(dirname(options.path));
      ensurePrivateFile(options.path);
      for (const suffix of ['-wal', '-shm']) tighten(options.path + suffix, 0o600);
    }
    this.db = new Database(options.path);
    this.codec = options.codec ?? plainCodec;
    this.onBackgroundError = options.onBackgroundError ?? (() => {});
    this.onUnreadable = options.onUnreadable;
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash; only an OS crash can lose the last turns.
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    // 16 MB of hot pages (not 2 MB): the index's inner pages stay cached for random history pages.
    // Not 64 MB: the cache fills with new pages at the write rate and stays full, so a larger one
    // is resident memory that grows for an hour at 150 msgs/s (the soak); history pages on a
    // 200,000-message room cost the same CPU with 16 and 64 MB (0.84-0.91 ms per page of 100).
    this.db.pragma('cache_size = -16384');
    this.migrate();
    const interval = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    if (options.path !== ':memory:' && interval > 0) {
      this.db.pragma(`wal_autocheckpoint = ${Math.max(1, Math.floor(options.writerCheckpointPages ?? DEFAULT_WRITER_CHECKPOINT_PAGES))}`);
      this.db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT}`);
      this.checkpointer = new SqliteCheckpointer({ path: options.path, intervalMs: interval, onError: (error) => this.onBackgroundError(error) });
    }
    const db = this.db;
    this.sql = {
      insertRoom: db.prepare('INSERT INTO rooms (name, owner, visibility, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO NOTHING RETURNING id'),
      roomByName: db.prepare('SELECT id, name, owner, visibility, created_at FROM rooms WHERE name = ?'),
      deleteRoom: db.prepare('DELETE FROM rooms WHERE id = ?'),
      deleteRoomMessages: db.prepare('DELETE FROM messages WHERE room_id = ?'),
      listRooms: db.prepare(
        `SELECT id, name, owner, visibility, created_at FROM rooms WHERE visibility = 'public'
         UNION
         SELECT r.id, r.name, r.owner, r.visibility, r.created_at FROM members m JOIN rooms r ON r.id = m.room_id
           WHERE m.user_id = ? AND m.state IN ('member','invited')
         ORDER BY name LIMIT 1000`,
      ),
      // Each half is cut to the page before the union, so a page costs two short index range scans.
      listRoomsPage: db.prepare(
        `SELECT * FROM (SELECT id, name, owner, visibility, created_at FROM rooms
             WHERE visibility = 'public' AND name > @after AND instr(lower(name), @filter) > 0 ORDER BY name LIMIT @limit)
         UNION
         SELECT * FROM (SELECT r.id, r.name, r.owner, r.visibility, r.created_at FROM members m JOIN rooms r ON r.id = m.room_id
             WHERE m.user_id = @user AND m.state IN ('member','invited') AND r.name > @after AND instr(lower(r.name), @filter) > 0 ORDER BY r.name LIMIT @limit)
         ORDER BY name LIMIT @limit`,
      ),
      ownedRooms: db.prepare('SELECT count(*) FROM rooms WHERE owner = ?').pluck(),
      membership: db.prepare('SELECT state FROM members WHERE room_id = ? AND user_id = ?').pluck(),
      upsertMembership: db.prepare('INSERT INTO members (room_id, user_id, state) VALUES (?, ?, ?) ON CONFLICT(room_id, user_id) DO UPDATE SET state = excluded.state'),
      deleteMembership: db.prepare('DELETE FROM members WHERE room_id = ? AND user_id = ?'),
      lastSeq: db.prepare('SELECT last_seq FROM rooms WHERE id = ?').pluck(),
      setLastSeq: db.prepare('UPDATE rooms SET last_seq = ? WHERE id = ?'),
      roomNameById: db.prepare('SELECT name FROM rooms WHERE id = ?').pluck(),
      insertMessage: db.prepare(messageInsertSql(1)),
      messageById: db.prepare('SELECT id, seq, user_id, user_name, body, key_id, ts, reply_to, deleted, edited_at FROM messages WHERE id = ? AND room_id = ?'),
      editMessage: db.prepare('UPDATE messages SET body = ?, key_id = ?, edited_at = ? WHERE id = ? AND room_id = ? AND deleted = 0'),
      markDeleted: db.prepare("UPDATE messages SET deleted = 1, body = x'', key_id = NULL WHERE id = ? AND room_id = ?"),
      // Pages come back as arrays (`raw`): better-sqlite3 builds a row object through the V8 API,
      // which cost 30 % of a page's read (583 -> 402 µs per 101 rows measured); see pageRow.
      pageLatest: db.prepare(`SELECT ${PAGE_COLUMNS} FROM messages WHERE room_id = ? ORDER BY seq DESC LIMIT ?`).raw(true),
      pageBefore: db.prepare(`SELECT ${PAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`).raw(true),
      pageAfter: db.prepare(`SELECT ${PAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq > ? ORDER BY seq ASC LIMIT ?`).raw(true),
      pageBetween: db.prepare(`SELECT ${PAGE_COLUMNS} FROM messages WHERE room_id = ? AND seq > ? AND seq < ? ORDER BY seq ASC LIMIT ?`).raw(true),
      insertEvent: db.prepare(
        `INSERT INTO security_events (ts, type, severity, ip, user_id, detail, count, last_ts, agg_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(agg_key) DO UPDATE SET count = count + excluded.count, last_ts = max(coalesce(last_ts, ts), excluded.last_ts)`,
      ),
      eventsSince: db.prepare(`SELECT ${EVENT_COLUMNS} FROM security_events WHERE ts >= ? ORDER BY id ASC LIMIT ?`),
      queryEvents: db.prepare(
        `SELECT id, ${EVENT_COLUMNS} FROM security_events WHERE ${SQLITE_EVENT_FILTER}
         AND (ts < @bts OR (ts = @bts AND id < @bid)) ORDER BY ts DESC, id DESC LIMIT @limit`,
      ),
      // An aggregated row changes at most a minute after its first occurrence: the ts index bounds the scan.
      changedEvents: db.prepare(
        `SELECT id, ${EVENT_COLUMNS} FROM security_events WHERE ${SQLITE_EVENT_FILTER}
         AND ts > @after - 60000 AND coalesce(last_ts, ts) > @after ORDER BY coalesce(last_ts, ts), id LIMIT @limit`,
      ),
      countEventsBy: db.prepare(`SELECT type, severity, sum(count) AS count FROM security_events WHERE ${SQLITE_EVENT_FILTER} GROUP BY type, severity`),
      deleteExpiredEvents: db.prepare('DELETE FROM security_events WHERE id IN (SELECT id FROM security_events WHERE ts < ? ORDER BY ts LIMIT ?)'),
      countEvents: db.prepare('SELECT count(*) FROM security_events').pluck(),
      deleteOldestEvents: db.prepare('DELETE FROM security_events WHERE id IN (SELECT id FROM security_events ORDER BY id LIMIT ?)'),
      eventsNewest: db.prepare(`SELECT id, ${EVENT_COLUMNS} ${EVENT_FILTER} ORDER BY id DESC LIMIT @limit`),
      eventsOldest: db.prepare(`SELECT id, ${EVENT_COLUMNS} ${EVENT_FILTER} ORDER BY id ASC LIMIT @limit`),
      insertUser: db.prepare('INSERT INTO users (id, name, password_hash, roles, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING'),
      userById: db.prepare('SELECT id, name, password_hash, roles, created_at, disabled FROM users WHERE id = ?'),
      listUsers: db.prepare('SELECT id, name, password_hash, roles, created_at, disabled FROM users WHERE id > ? AND instr(name, ?) > 0 ORDER BY id LIMIT ?'),
      setRoles: db.prepare('UPDATE users SET roles = ? WHERE id = ?'),
      setDisabled: db.prepare('UPDATE users SET disabled = ? WHERE id = ?'),
      setPassword: db.prepare('UPDATE users SET password_hash = ? WHERE id = ?'),
      revokeUserRefresh: db.prepare('UPDATE refresh_tokens SET revoked = 1 WHERE user_id = ? AND revoked = 0'),
      insertInvite: db.prepare('INSERT INTO invites (id, hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      listInvites: db.prepare('SELECT id, hash, created_by, created_at, expires_at, used_at, used_by FROM invites ORDER BY created_at DESC, id LIMIT ?'),
      claimInvite: db.prepare('UPDATE invites SET used_at = ?, used_by = ? WHERE hash = ? AND used_at IS NULL AND expires_at > ?'),
      releaseInvite: db.prepare('UPDATE invites SET used_at = NULL, used_by = NULL WHERE hash = ?'),
      revokeInvite: db.prepare('UPDATE invites SET expires_at = 0 WHERE id = ? AND used_at IS NULL AND expires_at > 0'),
      insertApiKey: db.prepare('INSERT INTO api_keys (id, name, hash, scopes, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)'),
      apiKeyByHash: db.prepare(`SELECT ${API_KEY_COLUMNS} FROM api_keys WHERE hash = ?`),
      listApiKeys: db.prepare(`SELECT ${API_KEY_COLUMNS} FROM api_keys ORDER BY created_at DESC, id LIMIT ?`),
      revokeApiKey: db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      recordApiKeyUse: db.prepare('UPDATE api_keys SET uses = uses + ?, last_used_at = max(coalesce(last_used_at, 0), ?) WHERE id = ?'),
      insertRefresh: db.prepare('INSERT INTO refresh_tokens (hash, family, user_id, expires_at) VALUES (?, ?, ?, ?)'),
      refreshByHash: db.prepare('SELECT hash, family, user_id, expires_at, used_at, revoked FROM refresh_tokens WHERE hash = ?'),
      useRefresh: db.prepare('UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND revoked = 0'),
      revokeFamily: db.prepare('UPDATE refresh_tokens SET revoked = 1 WHERE family = ?'),
      insertRevocation: db.prepare('INSERT INTO revocations (jti, expires_at, kind, at) VALUES (?, ?, ?, ?)'),
      revocationsAfter: db.prepare('SELECT id, jti, expires_at, kind, at FROM revocations WHERE id > ? AND expires_at > ? ORDER BY id LIMIT 10000'),
      insertBan: db.prepare('INSERT INTO bans (kind, value, until, level, reason, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id'),
      bansAfter: db.prepare('SELECT id, kind, value, until, level, reason, created_at FROM bans WHERE id > ? ORDER BY id LIMIT 10000'),
      claimKeyCheck: db.prepare('INSERT INTO key_checks (kind, key_id, check_value, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(kind, key_id) DO NOTHING'),
      replaceKeyCheck: db.prepare(
        'INSERT INTO key_checks (kind, key_id, check_value, created_at) VALUES (?, ?, ?, ?) ON CONFLICT(kind, key_id) DO UPDATE SET check_value = excluded.check_value, created_at = excluded.created_at',
      ),
      keyCheck: db.prepare('SELECT kind, key_id, check_value, created_at FROM key_checks WHERE kind = ? AND key_id = ?'),
      sampleEncrypted: db.prepare('SELECT id, body, key_id FROM messages WHERE key_id = ? AND deleted = 0 LIMIT 1'),
    };
    this.rows = new MessageRows(db.prepare(messageInsertSql(ROWS_PER_STATEMENT)), this.sql.insertMessage);
    // Within one transaction the next seq of a room is counted in memory and written back once.
    const runAll = db.transaction((ops: readonly BatchedWrite[]) => {
      this.seqs.clear();
      this.rows.clear();
      const results: unknown[] = new Array(ops.length);
      for (let i = 0; i < ops.length; i++) {
        const op = ops[i]!;
        // Any other write sees the messages appended before it in the batch.
        if (!op.buffered) this.rows.flush();
        results[i] = op.run();
      }
      this.rows.flush();
      this.writeSeqs();
      return results;
    });
    const runOne = db.transaction((op: BatchedWrite) => {
      this.seqs.clear();
      this.rows.clear();
      const result = op.run();
      this.rows.flush();
      this.writeSeqs();
      return result;
    });
    // BEGIN IMMEDIATE: the write lock is taken (waiting up to busy_timeout) before the first
    // statement. A deferred transaction starts as a read (`nextSeq` reads the room's last seq)
    // and SQLite refuses its upgrade to a write at once, busy handler or not, when another
    // connection (a CLI command, the other nodes' tooling) committed in between.
    this.batcher = new WriteBatcher(
      (ops) => runAll.immediate(ops),
      (op) => runOne.immediate(op),
    );
    this.batcher.onCommit = options.onCommit;
  }

  /** Next seq of a room inside the running transaction (undefined when the room is gone). */
  private nextSeq(roomId: number): number | undefined {
    let last = this.seqs.get(roomId);
    if (last === undefined) {
      last = this.sql.lastSeq.get(roomId) as number | undefined;
      if (last === undefined) return undefined;
    }
    this.seqs.set(roomId, last + 1);
    return last + 1;
  }

  private writeSeqs(): void {
    for (const [roomId, seq] of this.seqs) this.sql.setLastSeq.run(seq, roomId);
    this.seqs.clear();
  }

  /** Each step reads the version under the write lock: a server and a CLI command opening the same file at once apply each migration once. */
  private migrate(): void {
    const step = this.db.transaction((): boolean => {
      const v = this.db.pragma('user_version', { simple: true }) as number;
      if (v >= SQLITE_MIGRATIONS.length) return false;
      this.db.exec(SQLITE_MIGRATIONS[v]!);
      this.db.pragma(`user_version = ${v + 1}`);
      return true;
    });
    while (step.immediate()) {
      // next migration
    }
  }

  createRoom(room: Omit<RoomRecord, 'id'>): Promise<RoomRecord | null> {
    return this.batcher.enqueue(() => {
      const id = this.sql.insertRoom.pluck().get(room.name, room.owner, room.visibility, room.createdAt) as number | undefined;
      if (id === undefined) return null;
      this.sql.upsertMembership.run(id, room.owner, 'member');
      return { id, ...room };
    });
  }

  createOwnedRoom(room: Omit<RoomRecord, 'id'>, maxOwned: number): Promise<RoomRecord | 'taken' | 'limit'> {
    // One writer, one transaction: the count and the insert cannot interleave with another creation.
    return this.batcher.enqueue(() => {
      if (this.sql.roomByName.get(room.name) !== undefined) return 'taken';
      if ((this.sql.ownedRooms.get(room.owner) as number) >= maxOwned) return 'limit';
      const id = this.sql.insertRoom.pluck().get(room.name, room.owner, room.visibility, room.createdAt) as number | undefined;
      if (id === undefined) return 'taken';
      this.sql.upsertMembership.run(id, room.owner, 'member');
      return { id, ...room };
    });
  }

  /**
   * Reads run at once, unless writes are queued: then they queue behind them, so every caller
   * sees the effects of the operations it issued earlier (read-your-writes, in issue order).
   */
  private read<T>(fn: () => T): Promise<T> {
    return this.batcher.size > 0 ? this.batcher.enqueue(fn) : Promise.resolve(fn());
  }

  getRoom(name: string): Promise<RoomRecord | undefined> {
    return this.read(() => {
      const row = this.sql.roomByName.get(name) as RoomRow | undefined;
      return row && toRoom(row);
    });
  }

  deleteRoom(roomId: number): Promise<void> {
    return this.batcher.enqueue(() => {
      this.seqs.delete(roomId);
      this.sql.deleteRoomMessages.run(roomId);
      this.sql.deleteRoom.run(roomId);
    });
  }

  listRooms(userId: string): Promise<RoomRecord[]> {
    return this.read(() => (this.sql.listRooms.all(userId) as RoomRow[]).map(toRoom));
  }

  listRoomsPage(userId: string, page: RoomPage): Promise<RoomRecord[]> {
    return this.read(() => (this.sql.listRoomsPage.all({ user: userId, after: page.after ?? '', filter: page.filter ?? '', limit: page.limit }) as RoomRow[]).map(toRoom));
  }

  getMembership(roomId: number, userId: string): Promise<MembershipState | undefined> {
    return this.read(() => this.sql.membership.get(roomId, userId) as MembershipState | undefined);
  }

  setMembership(roomId: number, userId: string, state: MembershipState): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.upsertMembership.run(roomId, userId, state);
    });
  }

  removeMembership(roomId: number, userId: string): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.deleteMembership.run(roomId, userId);
    });
  }

  appendMessage(message: NewMessage): Promise<StoredMessage> {
    // Encrypt outside the transaction so the batch holds the write lock as briefly as possible.
    const { body, keyId } = this.codec.encode(message.text, message.id);
    return this.batcher.enqueue(() => {
      const seq = this.nextSeq(message.roomId);
      if (seq === undefined) throw new RoomGoneError();
      this.rows.add(message.roomId, seq, message.id, message.userId, message.userName, body, keyId, message.ts, message.replyTo ?? null);
      return {
        id: message.id,
        seq,
        roomName: message.roomName,
        userId: message.userId,
        userName: message.userName,
        text: message.text,
        ts: message.ts,
        replyTo: message.replyTo,
        deleted: false,
      };
    }, true);
  }

  getMessage(roomId: number, messageId: string): Promise<StoredMessage | undefined> {
    return this.read(() => {
      const row = this.sql.messageById.get(messageId, roomId) as MessageRow | undefined;
      return row && toMessage(row, this.sql.roomNameById.get(roomId) as string, this.codec, this.onUnreadable);
    });
  }

  deleteMessage(roomId: number, messageId: string): Promise<boolean> {
    return this.batcher.enqueue(() => this.sql.markDeleted.run(messageId, roomId).changes > 0);
  }

  editMessage(roomId: number, messageId: string, text: string, editedAt: number): Promise<StoredMessage | undefined> {
    // Encoded with the message id as associated data, as the append was.
    const { body, keyId } = this.codec.encode(text, messageId);
    return this.batcher.enqueue(() => {
      if (this.sql.editMessage.run(body, keyId, editedAt, messageId, roomId).changes === 0) return undefined;
      const row = this.sql.messageById.get(messageId, roomId) as MessageRow;
      const edited: StoredMessage = {
        id: row.id,
        seq: row.seq,
        roomName: this.sql.roomNameById.get(roomId) as string,
        userId: row.user_id,
        userName: row.user_name,
        text,
        ts: row.ts,
        replyTo: row.reply_to ?? undefined,
        deleted: false,
        editedAt,
      };
      return edited;
    });
  }

  async history(roomId: number, query: HistoryQuery): Promise<HistoryPage> {
    const page = await this.read(() => this.historyRows(roomId, query));
    if (!page) return { messages: [], hasMore: false };
    return { messages: await toMessages(page.rows, page.name, this.codec, this.onUnreadable), hasMore: page.hasMore };
  }

  /** The rows of a page, read in one synchronous step (decoding may then leave the thread). */
  private historyRows(roomId: number, query: HistoryQuery): { name: string; rows: MessageRow[]; hasMore: boolean } | undefined {
    const name = this.sql.roomNameById.get(roomId) as string | undefined;
    if (name === undefined) return undefined;
    const probe = query.limit + 1;
    let raw: RawPageRow[];
    let descending = false;
    if (query.after !== undefined && query.before !== undefined) {
      raw = this.sql.pageBetween.all(roomId, query.after, query.before, probe) as RawPageRow[];
    } else if (query.after !== undefined) {
      raw = this.sql.pageAfter.all(roomId, query.after, probe) as RawPageRow[];
    } else if (query.before !== undefined) {
      raw = this.sql.pageBefore.all(roomId, query.before, probe) as RawPageRow[];
      descending = true;
    } else {
      raw = this.sql.pageLatest.all(roomId, probe) as RawPageRow[];
      descending = true;
    }
    const hasMore = raw.length > query.limit;
    if (hasMore) raw.length = query.limit;
    if (descending) raw.reverse();
    return { name, rows: raw.map(pageRow), hasMore };
  }

  recordSecurityEvent(event: SecurityEventRecord, aggregateKey?: string): void {
    if (this.closed) return;
    let values: unknown[];
    try {
      values = eventValues(event, aggregateKey, (v) => v ?? null);
    } catch (error) {
      // e.g. a detail that JSON cannot encode: reported, never thrown into the caller.
      this.onBackgroundError(error);
      return;
    }
    this.batcher.enqueueDetached(() => {
      this.sql.insertEvent.run(...values);
    }, this.onBackgroundError);
  }

  listSecurityEvents(sinceTs: number, limit: number): Promise<SecurityEventRecord[]> {
    return this.read(() => (this.sql.eventsSince.all(sinceTs, limit) as EventRow[]).map(toSecurityEvent));
  }

  searchSecurityEvents(query: SecurityEventSearch): Promise<StoredSecurityEvent[]> {
    const params = { ...eventFilterValues(query), bts: query.before?.ts ?? Number.MAX_SAFE_INTEGER, bid: query.before?.id ?? Number.MAX_SAFE_INTEGER, limit: query.limit };
    return this.read(() => (this.sql.queryEvents.all(params) as StoredEventRow[]).map(toStoredEvent));
  }

  changedSecurityEvents(query: Omit<SecurityEventSearch, 'before'>, after: number): Promise<StoredSecurityEvent[]> {
    return this.read(() => (this.sql.changedEvents.all({ ...eventFilterValues(query), after, limit: query.limit }) as StoredEventRow[]).map(toStoredEvent));
  }

  countSecurityEvents(query: Omit<SecurityEventSearch, 'before' | 'limit'>): Promise<SecurityEventCount[]> {
    return this.read(() => this.sql.countEventsBy.all(eventFilterValues(query)) as SecurityEventCount[]);
  }

  pruneSecurityEvents(options: PruneOptions): Promise<number> {
    return this.batcher.enqueue(() => {
      const limit = Math.max(0, Math.floor(options.limit));
      let deleted = this.sql.deleteExpiredEvents.run(options.before, limit).changes;
      if (deleted < limit) {
        const excess = (this.sql.countEvents.get() as number) - options.keep;
        if (excess > 0) deleted += this.sql.deleteOldestEvents.run(Math.min(excess, limit - deleted)).changes;
      }
      return deleted;
    });
  }

  querySecurityEvents(query: SecurityEventQuery): Promise<StoredSecurityEvent[]> {
    const statement = query.order === 'newest' ? this.sql.eventsNewest : this.sql.eventsOldest;
    const params = {
      since: query.sinceTs,
      afterId: query.afterId ?? 0,
      type: query.type ?? null,
      user: query.user ?? null,
      ip: query.ip ?? null,
      severities: query.severities ? JSON.stringify(query.severities) : null,
      limit: query.limit,
    };
    return this.read(() => (statement.all(params) as StoredEventRow[]).map(toStoredEvent));
  }

  createUser(user: UserRecord): Promise<boolean> {
    return this.batcher.enqueue(() => {
      if (this.sql.insertUser.run(user.id, user.name, user.passwordHash, JSON.stringify(user.roles), user.createdAt).changes === 0) return false;
      if (user.disabled) this.sql.setDisabled.run(1, user.id);
      return true;
    });
  }

  getUser(id: string): Promise<UserRecord | undefined> {
    return this.read(() => {
      const row = this.sql.userById.get(id) as UserRow | undefined;
      return row && toUser(row);
    });
  }

  listUsers(query: UserQuery): Promise<UserRecord[]> {
    return this.read(() => (this.sql.listUsers.all(query.after ?? '', (query.search ?? '').toLowerCase(), query.limit) as UserRow[]).map(toUser));
  }

  updateUser(id: string, changes: UserChanges): Promise<boolean> {
    return this.batcher.enqueue(() => {
      if (this.sql.userById.get(id) === undefined) return false;
      if (changes.roles) this.sql.setRoles.run(JSON.stringify(changes.roles), id);
      if (changes.disabled !== undefined) this.sql.setDisabled.run(changes.disabled ? 1 : 0, id);
      if (changes.passwordHash !== undefined) this.sql.setPassword.run(changes.passwordHash, id);
      return true;
    });
  }

  revokeUserRefreshTokens(userId: string): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.revokeUserRefresh.run(userId);
    });
  }

  createInvite(invite: Omit<InviteRecord, 'usedAt' | 'usedBy'>): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.insertInvite.run(invite.id, invite.hash, invite.createdBy, invite.createdAt, invite.expiresAt);
    });
  }

  listInvites(limit: number): Promise<InviteRecord[]> {
    return this.read(() => (this.sql.listInvites.all(limit) as InviteRow[]).map(toInvite));
  }

  claimInvite(hash: string, userId: string, now: number): Promise<boolean> {
    return this.batcher.enqueue(() => this.sql.claimInvite.run(now, userId, hash, now).changes > 0);
  }

  releaseInvite(hash: string): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.releaseInvite.run(hash);
    });
  }

  revokeInvite(id: string): Promise<boolean> {
    return this.batcher.enqueue(() => this.sql.revokeInvite.run(id).changes > 0);
  }

  createApiKey(key: Omit<ApiKeyRecord, 'lastUsedAt' | 'revokedAt' | 'uses'>): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.insertApiKey.run(key.id, key.name, key.hash, key.scopes.join(','), key.createdAt, key.expiresAt);
    });
  }

  apiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.read(() => {
      const row = this.sql.apiKeyByHash.get(hash) as ApiKeyRow | undefined;
      return row ? toApiKey(row) : undefined;
    });
  }

  listApiKeys(limit: number): Promise<ApiKeyRecord[]> {
    return this.read(() => (this.sql.listApiKeys.all(limit) as ApiKeyRow[]).map(toApiKey));
  }

  revokeApiKey(id: string, at: number): Promise<boolean> {
    return this.batcher.enqueue(() => this.sql.revokeApiKey.run(at, id).changes > 0);
  }

  recordApiKeyUse(id: string, at: number, calls: number): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.recordApiKeyUse.run(calls, at, id);
    });
  }

  insertRefreshToken(token: Omit<RefreshTokenRecord, 'usedAt' | 'revoked'>): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.insertRefresh.run(token.hash, token.family, token.userId, token.expiresAt);
    });
  }

  getRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined> {
    return this.read(() => {
      const row = this.sql.refreshByHash.get(hash) as { hash: string; family: string; user_id: string; expires_at: number; used_at: number | null; revoked: number } | undefined;
      return row && { hash: row.hash, family: row.family, userId: row.user_id, expiresAt: row.expires_at, usedAt: row.used_at, revoked: row.revoked === 1 };
    });
  }

  useRefreshToken(hash: string, at: number): Promise<boolean> {
    return this.batcher.enqueue(() => this.sql.useRefresh.run(at, hash).changes > 0);
  }

  revokeRefreshFamily(family: string): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.revokeFamily.run(family);
    });
  }

  addRevocation(jti: string, expiresAt: number, kind: RevocationKind = 'jti', at = 0): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.insertRevocation.run(jti, expiresAt, kind, at);
    });
  }

  revocationsAfter(afterId: number, now: number): Promise<RevocationRecord[]> {
    const rows = this.sql.revocationsAfter.all(afterId, now) as Array<{ id: number; jti: string; expires_at: number; kind: RevocationKind; at: number }>;
    return Promise.resolve(rows.map((r) => ({ id: r.id, jti: r.jti, expiresAt: r.expires_at, kind: r.kind, at: r.at })));
  }

  addBan(ban: Omit<BanRecord, 'id'>): Promise<BanRecord> {
    return this.batcher.enqueue(() => {
      const id = this.sql.insertBan.pluck().get(ban.kind, ban.value, ban.until, ban.level, ban.reason, ban.createdAt) as number;
      return { id, ...ban };
    });
  }

  bansAfter(afterId: number): Promise<BanRecord[]> {
    const rows = this.sql.bansAfter.all(afterId) as Array<{
      id: number;
      kind: BanKind;
      value: string;
      until: number;
      level: number;
      reason: string;
      created_at: number;
    }>;
    return Promise.resolve(rows.map((r) => ({ id: r.id, kind: r.kind, value: r.value, until: r.until, level: r.level, reason: r.reason, createdAt: r.created_at })));
  }

  getKeyCheck(kind: KeyKind, keyId: string): Promise<KeyCheckRecord | undefined> {
    return this.read(() => {
      const row = this.sql.keyCheck.get(kind, keyId) as KeyCheckRow | undefined;
      return row && { kind: row.kind, keyId: row.key_id, check: row.check_value, createdAt: row.created_at };
    });
  }

  claimKeyCheck(record: KeyCheckRecord): Promise<KeyCheckRecord> {
    return this.batcher.enqueue(() => {
      this.sql.claimKeyCheck.run(record.kind, record.keyId, record.check, record.createdAt);
      const row = this.sql.keyCheck.get(record.kind, record.keyId) as KeyCheckRow;
      return { kind: row.kind, keyId: row.key_id, check: row.check_value, createdAt: row.created_at };
    });
  }

  replaceKeyCheck(record: KeyCheckRecord): Promise<void> {
    return this.batcher.enqueue(() => {
      this.sql.replaceKeyCheck.run(record.kind, record.keyId, record.check, record.createdAt);
    });
  }

  sampleEncrypted(keyId: string): Promise<EncodedText | undefined> {
    return this.read(() => {
      const row = this.sql.sampleEncrypted.get(keyId) as { id: string; body: Buffer; key_id: string } | undefined;
      return row && { body: row.body, keyId: row.key_id, aad: row.id };
    });
  }

  ping(): Promise<void> {
    this.db.prepare('SELECT 1').get();
    return Promise.resolve();
  }

  flush(): Promise<void> {
    return this.batcher.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.batcher.drainSync();
    this.closed = true;
    // The worker's connection goes first, so closing the last one checkpoints and removes the WAL.
    await this.checkpointer?.stop();
    this.db.close();
  }
}
