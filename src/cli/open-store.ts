/**
 * Opens the configured store for an operator command (the server may be running: SQLite WAL and
 * PostgreSQL both allow it).
 */
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { EncryptingCodec, loadKeyRing } from '../security/at-rest.js';
import { PostgresStore } from '../store/postgres-store.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';

export async function openStore(config: Config): Promise<Store> {
  const codec = config.encryption.enabled ? new EncryptingCodec(loadKeyRing(config.dataDir)) : undefined;
  if (config.databaseUrl) return PostgresStore.open({ url: config.databaseUrl, codec });
  // A one-shot command needs no background checkpoint thread: SQLite checkpoints inside its commits.
  return new SqliteStore({ path: join(config.dataDir, 'bulwark.db'), codec, checkpointIntervalMs: 0 });
}
