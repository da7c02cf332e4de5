/**
 * PostgreSQL for tests: BULWARK_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/test.
 * Every run works in fresh schemas (bulwark_test_<random>_<n>), dropped by `dropAll`.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DATABASE_URL = process.env.BULWARK_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used, or undefined when it can. */
export async function postgresMissing(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    const why = (error as { code?: string }).code ?? (error as Error).message;
    return `PostgreSQL unreachable at ${new URL(DATABASE_URL).host} (${why}); set BULWARK_TEST_DATABASE_URL`;
  } finally {
    await client.end().catch(() => {});
  }
}

export class TestSchemas {
  private readonly run = `bulwark_test_${randomBytes(4).toString('hex')}`;
  private readonly names: string[] = [];
  private readonly admin = new pg.Pool({ connectionString: DATABASE_URL, max: 2 });

  /** A fresh, empty schema; returns the database URL a server uses to work inside it. */
  async create(): Promise<string> {
    const name = `${this.run}_${this.names.length + 1}`;
    this.names.push(name);
    await this.admin.query(`CREATE SCHEMA ${name}`);
    const u = new URL(DATABASE_URL);
    u.searchParams.set('options', `-c search_path=${name}`);
    return u.toString();
  }

  /** Runs a query in the schema of a URL made by `create`. */
  async query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  async dropAll(): Promise<void> {
    for (const name of this.names) await this.admin.query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
    await this.admin.end();
  }
}
