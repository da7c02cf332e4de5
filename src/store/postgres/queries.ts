/**
 * The PostgreSQL store's SQL: named statements (parsed once per pooled connection), the column
 * type parsers and the one helper that runs a named statement.
 */
import pg from 'pg';
import type { CustomTypesConfig, QueryResultRow } from 'pg';
import { eventFilterSql } from '../rows.js';

/** BIGINT columns hold ms timestamps, ids and seqs: all well inside Number's exact range. */
const INT8_OID = 20;
export const types: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

/** Transaction advisory lock that keeps revocation and ban ids committed in id order. */
export const LOG_LOCK = 0x42756c77;

/** Text columns refuse NUL; audit fields carry attacker-chosen strings. */
export function noNul(value: string | undefined): string | null {
  return value === undefined ? null : value.replace(/\0/g, '\uFFFD');
}

const MESSAGE_COLUMNS = 'id, seq, user_id, user_name, body, key_id, ts, reply_to, deleted, edited_at';

const PG_PARAMS: Record<string, string> = { type: '$1::text', user: '$2::text', ip: '$3::text', severities: '$4::text', since: '$5::bigint', until: '$6::bigint' };
const PG_EVENT_FILTER = eventFilterSql((name) => PG_PARAMS[name]!, { ts: 'ts', severity: "strpos($4::text, ',' || severity || ',')" });

/** Named statements: parsed once per pooled connection. */
export const Q = {
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
  listRoomsPage: {
    name: 'bw_list_rooms_page',
    text: `SELECT * FROM (
             SELECT * FROM (SELECT id, name, owner, visibility, created_at FROM rooms
                 WHERE visibility = 'public' AND name COLLATE "C" > $2 AND strpos(lower(name), $3) > 0 ORDER BY name COLLATE "C" LIMIT $4) p
             UNION
             SELECT * FROM (SELECT r.id, r.name, r.owner, r.visibility, r.created_at FROM members m JOIN rooms r ON r.id = m.room_id
                 WHERE m.user_id = $1 AND m.state IN ('member','invited') AND r.name COLLATE "C" > $2 AND strpos(lower(r.name), $3) > 0
                 ORDER BY r.name COLLATE "C" LIMIT $4) q
           ) u ORDER BY name COLLATE "C" LIMIT $4`,
  },
  /** Serializes room creation per owner (across nodes) so the owned-room count cannot be raced. */
  ownerLock: { name: 'bw_owner_lock', text: 'SELECT pg_advisory_xact_lock(1114991736, hashtext($1))' },
  insertOwnedRoom: {
    name: 'bw_insert_owned_room',
    text: `WITH r AS (
             INSERT INTO rooms (name, owner, visibility, created_at)
             SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM rooms WHERE owner = $2) < $5
             ON CONFLICT (name) DO NOTHING RETURNING id
           ), m AS (
             INSERT INTO members (room_id, user_id, state) SELECT id, $2, 'member' FROM r
           )
           SELECT id FROM r`,
  },
  roomExists: { name: 'bw_room_exists', text: 'SELECT 1 FROM rooms WHERE name = $1' },
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
    text: `SELECT r.name AS room_name, m.id, m.seq, m.user_id, m.user_name, m.body, m.key_id, m.ts, m.reply_to, m.deleted, m.edited_at
           FROM messages m JOIN rooms r ON r.id = m.room_id WHERE m.id = $1 AND m.room_id = $2`,
  },
  editMessage: {
    name: 'bw_edit_message',
    text: `UPDATE messages m SET body = $1, key_id = $2, edited_at = $3 FROM rooms r
           WHERE r.id = m.room_id AND m.id = $4 AND m.room_id = $5 AND NOT m.deleted
           RETURNING r.name AS room_name, m.id, m.seq, m.user_id, m.user_name, m.ts, m.reply_to, m.edited_at`,
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
  /** With an aggregation key, a repeat adds to its row (contract section 3 "Under attack"). */
  insertEvent: {
    name: 'bw_insert_event_agg',
    text: `INSERT INTO security_events (ts, type, severity, ip, user_id, detail, count, last_ts, agg_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (agg_key) DO UPDATE SET count = security_events.count + excluded.count,
             last_ts = GREATEST(COALESCE(security_events.last_ts, security_events.ts), excluded.last_ts)`,
  },
  // $1 type, $2 user, $3 ip, $4 severities, $5 since, $6 until (see rows.ts eventFilterSql)
  queryEvents: {
    name: 'bw_query_events',
    text: `SELECT id, ts, type, severity, ip, user_id, detail, count, last_ts FROM security_events WHERE ${PG_EVENT_FILTER}
           AND (ts < $7 OR (ts = $7 AND id < $8)) ORDER BY ts DESC, id DESC LIMIT $9`,
  },
  changedEvents: {
    name: 'bw_changed_events',
    text: `SELECT id, ts, type, severity, ip, user_id, detail, count, last_ts FROM security_events WHERE ${PG_EVENT_FILTER}
           AND ts > $7::bigint - 60000 AND coalesce(last_ts, ts) > $7 ORDER BY coalesce(last_ts, ts), id LIMIT $8`,
  },
  countEventsBy: {
    name: 'bw_count_events_by',
    text: `SELECT type, severity, sum(count)::int AS count FROM security_events WHERE ${PG_EVENT_FILTER} GROUP BY type, severity`,
  },
  // A null parameter means "any"; $7 is an array of severities or null.
  eventsNewest: {
    name: 'bw_events_newest',
    text: `SELECT id, ts, type, severity, ip, user_id, detail, count, last_ts FROM security_events
      WHERE ts >= $1 AND id > $2 AND ($3::text IS NULL OR type = $3) AND ($4::text IS NULL OR user_id = $4) AND ($5::text IS NULL OR ip = $5)
        AND ($7::text[] IS NULL OR severity = ANY($7::text[]))
      ORDER BY id DESC LIMIT $6`,
  },
  eventsOldest: {
    name: 'bw_events_oldest',
    text: `SELECT id, ts, type, severity, ip, user_id, detail, count, last_ts FROM security_events
      WHERE ts >= $1 AND id > $2 AND ($3::text IS NULL OR type = $3) AND ($4::text IS NULL OR user_id = $4) AND ($5::text IS NULL OR ip = $5)
        AND ($7::text[] IS NULL OR severity = ANY($7::text[]))
      ORDER BY id ASC LIMIT $6`,
  },
  eventsSince: {
    name: 'bw_events_since_agg',
    text: 'SELECT ts, type, severity, ip, user_id, detail, count, last_ts FROM security_events WHERE ts >= $1 ORDER BY id ASC LIMIT $2',
  },
  /** Pruning deletes in bounded batches: the oldest by first occurrence, then by id. */
  deleteExpiredEvents: {
    name: 'bw_delete_expired_events',
    text: 'DELETE FROM security_events WHERE id IN (SELECT id FROM security_events WHERE ts < $1 ORDER BY ts LIMIT $2)',
  },
  countEvents: { name: 'bw_count_events', text: 'SELECT count(*)::int AS n FROM security_events' },
  deleteOldestEvents: {
    name: 'bw_delete_oldest_events',
    text: 'DELETE FROM security_events WHERE id IN (SELECT id FROM security_events ORDER BY id LIMIT $1)',
  },
  insertUser: {
    name: 'bw_insert_user',
    text: 'INSERT INTO users (id, name, password_hash, roles, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING',
  },
  userById: { name: 'bw_user_by_id', text: 'SELECT id, name, password_hash, roles, created_at, disabled FROM users WHERE id = $1' },
  listUsers: {
    name: 'bw_list_users',
    text: `SELECT id, name, password_hash, roles, created_at, disabled FROM users
           WHERE id > $1 COLLATE "C" AND strpos(name, $2) > 0 ORDER BY id COLLATE "C" LIMIT $3`,
  },
  updateUser: {
    name: 'bw_update_user',
    text: `UPDATE users SET roles = COALESCE($2, roles), disabled = COALESCE($3, disabled), password_hash = COALESCE($4, password_hash)
           WHERE id = $1`,
  },
  revokeUserRefresh: { name: 'bw_revoke_user_refresh', text: 'UPDATE refresh_tokens SET revoked = true WHERE user_id = $1 AND NOT revoked' },
  insertInvite: {
    name: 'bw_insert_invite',
    text: 'INSERT INTO invites (id, hash, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)',
  },
  listInvites: {
    name: 'bw_list_invites',
    text: 'SELECT id, hash, created_by, created_at, expires_at, used_at, used_by FROM invites ORDER BY created_at DESC, id LIMIT $1',
  },
  claimInvite: {
    name: 'bw_claim_invite',
    text: 'UPDATE invites SET used_at = $1, used_by = $2 WHERE hash = $3 AND used_at IS NULL AND expires_at > $1',
  },
  releaseInvite: { name: 'bw_release_invite', text: 'UPDATE invites SET used_at = NULL, used_by = NULL WHERE hash = $1' },
  revokeInvite: { name: 'bw_revoke_invite', text: 'UPDATE invites SET expires_at = 0 WHERE id = $1 AND used_at IS NULL AND expires_at > 0' },
  insertApiKey: {
    name: 'bw_insert_api_key',
    text: 'INSERT INTO api_keys (id, name, hash, scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)',
  },
  apiKeyByHash: {
    name: 'bw_api_key_by_hash',
    text: 'SELECT id, name, hash, scopes, created_at, expires_at, last_used_at, revoked_at, uses FROM api_keys WHERE hash = $1',
  },
  listApiKeys: {
    name: 'bw_list_api_keys',
    text: 'SELECT id, name, hash, scopes, created_at, expires_at, last_used_at, revoked_at, uses FROM api_keys ORDER BY created_at DESC, id LIMIT $1',
  },
  revokeApiKey: { name: 'bw_revoke_api_key', text: 'UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL' },
  recordApiKeyUse: {
    name: 'bw_record_api_key_use',
    text: 'UPDATE api_keys SET uses = uses + $3, last_used_at = GREATEST(COALESCE(last_used_at, 0), $2) WHERE id = $1',
  },
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
  insertRevocation: { name: 'bw_insert_revocation_kind', text: 'INSERT INTO revocations (jti, expires_at, kind, at) VALUES ($1, $2, $3, $4)' },
  revocationsAfter: {
    name: 'bw_revocations_after_kind',
    text: 'SELECT id, jti, expires_at, kind, at FROM revocations WHERE id > $1 AND expires_at > $2 ORDER BY id LIMIT 10000',
  },
  insertBan: {
    name: 'bw_insert_ban',
    text: 'INSERT INTO bans (kind, value, until, level, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id',
  },
  bansAfter: {
    name: 'bw_bans_after',
    text: 'SELECT id, kind, value, until, level, reason, created_at FROM bans WHERE id > $1 ORDER BY id LIMIT 10000',
  },
  claimKeyCheck: {
    name: 'bw_claim_key_check',
    text: 'INSERT INTO key_checks (kind, key_id, check_value, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (kind, key_id) DO NOTHING',
  },
  replaceKeyCheck: {
    name: 'bw_replace_key_check',
    text: `INSERT INTO key_checks (kind, key_id, check_value, created_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (kind, key_id) DO UPDATE SET check_value = excluded.check_value, created_at = excluded.created_at`,
  },
  sampleEncrypted: { name: 'bw_sample_encrypted', text: 'SELECT id, body, key_id FROM messages WHERE key_id = $1 AND NOT deleted LIMIT 1' },
  keyCheck: { name: 'bw_key_check', text: 'SELECT kind, key_id, check_value, created_at FROM key_checks WHERE kind = $1 AND key_id = $2' },
} as const;

export type Statement = { readonly name: string; readonly text: string };

export interface Queryable {
  query<R extends QueryResultRow>(config: { name: string; text: string; values: unknown[] }): Promise<pg.QueryResult<R>>;
}

export function query<R extends QueryResultRow = QueryResultRow>(db: Queryable, statement: Statement, values: unknown[]): Promise<pg.QueryResult<R>> {
  return db.query<R>({ name: statement.name, text: statement.text, values });
}
