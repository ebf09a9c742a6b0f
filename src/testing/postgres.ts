// Where Postgres tests find their server, and a throwaway database per test file so parallel files never collide.
import { randomBytes } from 'node:crypto';
import { after, type TestContext } from 'node:test';
import pg from 'pg';
import type { Database } from '../service/database/database.js';
import { migrate } from '../service/database/migrations.js';
import { PostgresDatabase } from '../service/database/postgres-database.js';

/** The variable CI sets (scripts/test-postgres.sh prints the URL of a local server). */
export const testDatabaseUrlVariable = 'PIXELPIPE_TEST_DATABASE_URL';

/**
 * URL of the PostgreSQL server tests may use. In CI (`CI=true`) a missing URL fails the test;
 * elsewhere the test is skipped with a loud message saying it was not run.
 * Returns undefined when the caller should return early.
 */
export function testDatabaseUrl(t: TestContext): string | undefined {
  const url = process.env[testDatabaseUrlVariable];
  if (url) return url;
  if (process.env.CI === 'true') throw new Error(`${testDatabaseUrlVariable} is not set in CI; run scripts/test-postgres.sh and export the URL it prints`);
  const message = `NOT RUN: ${testDatabaseUrlVariable} is not set, so this test did not touch PostgreSQL (set it to a server's URL, e.g. the one scripts/test-postgres.sh prints)`;
  console.warn(`\n!!! ${message}\n`);
  t.skip(message);
  return undefined;
}

/** A database made for one test file. */
export interface TestDatabase {
  /** URL of the new database (the server's URL with the database name replaced). */
  url: string;
  /** Its name, `pixelpipe_test_<random>`. */
  name: string;
  /** Drops it, ending any connections still open to it. */
  drop(): Promise<void>;
}

async function onServer<T>(serverUrl: string, body: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await body(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database on the server `serverUrl` points to; the role needs CREATEDB. */
export async function createTestDatabase(serverUrl: string): Promise<TestDatabase> {
  const name = `pixelpipe_test_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, async (client) => {
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } catch (error) {
      throw new Error(`could not create test database ${name} on ${testDatabaseUrlVariable}: ${(error as Error).message} (each Postgres test file makes its own database, so the role needs CREATEDB)`, { cause: error });
    }
  });
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // WITH (FORCE) (PostgreSQL 13+) ends connections a failed test left open. It may not end a server
    // process of another role that is briefly on the database (autovacuum); that refusal (42501) is waited out.
    drop: () =>
      onServer(serverUrl, async (client) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return void (await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
          } catch (error) {
            if ((error as { code?: string }).code !== '42501' || attempt >= 20) throw error;
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
        }
      }),
  };
}

const serviceDatabases: Promise<TestDatabase>[] = [];
after(async () => void (await Promise.all(serviceDatabases.map(async (created) => (await created).drop()))));

/**
 * Where a service under test on `backend` keeps its data: undefined for PGlite (the data directory
 * holds it); for PostgreSQL a new database, dropped when the test file's tests end. In CI a missing
 * server URL is an error; callers skip PostgreSQL suites elsewhere.
 */
export async function serviceDatabaseUrl(backend: 'pglite' | 'postgres'): Promise<string | undefined> {
  if (backend === 'pglite') return undefined;
  const serverUrl = process.env[testDatabaseUrlVariable];
  if (!serverUrl) throw new Error(`${testDatabaseUrlVariable} is not set in CI; run scripts/test-postgres.sh and export the URL it prints`);
  const created = createTestDatabase(serverUrl);
  serviceDatabases.push(created);
  return (await created).url;
}

/**
 * The `open` of a store's conformance suite on PostgreSQL: one migrated database for the test file,
 * made on first use (undefined when the test is not to run), closed and dropped when the file's tests end.
 */
export function migratedTestDatabase(): (t: TestContext) => Promise<Database | undefined> {
  let created: Promise<TestDatabase> | undefined;
  let database: Promise<Database> | undefined;
  const connect = async (serverUrl: string): Promise<Database> => {
    const { url } = await (created ??= createTestDatabase(serverUrl));
    const opened = new PostgresDatabase({ url });
    await migrate(opened);
    return opened;
  };
  after(async () => {
    await (await database)?.close();
    await (await created)?.drop();
  });
  // Every test asks for the URL itself, so each one is marked skipped when there is none.
  return async (t) => {
    const serverUrl = testDatabaseUrl(t);
    return serverUrl ? await (database ??= connect(serverUrl)) : undefined;
  };
}
