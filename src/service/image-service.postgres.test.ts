// The service suite on a PostgreSQL server (PIXELPIPE_TEST_DATABASE_URL), a fresh database for this file.
import { after } from 'node:test';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../testing/postgres.js';
import { imageServiceConformance } from './image-service.case.js';

let created: Promise<TestDatabase> | undefined;
after(async () => void (await (await created)?.drop()));

imageServiceConformance({
  name: 'postgres',
  async settings(t) {
    const serverUrl = testDatabaseUrl(t);
    if (!serverUrl) return undefined;
    const { url } = await (created ??= createTestDatabase(serverUrl));
    return { databaseUrl: url };
  },
});
