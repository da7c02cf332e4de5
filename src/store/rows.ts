/**
 * Row shapes shared by the SQL backends and their mapping to store records. Column names are the
 * same in both schemas; SQLite stores `deleted` as 0/1, PostgreSQL as a boolean.
 */
import type { TextCodec } from './text-codec.js';
import type { RoomRecord, SecurityEventRecord, StoredMessage } from './store.js';

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
  body: Buffer;
  key_id: string | null;
  ts: number;
  reply_to: string | null;
  deleted: number | boolean;
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

function messageOf(row: MessageRow, roomName: string, text: string): StoredMessage {
  return {
    id: row.id,
    seq: row.seq,
    roomName,
    userId: row.user_id,
    userName: row.user_name,
    text,
    ts: row.ts,
    replyTo: row.reply_to ?? undefined,
    deleted: isDeleted(row),
  };
}

/** A stored message; text is decrypted with the row's message id as associated data. */
export function toMessage(row: MessageRow, roomName: string, codec: TextCodec): StoredMessage {
  return messageOf(row, roomName, isDeleted(row) ? '' : codec.decode(row.body, row.key_id, row.id));
}

/** Below this many rows a page is decoded in place: the thread round trip costs more. */
const THREAD_MIN_ROWS = 16;

/** A page of messages; a codec that can decodes it off the event loop (`decodeMany`). */
export async function toMessages(rows: readonly MessageRow[], roomName: string, codec: TextCodec): Promise<StoredMessage[]> {
  if (!codec.decodeMany || rows.length < THREAD_MIN_ROWS) return rows.map((r) => toMessage(r, roomName, codec));
  const live = rows.filter((r) => !isDeleted(r));
  const texts = await codec.decodeMany(live.map((r) => ({ body: r.body, keyId: r.key_id, aad: r.id })));
  let next = 0;
  return rows.map((r) => messageOf(r, roomName, isDeleted(r) ? '' : texts[next++]!));
}
