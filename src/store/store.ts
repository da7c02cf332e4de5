/**
 * The storage contract. Every backend (SQLite, PostgreSQL) implements it and passes the same
 * conformance suite (test/store/conformance.ts).
 *
 * Guarantees:
 * - `appendMessage` resolves only after the message is committed; its `seq` is the room's
 *   previous `seq` + 1, without gaps, even when many appends race. Appends issued in the same
 *   event-loop turn are committed together in one transaction (batching is the store's job, not
 *   the caller's).
 * - Every other write is committed when its promise resolves.
 * - `recordSecurityEvent` never throws into the caller; events are batched like messages and
 *   durable once `flush()` resolves. With an aggregation key, a row with the same key gets the
 *   event's `count` added (and its `lastTs` moved on) instead of a second row.
 * - `pruneSecurityEvents` deletes at most `limit` rows per call, in one short transaction, so a
 *   caller can keep the table bounded without ever holding the writer for long.
 * - `close()` flushes pending writes before releasing the database.
 */
import type { Room } from '../protocol/frames.js';
import type { EncodedText } from './text-codec.js';

export type Visibility = Room['visibility'];
export type MembershipState = 'member' | 'invited' | 'kicked';

export interface RoomRecord {
  id: number;
  name: string;
  owner: string;
  visibility: Visibility;
  createdAt: number;
}

export interface RoomPage {
  after?: string | undefined;
  /** Lower-case ASCII substring of the name. */
  filter?: string | undefined;
  limit: number;
}

export interface NewMessage {
  id: string;
  roomId: number;
  roomName: string;
  userId: string;
  userName: string;
  text: string;
  ts: number;
  replyTo?: string | undefined;
}

export interface StoredMessage {
  id: string;
  seq: number;
  roomName: string;
  userId: string;
  userName: string;
  /** Empty when deleted. */
  text: string;
  ts: number;
  replyTo?: string | undefined;
  deleted: boolean;
  /** The text could not be decrypted (a key this node does not hold, or a damaged row); `text` is empty. */
  unavailable?: boolean;
  /** When the text was last edited (ms); absent when never edited. */
  editedAt?: number | undefined;
}

export interface HistoryQuery {
  /** Only messages with seq < before. */
  before?: number | undefined;
  /** Only messages with seq > after. */
  after?: number | undefined;
  limit: number;
}

export interface HistoryPage {
  /** Ascending by seq. */
  messages: StoredMessage[];
  /** More messages exist beyond the page in the direction of the query. */
  hasMore: boolean;
}

export type Severity = 'info' | 'notice' | 'warning' | 'error' | 'critical';

export interface SecurityEventRecord {
  /** First occurrence (ms). */
  ts: number;
  type: string;
  severity: Severity;
  ip?: string | undefined;
  user?: string | undefined;
  detail?: Record<string, unknown> | undefined;
  /** Occurrences this row stands for (repeats aggregated, contract section 3). Read: always set. @default 1 */
  count?: number;
  /** Last occurrence counted (ms). Read: always set (`ts` when the count is 1). */
  lastTs?: number;
}

/** A stored security event with its row id (the admin console's paging and live tail). */
export interface StoredSecurityEvent extends SecurityEventRecord {
  id: number;
  count: number;
  lastTs: number;
}

/** Filters of the admin console's event view; every one optional but `limit`. */
/** The admin console's event filters (`/api/admin/events`). Every filter is optional. */
export interface SecurityEventSearch {
  /** Only these severities. */
  severities?: readonly Severity[] | undefined;
  type?: string | undefined;
  user?: string | undefined;
  ip?: string | undefined;
  /** First occurrence at or after (ms). */
  since?: number | undefined;
  /** First occurrence at or before (ms). */
  until?: number | undefined;
  /** Paging, newest first: only rows older than this row (`ts`, then `id`). */
  before?: { ts: number; id: number } | undefined;
  limit: number;
}

export interface SecurityEventCount {
  type: string;
  severity: Severity;
  /** Occurrences (aggregated rows count their repeats). */
  count: number;
}

export interface PruneOptions {
  /** Rows whose first occurrence is older than this (ms) are deleted first. */
  before: number;
  /** Then the oldest rows beyond the newest `keep` are deleted. */
  keep: number;
  /** At most this many rows are deleted by one call. */
  limit: number;
}

/** A filtered page of security events (`bulwark events`). Every filter is optional. */
export interface SecurityEventQuery {
  /** Only events at or after this time (ms). */
  sinceTs: number;
  /** Only rows with a larger id: what arrived after the last page (follow mode). */
  afterId?: number;
  /** Only these severities. */
  severities?: readonly Severity[];
  type?: string;
  user?: string;
  ip?: string;
  limit: number;
  /** `newest`: the latest `limit` rows, newest first; `oldest`: the earliest, oldest first. */
  order: 'newest' | 'oldest';
}

export interface UserRecord {
  /**
   * `acct:<username>` (src/auth/identity.ts): the JWT `sub` of the account's tokens, in a
   * namespace no token subject of another issuer can enter.
   */
  id: string;
  /** The lower-case username: the handle people log in with and see. */
  name: string;
  passwordHash: string;
  roles: string[];
  createdAt: number;
  /** A disabled account cannot log in or refresh; its sessions are closed. Absent means false. */
  disabled?: boolean;
}

export interface UserQuery {
  /** Only users whose id sorts after this one (paging). */
  after?: string | undefined;
  /** Case-insensitive substring of the username. */
  search?: string | undefined;
  limit: number;
}

export interface UserChanges {
  roles?: string[];
  disabled?: boolean;
  passwordHash?: string;
}

/** An invitation to register (`accounts.registration: invite`); the code itself is never stored. */
export interface InviteRecord {
  /** Short public id, for listing and revoking. */
  id: string;
  /** SHA-256 of the code, hex. */
  hash: string;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  usedBy: string | null;
}

/**
 * A server API key (docs/protocol.md "Server API"): the key itself is shown once and never
 * stored, only its SHA-256. `uses` and `lastUsedAt` are the aggregated record of successful calls.
 */
export interface ApiKeyRecord {
  /** Short public id, for listing and revoking. */
  id: string;
  name: string;
  /** SHA-256 of the key, hex. */
  hash: string;
  scopes: string[];
  createdAt: number;
  /** Ms since epoch, or null for a key that does not expire. */
  expiresAt: number | null;
  lastUsedAt: number | null;
  revokedAt: number | null;
  /** Successful calls made with the key. */
  uses: number;
}

export interface RefreshTokenRecord {
  /** SHA-256 of the token, hex. The token itself is never stored. */
  hash: string;
  family: string;
  userId: string;
  expiresAt: number;
  usedAt: number | null;
  revoked: boolean;
}

/**
 * What a revocation log entry revokes: one token (`jti`), every token of a refresh family (`sid`),
 * every token of a user issued before `at` (`user`), or every token of a user while disabled
 * (`disable`, lifted by a later `enable`).
 */
export type RevocationKind = 'jti' | 'sid' | 'user' | 'disable' | 'enable';

export interface RevocationRecord {
  id: number;
  /** The revoked value: a token id, a session family or a user id, by `kind`. */
  jti: string;
  expiresAt: number;
  kind: RevocationKind;
  /** `user`: tokens issued before this time (ms) are revoked. 0 otherwise. */
  at: number;
}

export type BanKind = 'user' | 'ip';

export interface BanRecord {
  id: number;
  kind: BanKind;
  value: string;
  /** Ms since epoch; 0 means the entry lifts an earlier ban. */
  until: number;
  /** How many bans this subject has had (the ban period doubles each time). */
  level: number;
  reason: string;
  createdAt: number;
}

export type KeyKind = 'encryption' | 'jwt';

/**
 * A key's check value (security/key-check.ts): an HMAC of a constant under the key, never the key
 * itself. Nodes sharing a store must hold the keys it was written with; this is how they find out.
 */
export interface KeyCheckRecord {
  kind: KeyKind;
  keyId: string;
  check: string;
  createdAt: number;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';

  createRoom(room: Omit<RoomRecord, 'id'>): Promise<RoomRecord | null>;
  getRoom(name: string): Promise<RoomRecord | undefined>;
  /** Removes the room, its memberships and its history. */
  deleteRoom(roomId: number): Promise<void>;
  /**
   * Creates a room unless its owner already owns `maxOwned` rooms: atomic with the count, so racing
   * creations by one owner (from any node) never exceed it. The creator becomes a member.
   */
  createOwnedRoom(room: Omit<RoomRecord, 'id'>, maxOwned: number): Promise<RoomRecord | 'taken' | 'limit'>;
  /** Public rooms and the private rooms where the user is a member or invited. */
  listRooms(userId: string): Promise<RoomRecord[]>;
  /**
   * One page of `listRooms`, ordered by name (byte order): names after `after`, containing
   * `filter` (case-insensitive, ASCII), at most `limit`.
   */
  listRoomsPage(userId: string, page: RoomPage): Promise<RoomRecord[]>;

  getMembership(roomId: number, userId: string): Promise<MembershipState | undefined>;
  setMembership(roomId: number, userId: string, state: MembershipState): Promise<void>;
  removeMembership(roomId: number, userId: string): Promise<void>;

  appendMessage(message: NewMessage): Promise<StoredMessage>;
  getMessage(roomId: number, messageId: string): Promise<StoredMessage | undefined>;
  /** Marks a message deleted (its text is erased, its seq kept). False when it does not exist. */
  deleteMessage(roomId: number, messageId: string): Promise<boolean>;
  /**
   * Replaces a message's text (encoded like an append) and sets its `editedAt`. Resolves with the
   * edited message once committed; undefined when it does not exist or is deleted.
   */
  editMessage(roomId: number, messageId: string, text: string, editedAt: number): Promise<StoredMessage | undefined>;
  history(roomId: number, query: HistoryQuery): Promise<HistoryPage>;

  /**
   * Stores an event (never throws). With `aggregateKey`, the row holding that key gets
   * `event.count` (default 1) added and its `lastTs` moved to `event.lastTs`, or is created.
   */
  recordSecurityEvent(event: SecurityEventRecord, aggregateKey?: string): void;
  /** Rows whose first occurrence is at or after `sinceTs`, oldest first, with `count` and `lastTs`. */
  listSecurityEvents(sinceTs: number, limit: number): Promise<SecurityEventRecord[]>;
  /** `bulwark events`: a page by row id, with an `afterId` cursor for follow mode. */
  querySecurityEvents(query: SecurityEventQuery): Promise<StoredSecurityEvent[]>;
  /** The admin console's search: events matching the filters, newest first (by first occurrence, then id). */
  searchSecurityEvents(search: SecurityEventSearch): Promise<StoredSecurityEvent[]>;
  /**
   * Events matching the filters that were recorded or counted again after `after` (ms), oldest
   * change first: the live tail (an aggregated row comes back when its count grows).
   */
  changedSecurityEvents(search: Omit<SecurityEventSearch, 'before'>, after: number): Promise<StoredSecurityEvent[]>;
  /** Occurrences per type and severity among the events matching the filters. */
  countSecurityEvents(search: Omit<SecurityEventSearch, 'before' | 'limit'>): Promise<SecurityEventCount[]>;
  /** Deletes expired rows, then the oldest beyond `keep`; at most `limit` rows. Resolves with the number deleted. */
  pruneSecurityEvents(options: PruneOptions): Promise<number>;

  // Built-in accounts
  /** False when the username is taken. */
  createUser(user: UserRecord): Promise<boolean>;
  getUser(id: string): Promise<UserRecord | undefined>;
  /** Users ordered by id. */
  listUsers(query: UserQuery): Promise<UserRecord[]>;
  /** False when there is no such user. */
  updateUser(id: string, changes: UserChanges): Promise<boolean>;
  /** Revokes every refresh token of a user (all families). */
  revokeUserRefreshTokens(userId: string): Promise<void>;
  createInvite(invite: Omit<InviteRecord, 'usedAt' | 'usedBy'>): Promise<void>;
  /** Newest first. */
  listInvites(limit: number): Promise<InviteRecord[]>;
  /** Atomically marks an unused, unexpired invite used by `userId`; false otherwise. */
  claimInvite(hash: string, userId: string, now: number): Promise<boolean>;
  /** Gives back a claimed invite whose registration failed. */
  releaseInvite(hash: string): Promise<void>;
  /** Expires an invite at once; false when there is no such unused invite. */
  revokeInvite(id: string): Promise<boolean>;
  createApiKey(key: Omit<ApiKeyRecord, 'lastUsedAt' | 'revokedAt' | 'uses'>): Promise<void>;
  apiKeyByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Newest first. */
  listApiKeys(limit: number): Promise<ApiKeyRecord[]>;
  /** Revokes a key at `at`; false when there is no such unrevoked key. */
  revokeApiKey(id: string, at: number): Promise<boolean>;
  /** Adds `calls` successful calls made with a key, the last at `at`. */
  recordApiKeyUse(id: string, at: number, calls: number): Promise<void>;
  insertRefreshToken(token: Omit<RefreshTokenRecord, 'usedAt' | 'revoked'>): Promise<void>;
  getRefreshToken(hash: string): Promise<RefreshTokenRecord | undefined>;
  /** Atomically marks a refresh token used; false when it was already used or revoked (reuse). */
  useRefreshToken(hash: string, at: number): Promise<boolean>;
  revokeRefreshFamily(family: string): Promise<void>;

  // Revocations and bans: append-only logs that every node polls by id.
  /** `kind` defaults to `jti`; `at` (ms) is the issued-before time of a `user` revocation. */
  addRevocation(jti: string, expiresAt: number, kind?: RevocationKind, at?: number): Promise<void>;
  /** Revocations with id > afterId that have not expired. */
  revocationsAfter(afterId: number, now: number): Promise<RevocationRecord[]>;
  addBan(ban: Omit<BanRecord, 'id'>): Promise<BanRecord>;
  /** Ban log entries with id > afterId (including lifts, `until` = 0). */
  bansAfter(afterId: number): Promise<BanRecord[]>;

  getKeyCheck(kind: KeyKind, keyId: string): Promise<KeyCheckRecord | undefined>;
  /** Stores a key's check value unless (kind, keyId) has one; resolves with the stored record (the first writer's). */
  claimKeyCheck(record: KeyCheckRecord): Promise<KeyCheckRecord>;
  /** Replaces the check value of (kind, keyId): an operator changed that key on purpose. */
  replaceKeyCheck(record: KeyCheckRecord): Promise<void>;
  /** One stored (not deleted) message body encrypted under `keyId`, to test a key against before its check value exists. */
  sampleEncrypted(keyId: string): Promise<EncodedText | undefined>;

  /** Throws when the database is unreachable (readiness). */
  ping(): Promise<void>;
  /** Resolves when every write issued so far is committed. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
