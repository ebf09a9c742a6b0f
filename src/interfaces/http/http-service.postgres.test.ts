// The jobs API and the app's shared behaviour on the real service with a PostgreSQL server (PIXELPIPE_TEST_DATABASE_URL), a fresh database per suite.
import { after } from 'node:test';
import { httpAppSuite } from './http-app.case.js';
import { postgresCase } from './http-test-harness.case.js';
import { jobRoutesSuite } from './job-routes.case.js';

const jobs = postgresCase();
const app = postgresCase();
after(async () => void (await Promise.all([jobs.drop(), app.drop()])));

jobRoutesSuite(jobs);
httpAppSuite(app);
