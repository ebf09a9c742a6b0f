// Opens the service's database and blob store from the settings, for commands that read records without running the queue.
import { loadSettings, type Settings } from '../config/settings.js';
import { createDatabase, defaultDatabaseConfig } from './database/create-database.js';
import type { Database } from './database/database.js';
import { migrate } from './database/migrations.js';
import { RecordStore } from './records/record-store.js';
import { createStorage, defaultStorageConfig, type StorageConfig } from './storage/create-storage.js';
import type { BlobStorage } from './storage/blob-storage.js';

/** The blob store the settings name: an S3 bucket when PIXELPIPE_S3_BUCKET is set, else the data directory's `blobs`. */
export function storageConfigFromSettings(settings: Settings): StorageConfig {
  if (!settings.s3Bucket) return defaultStorageConfig(settings.dataDir);
  return { type: 's3', bucket: settings.s3Bucket, endpoint: settings.s3Endpoint, region: settings.s3Region, prefix: settings.s3Prefix, forcePathStyle: settings.s3ForcePathStyle };
}

/** The database the settings name: PostgreSQL at PIXELPIPE_DATABASE_URL, else PGlite in the data directory. */
export async function openDatabaseFromSettings(settings: Settings): Promise<Database> {
  const database = await createDatabase(defaultDatabaseConfig({ dataDirectory: settings.dataDir, url: settings.databaseUrl }));
  try {
    await migrate(database);
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

/** What `history` and `reproduce` read. */
export interface ServiceStores {
  settings: Settings;
  database: Database;
  storage: BlobStorage;
  records: RecordStore;
  close(): Promise<void>;
}

/** Opens the database (migrated) and the blob store the settings name. */
export async function openServiceStores(settings: Settings = loadSettings()): Promise<ServiceStores> {
  const database = await openDatabaseFromSettings(settings);
  const storage = createStorage(storageConfigFromSettings(settings));
  return {
    settings,
    database,
    storage,
    records: new RecordStore(database),
    async close() {
      await storage.close();
      await database.close();
    },
  };
}
