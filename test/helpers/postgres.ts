/**
 * PostgreSQL for tests that run a suite on both backends: BULWARK_TEST_DATABASE_URL, else
 * postgres://postgres@127.0.0.1:5432/test. Each caller works in fresh schemas
 * (bulwark_test_<random>_<n>) dropped by `cleanup()`. `unreachable` says why PostgreSQL cannot be
 * used; callers skip with that message, or fail under CI=true. The cluster suites use
 * `postgresMissing` and `TestSchemas` below, the same way; the benchmark uses `postgresUnreachable`.
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
  /** A client of the admin pool, for a transaction or a lock held across statements; release it. */
  connect(): Promise<pg.PoolClient>;
  /** Drops the schemas and closes the admin pool. */
  cleanup(): Promise<void>;
}

/** Why PostgreSQL at `url` cannot be used (an error code or message), or undefined when it answers. */
export async function postgresUnreachable(url = POSTGRES_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
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
  const unreachable = await postgresUnreachable();
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
    urlFor: schemaUrl,
    query: (text, values) => admin!.query(text, values),
    connect: () => admin!.connect(),
    async cleanup() {
      if (!admin) return;
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await admin.end();
    },
  };
}

/** The URL a server (which knows only databaseUrl) uses to work inside `schema`. */
export function schemaUrl(schema: string): string {
  const u = new URL(POSTGRES_URL);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/** The message a suite skips (or fails under CI=true) with when PostgreSQL is unreachable. */
export function postgresUnreachableMessage(why: string): string {
  return `PostgreSQL unreachable at ${new URL(POSTGRES_URL).host} (${why}); set BULWARK_TEST_DATABASE_URL`;
}

/** The same database, for the cluster suites (`postgresMissing`, `TestSchemas`). */
export const DATABASE_URL = POSTGRES_URL;

/** Why PostgreSQL cannot be used, or undefined when it can. */
export async function postgresMissing(): Promise<string | undefined> {
  const why = await postgresUnreachable();
  return why === undefined ? undefined : postgresUnreachableMessage(why);
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
    return schemaUrl(name);
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
