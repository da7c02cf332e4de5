/**
 * PostgreSQL backend (node-postgres pool). Several Bulwark nodes may share one database.
 *
 * Writes go through the group commit (`postgres/group-commit.ts`): the writes of one event-loop
 * turn commit in one transaction, and `seq` ranges are taken under the room row's lock. Reads run
 * on the pool, queued behind the writes issued before them (read-your-writes, like the SQLite
 * store). The schema is migrated under an advisory lock (`postgres/migrate.ts`); the SQL lives in
 * `postgres/queries.ts`. Errors leave this module as `PostgresStoreError`, whose message holds at
 * most an SQLSTATE or a network error code: never SQL text, parameters or the connection string.
 */
import pg from 'pg';
import {
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
import { plainCodec, type EncodedText, type TextCodec } from './text-codec.js';
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
  StoredSecurityEvent,
  Store,
  StoredMessage,
} from './store.js';
import { PostgresStoreError, sanitize } from './postgres/errors.js';
import { GroupCommit, type ExecOp } from './postgres/group-commit.js';
import { migrate } from './postgres/migrate.js';
import { LOG_LOCK, noNul, Q, query, types, type Queryable } from './postgres/queries.js';

export { PostgresStoreError } from './postgres/errors.js';

interface UserRow {
  id: string;
  name: string;
  password_hash: string;
  roles: string;
  created_at: number;
  disabled: boolean;
}

function toUser(row: UserRow): UserRecord {
  return { id: row.id, name: row.name, passwordHash: row.password_hash, roles: JSON.parse(row.roles) as string[], createdAt: row.created_at, disabled: row.disabled };
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
  /** Rows read whose text could not be decrypted (returned as unavailable). */
  onUnreadable?: UnreadableHook;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function noop(): void {}

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly codec: TextCodec;
  private readonly schema: string | undefined;
  private readonly onBackgroundError: (error: unknown) => void;
  private readonly onUnreadable: UnreadableHook | undefined;
  private readonly writes: GroupCommit;

  /** Connects, migrates (under an advisory lock) and returns a ready store. */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const store = new PostgresStore(options);
    try {
      await migrate(store.pool, store.schema);
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
    this.onUnreadable = options.onUnreadable;
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
    this.writes = new GroupCommit(this.pool, options.onCommit);
  }

  private enqueue<T>(op: Omit<ExecOp, 'resolve' | 'reject' | 'kind' | 'fence'> & { fence?: boolean }): Promise<T> {
    return this.writes.enqueue<T>(op);
  }

  /** Reads wait for the writes issued before them, then run on the pool. */
  private async read<T>(fn: (db: Queryable) => Promise<T>): Promise<T> {
    const pending = this.writes.barrier();
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

  createOwnedRoom(room: Omit<RoomRecord, 'id'>, maxOwned: number): Promise<RoomRecord | 'taken' | 'limit'> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.ownerLock, [noNul(room.owner)]);
        const { rows } = await query<{ id: number }>(c, Q.insertOwnedRoom, [room.name, noNul(room.owner), room.visibility, room.createdAt, maxOwned]);
        if (rows[0]) return { id: rows[0].id, ...room };
        return (await query(c, Q.roomExists, [room.name])).rows.length > 0 ? 'taken' : 'limit';
      },
    });
  }

  listRooms(userId: string): Promise<RoomRecord[]> {
    return this.read(async (db) => (await query<RoomRow>(db, Q.listRooms, [userId])).rows.map(toRoom));
  }

  listRoomsPage(userId: string, page: RoomPage): Promise<RoomRecord[]> {
    return this.read(async (db) => (await query<RoomRow>(db, Q.listRoomsPage, [noNul(userId), page.after ?? '', page.filter ?? '', page.limit])).rows.map(toRoom));
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
      if (this.writes.closed) return reject(new PostgresStoreError('store closed'));
      // Encrypt before the batch so the transaction holds its row locks as briefly as possible.
      const { body, keyId } = this.codec.encode(message.text, message.id);
      this.writes.push({ kind: 'append', message, body, keyId, resolve: resolve as (v: unknown) => void, reject });
    });
  }

  getMessage(roomId: number, messageId: string): Promise<StoredMessage | undefined> {
    return this.read(async (db) => {
      const row = (await query<MessageRow & { room_name: string }>(db, Q.messageById, [messageId, roomId])).rows[0];
      return row && toMessage(row, row.room_name, this.codec, this.onUnreadable);
    });
  }

  deleteMessage(roomId: number, messageId: string): Promise<boolean> {
    return this.enqueue({ run: async (c) => ((await query(c, Q.markDeleted, [messageId, roomId])).rowCount ?? 0) > 0 });
  }

  editMessage(roomId: number, messageId: string, text: string, editedAt: number): Promise<StoredMessage | undefined> {
    // Encoded with the message id as associated data, as the append was.
    const { body, keyId } = this.codec.encode(text, messageId);
    return this.enqueue({
      run: async (c) => {
        type Edited = Omit<MessageRow, 'body' | 'key_id' | 'deleted'> & { room_name: string };
        const row = (await query<Edited>(c, Q.editMessage, [body, keyId, editedAt, messageId, roomId])).rows[0];
        if (!row) return undefined;
        const edited: StoredMessage = {
          id: row.id,
          seq: Number(row.seq),
          roomName: row.room_name,
          userId: row.user_id,
          userName: row.user_name,
          text,
          ts: Number(row.ts),
          replyTo: row.reply_to ?? undefined,
          deleted: false,
          editedAt: Number(row.edited_at),
        };
        return edited;
      },
    });
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
      return { messages: await toMessages(rows, first.room_name, this.codec, this.onUnreadable), hasMore };
    });
  }

  // ---------------------------------------------------------------- security events

  recordSecurityEvent(event: SecurityEventRecord, aggregateKey?: string): void {
    if (this.writes.closed) return;
    try {
      const values = eventValues(event, aggregateKey, noNul);
      this.writes.push({
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
    return this.read(async (db) => (await query<EventRow>(db, Q.eventsSince, [sinceTs, limit])).rows.map(toSecurityEvent));
  }

  private eventParams(query: Omit<SecurityEventSearch, 'before' | 'limit'>): unknown[] {
    const f = eventFilterValues(query);
    return [noNul(f.type ?? undefined), noNul(f.user ?? undefined), noNul(f.ip ?? undefined), f.severities, f.since, f.until];
  }

  searchSecurityEvents(q: SecurityEventSearch): Promise<StoredSecurityEvent[]> {
    const values = [...this.eventParams(q), q.before?.ts ?? Number.MAX_SAFE_INTEGER, q.before?.id ?? Number.MAX_SAFE_INTEGER, q.limit];
    return this.read(async (db) => (await query<StoredEventRow>(db, Q.queryEvents, values)).rows.map(toStoredEvent));
  }

  changedSecurityEvents(q: Omit<SecurityEventSearch, 'before'>, after: number): Promise<StoredSecurityEvent[]> {
    return this.read(async (db) => (await query<StoredEventRow>(db, Q.changedEvents, [...this.eventParams(q), after, q.limit])).rows.map(toStoredEvent));
  }

  countSecurityEvents(q: Omit<SecurityEventSearch, 'before' | 'limit'>): Promise<SecurityEventCount[]> {
    return this.read(async (db) => (await query<SecurityEventCount>(db, Q.countEventsBy, this.eventParams(q))).rows);
  }

  pruneSecurityEvents(options: PruneOptions): Promise<number> {
    const limit = Math.max(0, Math.floor(options.limit));
    return this.enqueue({
      run: async (c) => {
        let deleted = (await query(c, Q.deleteExpiredEvents, [options.before, limit])).rowCount ?? 0;
        if (deleted < limit) {
          const total = (await query<{ n: number }>(c, Q.countEvents, [])).rows[0]!.n;
          const excess = total - options.keep;
          if (excess > 0) deleted += (await query(c, Q.deleteOldestEvents, [Math.min(excess, limit - deleted)])).rowCount ?? 0;
        }
        return deleted;
      },
    });
  }

  querySecurityEvents(q: SecurityEventQuery): Promise<StoredSecurityEvent[]> {
    return this.read(async (db) => {
      const params = [q.sinceTs, q.afterId ?? 0, q.type ?? null, q.user ?? null, q.ip ?? null, q.limit, q.severities ? [...q.severities] : null];
      const { rows } = await query<EventRow & { id: string }>(db, q.order === 'newest' ? Q.eventsNewest : Q.eventsOldest, params);
      return rows.map((r) => toStoredEvent({ ...r, id: Number(r.id) }));
    });
  }

  // ---------------------------------------------------------------- accounts

  createUser(user: UserRecord): Promise<boolean> {
    return this.enqueue({
      run: async (c) => {
        const created = ((await query(c, Q.insertUser, [user.id, user.name, user.passwordHash, JSON.stringify(user.roles), user.createdAt])).rowCount ?? 0) > 0;
        if (created && user.disabled) await query(c, Q.updateUser, [user.id, null, true, null]);
        return created;
      },
    });
  }

  getUser(id: string): Promise<UserRecord | undefined> {
    return this.read(async (db) => {
      const row = (await query<UserRow>(db, Q.userById, [id])).rows[0];
      return row && toUser(row);
    });
  }

  listUsers(q: UserQuery): Promise<UserRecord[]> {
    return this.read(async (db) => (await query<UserRow>(db, Q.listUsers, [q.after ?? '', noNul((q.search ?? '').toLowerCase()), q.limit])).rows.map(toUser));
  }

  updateUser(id: string, changes: UserChanges): Promise<boolean> {
    return this.enqueue({
      run: async (c) =>
        ((await query(c, Q.updateUser, [id, changes.roles ? JSON.stringify(changes.roles) : null, changes.disabled ?? null, changes.passwordHash ?? null])).rowCount ?? 0) > 0,
    });
  }

  revokeUserRefreshTokens(userId: string): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.revokeUserRefresh, [userId]);
      },
    });
  }

  createInvite(invite: Omit<InviteRecord, 'usedAt' | 'usedBy'>): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.insertInvite, [invite.id, invite.hash, invite.createdBy, invite.createdAt, invite.expiresAt]);
      },
    });
  }

  listInvites(limit: number): Promise<InviteRecord[]> {
    return this.read(async (db) => (await query<InviteRow>(db, Q.listInvites, [limit])).rows.map(toInvite));
  }

  claimInvite(hash: string, userId: string, now: number): Promise<boolean> {
    // The row lock makes this atomic across nodes: of two racing registrations, one claims the code.
    return this.enqueue({ run: async (c) => ((await query(c, Q.claimInvite, [now, userId, hash])).rowCount ?? 0) > 0 });
  }

  releaseInvite(hash: string): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.releaseInvite, [hash]);
      },
    });
  }

  revokeInvite(id: string): Promise<boolean> {
    return this.enqueue({ run: async (c) => ((await query(c, Q.revokeInvite, [id])).rowCount ?? 0) > 0 });
  }

  createApiKey(key: Omit<ApiKeyRecord, 'lastUsedAt' | 'revokedAt' | 'uses'>): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.insertApiKey, [key.id, key.name, key.hash, key.scopes.join(','), key.createdAt, key.expiresAt]);
      },
    });
  }

  apiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    return this.read(async (db) => {
      const row = (await query<ApiKeyRow>(db, Q.apiKeyByHash, [hash])).rows[0];
      return row ? toApiKey(row) : undefined;
    });
  }

  listApiKeys(limit: number): Promise<ApiKeyRecord[]> {
    return this.read(async (db) => (await query<ApiKeyRow>(db, Q.listApiKeys, [limit])).rows.map(toApiKey));
  }

  revokeApiKey(id: string, at: number): Promise<boolean> {
    return this.enqueue({ run: async (c) => ((await query(c, Q.revokeApiKey, [id, at])).rowCount ?? 0) > 0 });
  }

  recordApiKeyUse(id: string, at: number, calls: number): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.recordApiKeyUse, [id, at, calls]);
      },
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

  addRevocation(jti: string, expiresAt: number, kind: RevocationKind = 'jti', at = 0): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.logLock, [LOG_LOCK]);
        await query(c, Q.insertRevocation, [noNul(jti), expiresAt, kind, at]);
      },
    });
  }

  revocationsAfter(afterId: number, now: number): Promise<RevocationRecord[]> {
    return this.read(async (db) => {
      const { rows } = await query<{ id: number; jti: string; expires_at: number; kind: RevocationKind; at: number }>(db, Q.revocationsAfter, [afterId, now]);
      return rows.map((r) => ({ id: r.id, jti: r.jti, expiresAt: r.expires_at, kind: r.kind, at: r.at }));
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

  // ---------------------------------------------------------------- key checks

  getKeyCheck(kind: KeyKind, keyId: string): Promise<KeyCheckRecord | undefined> {
    return this.read(async (db) => {
      const row = (await query<{ kind: KeyKind; key_id: string; check_value: string; created_at: number }>(db, Q.keyCheck, [kind, keyId])).rows[0];
      return row && { kind: row.kind, keyId: row.key_id, check: row.check_value, createdAt: row.created_at };
    });
  }

  claimKeyCheck(record: KeyCheckRecord): Promise<KeyCheckRecord> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.claimKeyCheck, [record.kind, record.keyId, record.check, record.createdAt]);
        const row = (await query<{ kind: KeyKind; key_id: string; check_value: string; created_at: number }>(c, Q.keyCheck, [record.kind, record.keyId])).rows[0]!;
        return { kind: row.kind, keyId: row.key_id, check: row.check_value, createdAt: row.created_at };
      },
    });
  }

  replaceKeyCheck(record: KeyCheckRecord): Promise<void> {
    return this.enqueue({
      run: async (c) => {
        await query(c, Q.replaceKeyCheck, [record.kind, record.keyId, record.check, record.createdAt]);
      },
    });
  }

  sampleEncrypted(keyId: string): Promise<EncodedText | undefined> {
    return this.read(async (db) => {
      const row = (await query<{ id: string; body: Buffer; key_id: string }>(db, Q.sampleEncrypted, [keyId])).rows[0];
      return row && { body: row.body, keyId: row.key_id, aad: row.id };
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
    return this.writes.barrier() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    if (this.writes.closed) return;
    // Writes issued before close commit; later ones are refused.
    await this.writes.close();
    await this.pool.end();
  }
}
