// A `pixelpipe worker` process killed with SIGKILL mid-job: the job goes back to the queue in seconds (not at its expiry), another worker finishes it, once.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { repoRoot } from '../testing/paths.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../testing/postgres.js';
import { jobBlobNotes } from './generation/job-blobs.js';
import { createImageService, type RunningImageService } from './image-service.js';
import { tinyModel, tinyRequest } from './image-service.case.js';
import { PostgresDatabase } from './database/postgres-database.js';

let created: TestDatabase | undefined;
after(async () => void (await created?.drop()));

async function until<T>(description: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('a worker killed with SIGKILL mid-job: another worker completes the job, with one record per image and no orphaned blob', async (t) => {
  const serverUrl = testDatabaseUrl(t);
  if (!serverUrl) return;
  created = await createTestDatabase(serverUrl);
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-crash-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const settings = { dataDir, databaseUrl: created.url };
  // The expiry stays long: the dead worker's job must come back through its missing worker, not through expiry.
  const queue = { expireInSeconds: 900, heartbeatSeconds: 0.5, retryDelaySeconds: 0, retryLimit: 2 };
  const server: RunningImageService = await createImageService({ settings, workers: 0, queue, defaultModel: tinyModel });
  t.after(() => server.close());

  const worker = spawn(process.execPath, ['--import', 'tsx', join(repoRoot, 'src', 'interfaces', 'cli', 'main.ts'), 'worker', '--concurrency', '1', '--model', tinyModel], {
    cwd: repoRoot,
    env: { ...process.env, PIXELPIPE_DATABASE_URL: created.url, PIXELPIPE_DATA_DIR: dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let workerOutput = '';
  worker.stderr.on('data', (chunk: Buffer) => (workerOutput += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => worker.on('exit', (_code, signal) => resolve(signal)));
  t.after(() => void worker.kill('SIGKILL'));
  await until('the worker process to start', async () => (workerOutput.includes('worker ready') ? true : undefined));

  // Enough steps that the job is surely still denoising when the kill lands.
  const { job } = await server.submit({ ...tinyRequest, steps: 120, n: 2 });
  await until('the worker to report a step', async () => ((await server.getJob(job.id))?.progress ? true : undefined));
  worker.kill('SIGKILL');
  assert.equal(await exited, 'SIGKILL');
  const abandoned = await server.getJob(job.id);
  assert.equal(abandoned?.state, 'running', 'nobody settled the job: it still looks taken by the dead worker');

  // As if the dead worker had stored an image just before it died: a blob no record will ever name.
  const database = new PostgresDatabase({ url: created.url });
  t.after(() => database.close());
  const stray = await server.storage.put(new TextEncoder().encode('\x89PNG\r\n\x1a\n half an image'), { mediaType: 'image/png' });
  await jobBlobNotes(database)(job.id, stray.key);

  // Configured as the server is: a job names its model as the server's catalog does.
  const rescuer = await createImageService({ settings, workers: 1, queue, pollingIntervalSeconds: 0.2, defaultModel: tinyModel });
  t.after(() => rescuer.close());
  const done = await until('the job to finish on the second worker', async () => {
    const current = await server.getJob(job.id);
    return current?.state === 'succeeded' || current?.state === 'failed' ? current : undefined;
  }, 60_000);
  assert.deepEqual(done.attemptHistory?.map((attempt) => attempt.outcome), ['crashed', 'succeeded']);
  assert.match(done.attemptHistory![0]!.error!.message, /its worker \(process \d+ on .*\) is (gone|no longer running)/);
  assert.equal(done.attemptHistory![0]!.worker, done.attemptHistory![0]!.worker?.replace(/:\d+$/, '') + `:${worker.pid}`, 'the first attempt names the killed worker process');
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.attempts, 2);
  const rows = await database.query<{ image_index: number; count: number }>('SELECT image_index, count(*)::int AS count FROM pixelpipe.records WHERE job_id = $1 GROUP BY image_index ORDER BY image_index', [job.id]);
  assert.deepEqual(rows, [{ image_index: 0, count: 1 }, { image_index: 1, count: 1 }]);
  assert.equal(await server.storage.head(stray.key), undefined, 'the dead attempt\'s blob was removed');
  const kept: string[] = [];
  for await (const key of server.storage.list()) kept.push(key);
  assert.deepEqual(kept.sort(), done.records.map((record) => record.blobKey).sort(), 'storage holds exactly the records\' blobs');
  assert.deepEqual(await database.query('SELECT * FROM pixelpipe.job_blobs WHERE job_id = $1', [job.id]), []);
});
