/**
 * Opens the configured store for an operator command (the server may be running: SQLite WAL and
 * PostgreSQL both allow it). Nothing is created: the database must exist. Operator commands read
 * and write bans, revocations and events, never message text, so no encryption key is loaded.
 */
import { join } from 'node:path';
import type { Store } from '../store/store.js';
import { requireExistingData, type CliContext } from './context.js';

export async function openStore(context: CliContext): Promise<Store> {
  requireExistingData(context);
  const { config } = context;
  // Loaded on demand: `bulwark --help` and `version` need neither database driver.
  if (config.databaseUrl) return (await import('../store/postgres-store.js')).PostgresStore.open({ url: config.databaseUrl });
  const { SqliteStore } = await import('../store/sqlite-store.js');
  // A one-shot command needs no background checkpoint thread: SQLite checkpoints inside its commits.
  return new SqliteStore({ path: join(config.dataDir, 'bulwark.db'), checkpointIntervalMs: 0 });
}

/** Opens the store, runs `work` and closes the store on every path. */
export async function withStore<T>(context: CliContext, work: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStore(context);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
