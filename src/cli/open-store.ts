/** Opens the configured store for an operator command (the server may be running: SQLite WAL allows it). */
import { join } from 'node:path';
import type { Config } from '../config/schema.js';
import { EncryptingCodec, loadKeyRing } from '../security/at-rest.js';
import { SqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';

export async function openStore(config: Config): Promise<Store> {
  const codec = config.encryption.enabled ? new EncryptingCodec(loadKeyRing(config.dataDir)) : undefined;
  return new SqliteStore({ path: join(config.dataDir, 'bulwark.db'), codec });
}
