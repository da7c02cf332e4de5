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
  `
  CREATE TABLE key_checks (
    kind TEXT NOT NULL CHECK (kind IN ('encryption','jwt')),
    key_id TEXT NOT NULL,
    check_value TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (kind, key_id)
  ) WITHOUT ROWID;
  `,
  // 5: identities that cannot collide (docs/protocol.md "Identities"). Built-in accounts move to
  // their own namespace, acct:<username>; rows keyed by a username move with the account, except
  // rooms and messages older than the account: those can only be a token subject's of the same
  // name, which keeps them and its membership of its own rooms. Disabled accounts, invitations,
  // revocations of a session family or of a user, and the index that counts a user's rooms.
  `
  ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
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
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    used_by TEXT
  );
  CREATE INDEX rooms_owner ON rooms(owner);
  CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
  ALTER TABLE revocations ADD COLUMN kind TEXT NOT NULL DEFAULT 'jti' CHECK (kind IN ('jti','sid','user','disable','enable'));
  ALTER TABLE revocations ADD COLUMN at INTEGER NOT NULL DEFAULT 0;
  `,
  // 6: edited messages (docs/protocol.md "`chat.edit`"): when the text was last replaced.
  `
  ALTER TABLE messages ADD COLUMN edited_at INTEGER;
  `,
  // 7: server API keys (docs/protocol.md "Server API"): only the key's SHA-256 is stored.
  `
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER,
    uses INTEGER NOT NULL DEFAULT 0
  );
  `,
];
