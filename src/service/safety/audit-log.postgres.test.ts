// The audit log on a PostgreSQL server (PIXELPIPE_TEST_DATABASE_URL): the shared suite.
import { migratedTestDatabase } from '../../testing/postgres.js';
import { auditLogConformance } from './audit-log.case.js';

auditLogConformance({ name: 'postgres', open: migratedTestDatabase() });
