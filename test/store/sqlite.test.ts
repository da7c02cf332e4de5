/** The store contract against SQLite (a fresh database file per test). */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runStoreConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'bulwark-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
runStoreConformance('sqlite', async () => {
  const path = join(dir, `store-${++n}.db`);
  return { store: new SqliteStore({ path }), reopen: async () => new SqliteStore({ path }) };
});
