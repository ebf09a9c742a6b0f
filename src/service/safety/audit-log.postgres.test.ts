// The audit log on a PostgreSQL server (PIXELPIPE_TEST_DATABASE_URL): the shared suite.
import { after } from 'node:test';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../testing/postgres.js';
import type { Database } from '../database/database.js';
import { migrate } from '../database/migrations.js';
import { PostgresDatabase } from '../database/postgres-database.js';
import { auditLogConformance } from './audit-log.case.js';

// One database for this file, made on first use and dropped at the end, so parallel test files never meet.
let created: Promise<TestDatabase> | undefined;
let database: Promise<Database> | undefined;

async function connect(serverUrl: string): Promise<Database> {
  const { url } = await (created ??= createTestDatabase(serverUrl));
  const opened = new PostgresDatabase({ url });
  await migrate(opened);
  return opened;
}

after(async () => {
  await (await database)?.close();
  await (await created)?.drop();
});

// Every test asks for the URL itself, so each one is marked skipped when there is none.
auditLogConformance({
  name: 'postgres',
  open: async (t) => {
    const serverUrl = testDatabaseUrl(t);
    return serverUrl ? await (database ??= connect(serverUrl)) : undefined;
  },
});
