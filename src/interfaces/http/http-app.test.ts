// The app's shared behaviour on the real service with embedded PGlite (http-app.case.ts; PostgreSQL: http-service.postgres.test.ts).
import { httpAppSuite } from './http-app.case.js';
import { pgliteCase } from './http-test-harness.case.js';

httpAppSuite(pgliteCase);
