// The API key store on a PostgreSQL server (PIXELPIPE_TEST_DATABASE_URL): the shared suite, where parallel reservations really run at once.
import { migratedTestDatabase } from '../../testing/postgres.js';
import { apiKeyStoreConformance } from './api-key-store.case.js';

apiKeyStoreConformance({ name: 'postgres', open: migratedTestDatabase() });
