/**
 * The data directory holds the database, the signing secret and the encryption keys: the
 * directory is created 0700 and every file in it 0600, and looser modes left by an older
 * version or a careless copy are tightened at start-up. SQLite gives its `-wal` and `-shm` files
 * the database file's mode, so creating the database file 0600 first covers them too.
 */
import { chmodSync, closeSync, mkdirSync, openSync, statSync } from 'node:fs';

/** chmod `path` to `mode` when it grants more than `mode`; a missing path is left alone. */
export function tighten(path: string, mode: number): void {
  let current: number;
  try {
    current = statSync(path).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if ((current & ~mode) !== 0) chmodSync(path, current & mode);
}

/** Creates `dir` (and its parents) with mode 0700, or tightens an existing one to 0700. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  tighten(dir, 0o700);
}

/** Creates an empty `path` with mode 0600 if absent, or tightens an existing one to 0600. */
export function ensurePrivateFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600));
  tighten(path, 0o600);
}
