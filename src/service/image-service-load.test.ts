// Load: 1,000 jobs submitted at once all complete, none lost and none run twice, on PGlite and on PostgreSQL.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { startMockApiServer, testImage } from '../testing/mock-api-server.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../testing/postgres.js';
import { createImageService } from './image-service.js';

const jobCount = 1000;
let created: Promise<TestDatabase> | undefined;
after(async () => void (await (await created)?.drop()));

async function loadTest(t: TestContext, databaseUrl: string | undefined): Promise<void> {
  // A hosted model answered by a local server: the load is on the queue, workers and records, not on ONNX.
  const api = await startMockApiServer();
  t.after(() => api.close());
  const images = await Promise.all(Array.from({ length: 16 }, (_, index) => testImage('png', 16, 16, { r: index * 16, g: 255 - index * 16, b: 7 })));
  api.route('POST', '/v1/images/generations', (_request, hit) => ({ json: { created: 1, data: [{ b64_json: Buffer.from(images[hit % images.length]!).toString('base64') }] } }));
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-load-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const service = await createImageService({
    // The load is on the queue: no image classifier or watermark per image (their cost is `npm run bench:provenance`'s).
    settings: { dataDir, databaseUrl, moderationPolicy: 'off', watermark: false },
    workers: 8,
    pollingIntervalSeconds: 0.05,
    defaultModel: 'openai:gpt-image-1',
    pixelpipe: { providers: { openai: { apiKey: 'test-key', baseURL: `${api.url}/v1` } } },
    queue: { queueName: `load-${Math.random().toString(36).slice(2, 10)}` },
  });
  t.after(() => service.close());

  const started = Date.now();
  const submitted = await Promise.all(Array.from({ length: jobCount }, (_, index) => service.submit({ prompt: `load job ${index}` })));
  const ids = submitted.map(({ job }) => job.id);
  assert.equal(new Set(ids).size, jobCount, 'every submission made its own job');
  const finished = await Promise.all(ids.map((id) => service.waitForJob(id)));
  const elapsed = Date.now() - started;
  t.diagnostic(`${jobCount} jobs submitted and finished in ${elapsed} ms`);

  assert.deepEqual(finished.filter((job) => job.state !== 'succeeded').map((job) => [job.id, job.state, job.error?.message]), []);
  assert.ok(finished.every((job) => job.attempts === 1), 'no job ran twice');
  assert.equal(api.requestsTo('POST', '/v1/images/generations').length, jobCount, 'one provider call per job');
  const prompts = new Set<string>();
  for (let cursor: string | undefined, first = true; first || cursor; first = false) {
    const page = await service.listRecords({ limit: 100, cursor });
    for (const record of page.records) prompts.add(`${record.jobId} ${record.request.prompt}`);
    cursor = page.nextCursor;
  }
  assert.equal(prompts.size, jobCount, 'one record per job, none doubled');
  for (const [index, job] of finished.entries()) assert.equal(job.records[0]?.request.prompt, `load job ${index}`);
  assert.match(await service.metrics(), /pixelpipe_jobs_finished_total\{state="succeeded"\} 1000/);
}

describe('load: 1,000 concurrent jobs', () => {
  test('on embedded PGlite', (t) => loadTest(t, undefined));
  test('on PostgreSQL', async (t) => {
    const serverUrl = testDatabaseUrl(t);
    if (!serverUrl) return;
    await loadTest(t, (await (created ??= createTestDatabase(serverUrl))).url);
  });
});
