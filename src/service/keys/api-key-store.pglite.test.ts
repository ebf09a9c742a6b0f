// The API key store on embedded PGlite: the shared suite on one in-memory database, plus keys surviving a restart in a data directory.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { migrate } from '../database/migrations.js';
import { PGliteDatabase } from '../database/pglite-database.js';
import { apiKeyStoreConformance } from './api-key-store.case.js';
import { ApiKeyStore } from './api-key-store.js';

// Starting PGlite costs about a second, so the suite shares one; the suite empties the keys before each test.
let shared: Promise<PGliteDatabase> | undefined;
after(async () => (await shared)?.close());

apiKeyStoreConformance({
  name: 'pglite',
  open: () =>
    (shared ??= PGliteDatabase.open().then(async (database) => {
      await migrate(database);
      return database;
    })),
});

describe('api key store on pglite', () => {
  test('keys and their usage survive closing and reopening a data directory', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-keys-'));
    try {
      const before = await PGliteDatabase.open({ dataDir });
      await migrate(before);
      const { key, secret } = await new ApiKeyStore(before).create({ name: 'kept', dailyImageQuota: 3 });
      await new ApiKeyStore(before).reserveImages(key, 2);
      await before.close();

      const reopened = await PGliteDatabase.open({ dataDir });
      try {
        const store = new ApiKeyStore(reopened);
        assert.deepEqual(await store.authenticate(secret), key);
        assert.equal(await store.imagesUsed(key), 2);
      } finally {
        await reopened.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
