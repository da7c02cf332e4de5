/**
 * PostgreSQL schema, one entry per version (recorded in `bulwark_migrations`). Never edit a
 * shipped entry: add one. Same tables as SQLite (migrations/sqlite.ts): timestamps are BIGINT
 * milliseconds, message text is BYTEA (UTF-8 or AES-256-GCM, with `key_id`).
 *
 * messages has PRIMARY KEY (room_id, seq), so every history page is one index range scan
 * whatever the table size; the unique index on id serves deletes and reply lookups.
 * rooms.last_seq is the per-room counter: appends take the room row lock with
 * `UPDATE rooms SET last_seq = last_seq + n ... RETURNING last_seq`, which keeps seq gap-free
 * across every node sharing the database.
 */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE rooms (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('public','private')),
    created_at BIGINT NOT NULL,
    last_seq BIGINT NOT NULL DEFAULT 0
  );
  CREATE TABLE members (
    room_id BIGINT NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('member','invited','kicked')),
    PRIMARY KEY (room_id, user_id)
  );
  CREATE INDEX members_user ON members(user_id, room_id);
  CREATE TABLE messages (
    room_id BIGINT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    body BYTEA NOT NULL,
    key_id TEXT,
    ts BIGINT NOT NULL,
    reply_to TEXT,
    deleted BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (room_id, seq)
  );
  CREATE UNIQUE INDEX messages_id ON messages(id);
  CREATE TABLE security_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts BIGINT NOT NULL,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    ip TEXT,
    user_id TEXT,
    detail TEXT
  );
  CREATE INDEX security_events_ts ON security_events(ts);
  `,
  `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    roles TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL
  );
  CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    user_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    revoked BOOLEAN NOT NULL DEFAULT false
  );
  CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
  CREATE TABLE revocations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti TEXT NOT NULL,
    expires_at BIGINT NOT NULL
  );
  CREATE TABLE bans (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('user','ip')),
    value TEXT NOT NULL,
    until BIGINT NOT NULL,
    level INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  `,
  // Aggregated security events (contract section 3): repeats within a minute add to one row.
  `
  ALTER TABLE security_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1,
    ADD COLUMN last_ts BIGINT,
    ADD COLUMN agg_key TEXT;
  CREATE UNIQUE INDEX security_events_agg ON security_events(agg_key);
  `,
  `
  CREATE TABLE key_checks (
    kind TEXT NOT NULL CHECK (kind IN ('encryption','jwt')),
    key_id TEXT NOT NULL,
    check_value TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (kind, key_id)
  );
  `,
  // 5: identities that cannot collide; see the SQLite migration of the same number.
  `
  ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false;
  UPDATE rooms SET owner = 'acct:' || owner
    WHERE created_at >= (SELECT u.created_at FROM users u WHERE u.id = rooms.owner);
  UPDATE messages SET user_id = 'acct:' || user_id
    WHERE ts >= (SELECT u.created_at FROM users u WHERE u.id = messages.user_id);
  UPDATE members SET user_id = 'acct:' || user_id
    WHERE user_id IN (SELECT id FROM users)
      AND NOT EXISTS (SELECT 1 FROM rooms r WHERE r.id = members.room_id AND r.owner = members.user_id)
      AND NOT EXISTS (SELECT 1 FROM members m2 WHERE m2.room_id = members.room_id AND m2.user_id = 'acct:' || members.user_id);
  UPDATE refresh_tokens SET user_id = 'acct:' || user_id WHERE user_id IN (SELECT id FROM users);
  UPDATE users SET id = 'acct:' || id WHERE id NOT LIKE 'acct:%';
  CREATE TABLE invites (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    used_by TEXT
  );
  CREATE INDEX rooms_owner ON rooms(owner);
  CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
  ALTER TABLE revocations ADD COLUMN kind TEXT NOT NULL DEFAULT 'jti' CHECK (kind IN ('jti','sid','user','disable','enable'));
  ALTER TABLE revocations ADD COLUMN at BIGINT NOT NULL DEFAULT 0;
  `,
  // 6: edited messages (docs/protocol.md "`chat.edit`"): when the text was last replaced.
  `
  ALTER TABLE messages ADD COLUMN edited_at BIGINT;
  `,
  // 7: server API keys; see the SQLite migration of the same purpose.
  `
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    last_used_at BIGINT,
    revoked_at BIGINT,
    uses BIGINT NOT NULL DEFAULT 0
  );
  `,
];
