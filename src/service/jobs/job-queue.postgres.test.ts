// The job queue on a PostgreSQL server (PIXELPIPE_TEST_DATABASE_URL): the shared conformance suite, plus a worker process killed mid-job.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { after, describe, test, type TestContext } from 'node:test';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../testing/postgres.js';
import type { Database } from '../database/database.js';
import { PostgresDatabase } from '../database/postgres-database.js';
import { JobQueue } from './job-queue.js';
import { queueConformance, waitFor } from './queue.case.js';

// A worker in a child process that takes one job and hangs until it is killed, as a crashed worker would.
// It prints `took <id>`; the test then kills it with SIGKILL: no stop, no settle, no cleanup.
const crashingWorker = (url: string, queueName: string) => `
  import { PostgresDatabase } from ${JSON.stringify(new URL('../database/postgres-database.ts', import.meta.url).href)};
  import { JobQueue } from ${JSON.stringify(new URL('./job-queue.ts', import.meta.url).href)};
  const queue = new JobQueue({ database: new PostgresDatabase({ url: ${JSON.stringify(url)} }), queueName: ${JSON.stringify(queueName)} });
  await queue.start();
  await queue.work(async ({ id }) => {
    process.stdout.write('took ' + id + '\\n');
    await new Promise(() => undefined);
  }, { pollingIntervalSeconds: 0.1 });
`;

// One database for this file, made on first use and dropped at the end, so parallel test files never meet.
let created: Promise<TestDatabase> | undefined;
let first: Promise<Database> | undefined;
const handles: Database[] = [];

async function connect(serverUrl: string): Promise<Database> {
  const { url } = await (created ??= createTestDatabase(serverUrl));
  const database = new PostgresDatabase({ url });
  handles.push(database);
  return database;
}

after(async () => {
  await Promise.all(handles.map((database) => database.close()));
  await (await created)?.drop();
});

// Every test asks for the URL itself, so each one is marked skipped when there is none.
queueConformance({
  name: 'postgres',
  open: async (t) => {
    const serverUrl = testDatabaseUrl(t);
    return serverUrl ? await (first ??= connect(serverUrl)) : undefined;
  },
  connectAgain: async (t) => {
    const serverUrl = testDatabaseUrl(t);
    return serverUrl ? await connect(serverUrl) : undefined;
  },
});

describe('job queue on postgres', () => {
  test('a worker process killed mid-job: the job comes back after its expiry and another worker completes it once', async (t: TestContext) => {
    const serverUrl = testDatabaseUrl(t);
    if (!serverUrl) return;
    const database = await connect(serverUrl);
    const { url } = await created!;
    const queueName = `crash-${Date.now()}`;
    // The job carries the expiry of the queue that submits it, whatever the worker's own settings.
    const queue = new JobQueue({ database, queueName, expireInSeconds: 2, retryDelaySeconds: 0, maintenanceIntervalSeconds: 1 });
    await queue.start();
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', crashingWorker(url, queueName)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout! });
      const took = new Promise<string>((resolve) => lines.on('line', (line) => line.startsWith('took ') && resolve(line.slice('took '.length))));
      const { id } = await queue.submit({ prompt: 'taken by a doomed worker' });
      assert.equal(await took, id);
      child.kill('SIGKILL');
      await once(child, 'exit');
      assert.equal((await queue.get(id))?.state, 'running');

      const calls: string[] = [];
      await queue.work(async ({ id: jobId, attempt }) => void calls.push(`${jobId}#${attempt}`), { pollingIntervalSeconds: 0.1 });
      await waitFor('the job to succeed', async () => (await queue.get(id))?.state === 'succeeded', { timeoutMs: 10_000 });
      assert.deepEqual(calls, [`${id}#2`]);
    } finally {
      child.kill('SIGKILL');
      await queue.stop({ graceful: false });
    }
  });
});
