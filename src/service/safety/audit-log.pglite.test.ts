// The audit log on embedded PGlite: the shared suite on one in-memory database.
import { after } from 'node:test';
import { migrate } from '../database/migrations.js';
import { PGliteDatabase } from '../database/pglite-database.js';
import { auditLogConformance } from './audit-log.case.js';

// Starting PGlite costs about a second, so the suite shares one; the suite empties the log before each test.
let shared: Promise<PGliteDatabase> | undefined;
after(async () => (await shared)?.close());

auditLogConformance({
  name: 'pglite',
  open: () =>
    (shared ??= PGliteDatabase.open().then(async (database) => {
      await migrate(database);
      return database;
    })),
});
