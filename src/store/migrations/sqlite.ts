/**
 * SQLite schema, one entry per version (PRAGMA user_version). Never edit a shipped entry: add one.
 * messages is clustered on (room_id, seq) so a history page is one range scan whatever the
 * table size; the unique index on id serves deletes and reply lookups.
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE rooms (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    owner TEXT NOT NULL,
    visibility TEXT NOT NULL CHECK (visibility IN ('public','private')),
    created_at INTEGER NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE members (
    room_id INTEGER NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('member','invited','kicked')),
    PRIMARY KEY (room_id, user_id)
  ) WITHOUT ROWID;
  CREATE INDEX members_user ON members(user_id, room_id);
  CREATE TABLE messages (
    room_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    user_name TEXT NOT NULL,
    body BLOB NOT NULL,
    key_id TEXT,
    ts INTEGER NOT NULL,
    reply_to TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, seq)
  ) WITHOUT ROWID;
  CREATE UNIQUE INDEX messages_id ON messages(id);
  CREATE TABLE security_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts INTEGER NOT NULL,
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
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE refresh_tokens (
    hash TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    user_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0
  ) WITHOUT ROWID;
  CREATE INDEX refresh_tokens_family ON refresh_tokens(family);
  CREATE TABLE revocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    jti TEXT NOT NULL,
    expires_at INTEGER NOT NULL
  );
  CREATE TABLE bans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('user','ip')),
    value TEXT NOT NULL,
    until INTEGER NOT NULL,
    level INTEGER NOT NULL,
    reason TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
  // Aggregated security events (contract section 3): repeats within a minute add to one row.
  `
  ALTER TABLE security_events ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
  ALTER TABLE security_events ADD COLUMN last_ts INTEGER;
  ALTER TABLE security_events ADD COLUMN agg_key TEXT;
  CREATE UNIQUE INDEX security_events_agg ON security_events(agg_key);
  `,
];
