// The PostgreSQL backend against a real server (PIXELPIPE_TEST_DATABASE_URL): the shared conformance suite, each test in its own database.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import { createTestDatabase, testDatabaseUrl } from '../../testing/postgres.js';
import { createDatabase } from './create-database.js';
import { databaseConformance } from './database.case.js';
import type { Database } from './database.js';
import { PostgresDatabase } from './postgres-database.js';

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
