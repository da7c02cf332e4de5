/**
 * Row shapes shared by the SQL backends and their mapping to store records. Column names are the
 * same in both schemas; SQLite stores `deleted` as 0/1, PostgreSQL as a boolean.
 */
import type { TextCodec } from './text-codec.js';
import type { ApiKeyRecord, RoomRecord, SecurityEventRecord, StoredMessage, StoredSecurityEvent } from './store.js';

export interface RoomRow {
  id: number;
  name: string;
  owner: string;
  visibility: 'public' | 'private';
  created_at: number;
}

export interface MessageRow {
  id: string;
  seq: number;
  user_id: string;
  user_name: string;
  /**
   * The stored bytes; or, as SQLite's history pages read it, a string: the plain text when
   * `key_id` is null, else the encrypted body in hex.
   */
  body: Buffer | string;
  key_id: string | null;
  ts: number;
  reply_to: string | null;
  deleted: number | boolean;
  /** NULL on a message never edited (and on rows read before migration 6). */
  edited_at?: number | string | null;
}

export interface EventRow {
  ts: number;
  type: string;
  severity: SecurityEventRecord['severity'];
  ip: string | null;
  user_id: string | null;
  detail: string | null;
  count: number;
  /** NULL on rows written before aggregation existed. */
  last_ts: number | null;
}

export const EVENT_COLUMNS = 'ts, type, severity, ip, user_id, detail, count, last_ts';

/**
 * The admin console's event filters as SQL, the same text for both backends apart from the
 * placeholders: an absent filter is NULL and matches everything, so one prepared statement serves
 * every combination. Severities travel as one string `,warning,error,` (the range `ts` bounds the
 * scan of the `ts` index).
 */
export function eventFilterSql(p: (name: string) => string, columns: { ts: string; severity: string }): string {
  return [
    `(${p('type')} IS NULL OR type = ${p('type')})`,
    `(${p('user')} IS NULL OR user_id = ${p('user')})`,
    `(${p('ip')} IS NULL OR ip = ${p('ip')})`,
    `(${p('severities')} IS NULL OR ${columns.severity} > 0)`,
    `${columns.ts} >= ${p('since')} AND ${columns.ts} <= ${p('until')}`,
  ].join(' AND ');
}

export interface EventFilterValues {
  type: string | null;
  user: string | null;
  ip: string | null;
  severities: string | null;
  since: number;
  until: number;
}

export function eventFilterValues(q: {
  type?: string | undefined;
  user?: string | undefined;
  ip?: string | undefined;
  severities?: readonly string[] | undefined;
  since?: number | undefined;
  until?: number | undefined;
}): EventFilterValues {
  return {
    type: q.type ?? null,
    user: q.user ?? null,
    ip: q.ip ?? null,
    severities: q.severities && q.severities.length ? `,${q.severities.join(',')},` : null,
    since: q.since ?? 0,
    until: q.until ?? Number.MAX_SAFE_INTEGER,
  };
}

export interface StoredEventRow extends EventRow {
  id: number;
}

export function toStoredEvent(r: StoredEventRow): StoredSecurityEvent {
  return { ...toSecurityEvent(r), id: r.id, count: r.count, lastTs: r.last_ts ?? r.ts };
}

export function toSecurityEvent(r: EventRow): SecurityEventRecord {
  return {
    ts: r.ts,
    type: r.type,
    severity: r.severity,
    ip: r.ip ?? undefined,
    user: r.user_id ?? undefined,
    detail: r.detail ? (JSON.parse(r.detail) as Record<string, unknown>) : undefined,
    count: r.count,
    lastTs: r.last_ts ?? r.ts,
  };
}

/** The insert's parameters: ts, type, severity, ip, user, detail, count, last_ts, aggregation key. */
export function eventValues(event: SecurityEventRecord, aggregateKey: string | undefined, text: (s: string | undefined) => string | null): unknown[] {
  const count = Math.max(1, Math.floor(event.count ?? 1));
  return [
    event.ts,
    text(event.type),
    event.severity,
    text(event.ip),
    text(event.user),
    event.detail ? JSON.stringify(event.detail) : null,
    count,
    event.lastTs ?? event.ts,
    aggregateKey ?? null,
  ];
}

export function toRoom(row: RoomRow): RoomRecord {
  return { id: row.id, name: row.name, owner: row.owner, visibility: row.visibility, createdAt: row.created_at };
}

const isDeleted = (row: MessageRow): boolean => row.deleted === 1 || row.deleted === true;

/**
 * Rows whose text could not be decrypted, per page or single read: reported (not thrown) so one
 * bad row never fails a page (docs/protocol.md "The message object").
 */
export type UnreadableHook = (room: string, keyIds: ReadonlyArray<string | null>) => void;

/** `text` null: the row could not be decrypted; it is returned as unavailable. */
function messageOf(row: MessageRow, roomName: string, text: string | null): StoredMessage {
  const message: StoredMessage = {
    id: row.id,
    seq: row.seq,
    roomName,
    userId: row.user_id,
    userName: row.user_name,
    text: text ?? '',
    ts: row.ts,
    replyTo: row.reply_to ?? undefined,
    deleted: isDeleted(row),
  };
  if (row.edited_at !== null && row.edited_at !== undefined) message.editedAt = Number(row.edited_at);
  if (text === null) message.unavailable = true;
  return message;
}

function decodeOne(row: MessageRow, codec: TextCodec): string | null {
  const body = row.body;
  if (typeof body === 'string' && row.key_id === null) return body;
  try {
    return codec.decode(typeof body === 'string' ? Buffer.from(body, 'hex') : body, row.key_id, row.id);
  } catch {
    return null;
  }
}

/** A stored message; text is decrypted with the row's message id as associated data. */
export function toMessage(row: MessageRow, roomName: string, codec: TextCodec, onUnreadable?: UnreadableHook): StoredMessage {
  const text = isDeleted(row) ? '' : decodeOne(row, codec);
  if (text === null) onUnreadable?.(roomName, [row.key_id]);
  return messageOf(row, roomName, text);
}

/** Below this many rows a page is decoded in place: the thread round trip costs more. */
const THREAD_MIN_ROWS = 16;

/** The text of a row that needs no decoding (deleted, or read as text without a key); undefined when it does. */
function textInPlace(row: MessageRow): string | undefined {
  if (isDeleted(row)) return '';
  return typeof row.body === 'string' && row.key_id === null ? row.body : undefined;
}

/** A page of messages; a codec that can decodes it off the event loop (`decodeMany`). */
export async function toMessages(rows: readonly MessageRow[], roomName: string, codec: TextCodec, onUnreadable?: UnreadableHook): Promise<StoredMessage[]> {
  let texts: Array<string | null>;
  if (!codec.decodeMany || rows.length < THREAD_MIN_ROWS) {
    texts = rows.map((r) => (isDeleted(r) ? '' : decodeOne(r, codec)));
  } else {
    const pending = rows.filter((r) => textInPlace(r) === undefined);
    const decoded = pending.length > 0 ? await codec.decodeMany(pending.map((r) => ({ body: r.body, keyId: r.key_id, aad: r.id }))) : [];
    let next = 0;
    texts = rows.map((r) => textInPlace(r) ?? decoded[next++] ?? null);
  }
  let unreadable: Array<string | null> | undefined;
  const messages = rows.map((r, i) => {
    if (texts[i] === null) (unreadable ??= []).push(r.key_id);
    return messageOf(r, roomName, texts[i] ?? null);
  });
  if (unreadable) onUnreadable?.(roomName, unreadable);
  return messages;
}

export interface ApiKeyRow {
  id: string;
  name: string;
  hash: string;
  scopes: string;
  created_at: number;
  expires_at: number | null;
  last_used_at: number | null;
  revoked_at: number | null;
  uses: number;
}

export function toApiKey(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    hash: row.hash,
    scopes: row.scopes ? row.scopes.split(',') : [],
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
    uses: row.uses,
  };
}
