/**
 * Backups of a SQLite node (docs/deploy.md, "Backups"): a directory holding a consistent copy of
 * the database, the key file and the signing secret, with a manifest of checksums.
 *
 * The database is copied with SQLite's online backup API in a single step, inside one read
 * transaction: in WAL mode that is a consistent snapshot, taken while the server keeps writing,
 * and it never restarts under write load. The key file is copied after the snapshot: keys are
 * only ever added, so a later key file can decrypt every row of an earlier snapshot (a rotation
 * during the backup cannot leave rows whose key is missing). The copy is then checked: SQLite's
 * integrity check, and every key id used by a stored message present in the copied key file.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SECRET_FILE } from '../auth/keys.js';
import { KEYS_FILE } from '../security/at-rest.js';
import { ensurePrivateDir, tighten } from './private-files.js';

export const DATABASE_FILE = 'bulwark.db';
export const MANIFEST_FILE = 'manifest.json';
export const BACKUP_FORMAT = 'bulwark-backup/1';

export interface BackupManifest {
  format: typeof BACKUP_FORMAT;
  createdAt: string;
  bulwarkVersion: string;
  /** SQLite `user_version`: how many migrations the database has. */
  schemaVersion: number;
  messages: number;
  /** Where message keys live: in this backup, in `BULWARK_ENCRYPTION_KEYS` (not backed up), or nowhere. */
  encryptionKeys: 'keys.json' | 'environment' | 'none';
  files: Record<string, { bytes: number; sha256: string }>;
}

export class BackupError extends Error {
  override name = 'BackupError';
}

function digest(path: string): { bytes: number; sha256: string } {
  const data = readFileSync(path);
  return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
}

function usedKeyIds(dbPath: string): string[] {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new BackupError(`the copied database fails SQLite's integrity check: ${String(check)}`);
    return (db.prepare('SELECT DISTINCT key_id FROM messages WHERE key_id IS NOT NULL').all() as Array<{ key_id: string }>).map((r) => r.key_id);
  } finally {
    db.close();
  }
}

export interface BackupOptions {
  dataDir: string;
  /** A new (or empty) directory. */
  dest: string;
  bulwarkVersion: string;
  /** Keys come from `BULWARK_ENCRYPTION_KEYS`: none to copy. */
  keysFromEnvironment: boolean;
}

/** Takes a backup of a SQLite node's data directory into `dest`; the server may be running. */
export async function backupSqlite(options: BackupOptions): Promise<BackupManifest> {
  const { dataDir, dest } = options;
  const source = join(dataDir, DATABASE_FILE);
  if (!existsSync(source)) throw new BackupError(`no ${DATABASE_FILE} in ${dataDir}`);
  if (existsSync(dest) && (!statSync(dest).isDirectory() || readdirSync(dest).length > 0)) throw new BackupError(`${dest} exists and is not an empty directory`);
  ensurePrivateDir(dest);

  const copy = join(dest, DATABASE_FILE);
  const db = new Database(source, { readonly: true, fileMustExist: true });
  let schemaVersion: number;
  let messages: number;
  try {
    schemaVersion = db.pragma('user_version', { simple: true }) as number;
    // All remaining pages in one step: one read transaction, one snapshot, no restart under writes.
    await db.backup(copy, { progress: () => 0x7fffffff });
  } finally {
    db.close();
  }
  tighten(copy, 0o600);
  const copied = new Database(copy, { fileMustExist: true });
  try {
    // The copy is a standalone file: no WAL, so it opens read-only anywhere and restores as is.
    copied.pragma('journal_mode = DELETE');
    messages = (copied.prepare('SELECT COUNT(*) AS n FROM messages').get() as { n: number }).n;
  } finally {
    copied.close();
  }

  const files: BackupManifest['files'] = {};
  let encryptionKeys: BackupManifest['encryptionKeys'] = 'none';
  for (const name of [KEYS_FILE, SECRET_FILE]) {
    const from = join(dataDir, name);
    if (!existsSync(from)) continue;
    copyFileSync(from, join(dest, name));
    tighten(join(dest, name), 0o600);
    if (name === KEYS_FILE) encryptionKeys = 'keys.json';
  }
  const ids = usedKeyIds(copy);
  if (ids.length > 0) {
    if (options.keysFromEnvironment) encryptionKeys = 'environment';
    else if (encryptionKeys === 'none') throw new BackupError(`stored messages are encrypted but ${KEYS_FILE} is missing from ${dataDir}`);
    else {
      const ring = JSON.parse(readFileSync(join(dest, KEYS_FILE), 'utf8')) as { keys: Record<string, string> };
      const missing = ids.filter((id) => !Object.hasOwn(ring.keys, id));
      if (missing.length > 0) throw new BackupError(`messages use key(s) ${missing.join(', ')} that ${KEYS_FILE} lacks`);
    }
  }
  for (const name of [DATABASE_FILE, KEYS_FILE, SECRET_FILE]) if (existsSync(join(dest, name))) files[name] = digest(join(dest, name));
  const manifest: BackupManifest = {
    format: BACKUP_FORMAT,
    createdAt: new Date().toISOString(),
    bulwarkVersion: options.bulwarkVersion,
    schemaVersion,
    messages,
    encryptionKeys,
    files,
  };
  writeFileSync(join(dest, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  return manifest;
}

/** PostgreSQL nodes: copies only the key file and the secret (the database is pg_dump's job). */
export function backupKeys(dataDir: string, dest: string): string[] {
  if (existsSync(dest) && (!statSync(dest).isDirectory() || readdirSync(dest).length > 0)) throw new BackupError(`${dest} exists and is not an empty directory`);
  ensurePrivateDir(dest);
  const copied: string[] = [];
  for (const name of [KEYS_FILE, SECRET_FILE]) {
    if (!existsSync(join(dataDir, name))) continue;
    copyFileSync(join(dataDir, name), join(dest, name));
    tighten(join(dest, name), 0o600);
    copied.push(name);
  }
  return copied;
}

/** Checks a backup directory against its manifest; returns the manifest. */
export function verifyBackup(dir: string): BackupManifest {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) throw new BackupError(`${dir} is not a Bulwark backup (no ${MANIFEST_FILE})`);
  const manifest = JSON.parse(readFileSync(path, 'utf8')) as BackupManifest;
  if (manifest.format !== BACKUP_FORMAT) throw new BackupError(`${dir}: unknown backup format ${String(manifest.format)}`);
  if (!manifest.files[DATABASE_FILE]) throw new BackupError(`${dir}: the backup holds no database`);
  for (const [name, expected] of Object.entries(manifest.files)) {
    const file = join(dir, name);
    if (!existsSync(file)) throw new BackupError(`${dir}: ${name} is missing`);
    const actual = digest(file);
    if (actual.sha256 !== expected.sha256) throw new BackupError(`${dir}: ${name} does not match its checksum (damaged or changed)`);
  }
  return manifest;
}

/** Restores a verified backup into an empty data directory (created 0700; files 0600). */
export function restoreSqlite(dir: string, dataDir: string): BackupManifest {
  const manifest = verifyBackup(dir);
  const present = [DATABASE_FILE, `${DATABASE_FILE}-wal`, KEYS_FILE, SECRET_FILE].filter((name) => existsSync(join(dataDir, name)));
  if (present.length > 0)
    throw new BackupError(`${dataDir} already holds ${present.join(', ')}: restore into a new data directory, or move these away first (with the server stopped)`);
  ensurePrivateDir(dataDir);
  for (const name of Object.keys(manifest.files)) {
    // Copy then rename: a server started on the directory never sees a half-written file.
    const tmp = join(dataDir, `.${name}.restoring`);
    copyFileSync(join(dir, name), tmp);
    tighten(tmp, 0o600);
    renameSync(tmp, join(dataDir, name));
  }
  usedKeyIds(join(dataDir, DATABASE_FILE));
  return manifest;
}
