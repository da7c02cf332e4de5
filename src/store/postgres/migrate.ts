/**
 * Brings a PostgreSQL schema to the newest version. Several nodes may start at once: a session
 * advisory lock lets one migrate while the others wait, then find nothing left to do.
 */
import pg from 'pg';
import { POSTGRES_MIGRATIONS } from '../migrations/postgres.js';
import { isDatabaseError } from './errors.js';

/** Key of the session advisory lock held while migrating ("Bulwark" in ASCII, as a bigint). */
const MIGRATION_LOCK_KEY = '18706457182696043';

function noop(): void {}

export async function migrate(pool: pg.Pool, schema: string | undefined): Promise<void> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query('CREATE TABLE IF NOT EXISTS bulwark_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      const { rows } = await client.query<{ v: number }>('SELECT COALESCE(MAX(version), 0)::int AS v FROM bulwark_migrations');
      for (let v = rows[0]!.v; v < POSTGRES_MIGRATIONS.length; v++) {
        await client.query('BEGIN');
        try {
          await client.query(POSTGRES_MIGRATIONS[v]!);
          await client.query('INSERT INTO bulwark_migrations (version, applied_at) VALUES ($1, $2)', [v + 1, Date.now()]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(noop);
          throw error;
        }
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]).catch(noop);
    }
  } catch (error) {
    if (!isDatabaseError(error)) broken = error as Error;
    throw error;
  } finally {
    client.release(broken);
  }
}
