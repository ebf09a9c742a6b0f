// The native jobs API on the real service with embedded PGlite (job-routes.case.ts; PostgreSQL: http-service.postgres.test.ts).
import { pgliteCase } from './http-test-harness.case.js';
import { jobRoutesSuite } from './job-routes.case.js';

jobRoutesSuite(pgliteCase);
