// The PostgreSQL backend against a real server (PIXELPIPE_TEST_DATABASE_URL): the shared conformance suite, each test in its own database.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DatabaseConnectionError } from '../errors/database-connection-error.js';
import { runCli } from '../../testing/cli.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { createTestDatabase, testDatabaseUrl } from '../../testing/postgres.js';
import { createDatabase } from './create-database.js';
import { databaseConformance } from './database.case.js';
import type { Database } from './database.js';
import { hidePassword, PostgresDatabase } from './postgres-database.js';

databaseConformance({
  name: 'postgres',
  kind: 'postgres',
  async open(t) {
    const serverUrl = testDatabaseUrl(t);
    if (!serverUrl) return undefined;
    const created = await createTestDatabase(serverUrl);
    const handles: Database[] = [];
    const connect = async () => {
      const database = new PostgresDatabase({ url: created.url });
      handles.push(database);
      return database;
    };
    return {
      database: await connect(),
      connectAgain: connect,
      async close() {
        await Promise.all(handles.map((database) => database.close()));
        await created.drop();
      },
    };
  },
});

describe('postgres database', () => {
  test('a URL that is not postgres:// or a pool size below 1 is refused, naming the setting', () => {
    assert.throws(() => new PostgresDatabase({ url: 'mysql://localhost/pixelpipe' }), isInvalidArgument('url', /postgres:\/\/ or postgresql:\/\/ URL, got "mysql/));
    assert.throws(() => new PostgresDatabase({ url: 'postgres://localhost/pixelpipe', maxConnections: 0 }), isInvalidArgument('maxConnections', /at least 1, got 0/));
  });

  test('createDatabase opens a pool on the server the URL names', async (t) => {
    const serverUrl = testDatabaseUrl(t);
    if (!serverUrl) return;
    const database = await createDatabase({ type: 'postgres', url: serverUrl, maxConnections: 2 });
    try {
      assert.equal(database.kind, 'postgres');
      assert.deepEqual(await database.query(`SELECT current_setting('application_name') AS name`), [{ name: 'pixelpipe' }]);
    } finally {
      await database.close();
    }
  });
});

/** A local port nothing listens on: one the OS handed out and that was closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The error `use` rejects with, which must be a `DatabaseConnectionError`. */
async function connectionError(use: Promise<unknown>): Promise<DatabaseConnectionError> {
  const error = await use.then(() => assert.fail('expected the connection to fail'), (error: unknown) => error);
  assert.ok(DatabaseConnectionError.isInstance(error), `expected a DatabaseConnectionError, got ${String((error as Error)?.stack ?? error)}`);
  return error;
}

describe('postgres database that cannot connect', () => {
  test('a closed port is a DatabaseConnectionError on first use naming the setting, the URL without its password, the reason and the fix', async () => {
    const port = await closedPort();
    const database = new PostgresDatabase({ url: `postgres://pixelpipe:s3cret-word@127.0.0.1:${port}/records`, maxConnections: 1 });
    try {
      for (const use of [database.query('SELECT 1'), database.exec('SELECT 1'), database.transaction(async () => 1), database.pgBossAdapter().executeSql('SELECT 1')]) {
        const error = await connectionError(use);
        assert.equal(error.name, 'DatabaseConnectionError');
        assert.equal(error.failure, 'unreachable');
        assert.equal(error.isRetryable, true);
        assert.equal((error.cause as { code?: string }).code, 'ECONNREFUSED');
        assert.equal(
          error.message,
          `cannot connect to the database PIXELPIPE_DATABASE_URL=postgres://pixelpipe:***@127.0.0.1:${port}/records: the connection to 127.0.0.1:${port} was refused (is PostgreSQL running there?); start the server, or set PIXELPIPE_DATABASE_URL to the URL of one that runs`,
        );
        assert.doesNotMatch(error.message, /s3cret/);
      }
    } finally {
      await database.close();
    }
  });

  test('hides only the password of a URL', () => {
    assert.equal(hidePassword('postgres://user:p%40ss@db.internal:5432/pixelpipe?sslmode=require'), 'postgres://user:***@db.internal:5432/pixelpipe?sslmode=require');
    assert.equal(hidePassword('postgres://user@db/pixelpipe'), 'postgres://user@db/pixelpipe');
  });

  test('a wrong password and a missing database say so, and are not retryable', async (t) => {
    const serverUrl = testDatabaseUrl(t);
    if (!serverUrl) return;
    const wrongPassword = new URL(serverUrl);
    wrongPassword.password = 'certainly-not-the-password';
    const missing = new URL(serverUrl);
    missing.pathname = '/pixelpipe_no_such_database';
    const databases = [new PostgresDatabase({ url: wrongPassword.toString() }), new PostgresDatabase({ url: missing.toString() })];
    try {
      const login = await connectionError(databases[0]!.query('SELECT 1'));
      assert.equal(login.failure, 'authentication');
      assert.equal(login.isRetryable, false);
      assert.match(login.message, /PIXELPIPE_DATABASE_URL=postgres:\/\/[^:]+:\*\*\*@.*the server refused the login .*; put a user and password the server accepts in PIXELPIPE_DATABASE_URL/);
      assert.doesNotMatch(login.message, /certainly-not/);
      const absent = await connectionError(databases[1]!.query('SELECT 1'));
      assert.equal(absent.failure, 'database-missing');
      assert.match(absent.message, /the server has no database "pixelpipe_no_such_database" .*; create it \(`createdb pixelpipe_no_such_database`\) or name an existing database in PIXELPIPE_DATABASE_URL$/);
    } finally {
      await Promise.all(databases.map((database) => database.close()));
    }
  });

  test('`pixelpipe worker` (the built CLI) with an unreachable PIXELPIPE_DATABASE_URL prints one line naming it, no stack, and fails', async () => {
    const port = await closedPort();
    const dataDirectory = mkdtempSync(join(tmpdir(), 'pixelpipe-worker-'));
    try {
      const started = Date.now();
      const result = await runCli(['worker'], { PIXELPIPE_DATABASE_URL: `postgres://x:y@127.0.0.1:${port}/db`, PIXELPIPE_DATA_DIR: dataDirectory });
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stdout, '');
      const lines = result.stderr.split('\n').filter((line) => line !== '');
      assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${result.stderr}`);
      assert.match(lines[0]!, new RegExp(`^error: cannot connect to the database PIXELPIPE_DATABASE_URL=postgres://x:\\*\\*\\*@127\\.0\\.0\\.1:${port}/db: the connection to 127\\.0\\.0\\.1:${port} was refused`));
      assert.doesNotMatch(result.stderr, /\n\s+at /);
      assert.ok(Date.now() - started < 30_000, 'it gives up rather than retrying for long');
    } finally {
      rmSync(dataDirectory, { recursive: true, force: true });
    }
  });
});
