/**
 * PostgreSQL for tests that run a suite on both backends: BULWARK_TEST_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/test. Each caller works in fresh schemas
 * (bulwark_test_<random>_<n>) dropped by `cleanup()`. `unreachable` says why PostgreSQL cannot be
 * used; callers skip with that message, or fail under CI=true (test/store/postgres.test.ts does
 * the same). The cluster suites use `postgresMissing` and `TestSchemas` below, the same way.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_URL = process.env.BULWARK_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const CI = process.env.CI === 'true';

export interface TestPostgres {
  /** Undefined when reachable, else the reason (an error code or message). */
  unreachable: string | undefined;
  /** A new empty schema. */
  newSchema(): Promise<string>;
  /** The URL a server (which knows only databaseUrl) uses to work inside a schema. */
  urlFor(schema: string): string;
  /** Runs SQL as the test's admin connection. */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>>;
  /** Drops the schemas and closes the admin pool. */
  cleanup(): Promise<void>;
}

async function probe(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  } finally {
    await client.end().catch(() => {});
  }
}

export async function testPostgres(): Promise<TestPostgres> {
  const unreachable = await probe();
  const run = `bulwark_test_${randomBytes(4).toString('hex')}`;
  const schemas: string[] = [];
  const admin = unreachable === undefined ? new pg.Pool({ connectionString: POSTGRES_URL, max: 2 }) : undefined;
  return {
    unreachable,
    async newSchema() {
      const name = `${run}_${schemas.length + 1}`;
      schemas.push(name);
      await admin!.query(`CREATE SCHEMA ${name}`);
      return name;
    },
    urlFor(schema) {
      const u = new URL(POSTGRES_URL);
      u.searchParams.set('options', `-c search_path=${schema}`);
      return u.toString();
    },
    query: (text, values) => admin!.query(text, values),
    async cleanup() {
      if (!admin) return;
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await admin.end();
    },
  };
}

/** The same database, for the cluster suites (`postgresMissing`, `TestSchemas`). */
export const DATABASE_URL = POSTGRES_URL;

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
