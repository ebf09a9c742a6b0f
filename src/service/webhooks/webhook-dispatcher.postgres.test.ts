// The webhook dispatcher's suite on a PostgreSQL server (PIXELPIPE_TEST_DATABASE_URL), in a database made for this file.
import { after } from 'node:test';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../testing/postgres.js';
import { PostgresDatabase } from '../database/postgres-database.js';
import { webhookDispatcherConformance } from './webhook-dispatcher.case.js';

let created: Promise<TestDatabase> | undefined;
let database: Promise<PostgresDatabase> | undefined;

after(async () => {
  await (await database)?.close();
  await (await created)?.drop();
});

// Every test asks for the URL itself, so each one is marked skipped when there is none.
webhookDispatcherConformance({
  name: 'postgres',
  open: async (t) => {
    const serverUrl = testDatabaseUrl(t);
    if (!serverUrl) return undefined;
    return await (database ??= (async () => new PostgresDatabase({ url: (await (created ??= createTestDatabase(serverUrl))).url }))());
  },
});
