// The webhook dispatcher's suite on embedded PGlite, in memory.
import { after } from 'node:test';
import { PGliteDatabase } from '../database/pglite-database.js';
import { webhookDispatcherConformance } from './webhook-dispatcher.case.js';

// Starting PGlite costs about a second, so the file's tests share one; each test uses its own queue.
let shared: Promise<PGliteDatabase> | undefined;
after(async () => (await shared)?.close());

webhookDispatcherConformance({ name: 'pglite', open: () => (shared ??= PGliteDatabase.open()) });
