// Worker processes under the real service (PGlite): a job that kills its worker leaves the server answering, runs once more, then fails as worker_crashed; memory is checked at submit.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { isInvalidArgument } from '../testing/assertions.js';
import { startMockApiServer, testImage } from '../testing/mock-api-server.js';
import { testData } from '../testing/paths.js';
import { createHttpApp } from '../interfaces/http/http-app.js';
import { startHttpServer } from '../interfaces/http/http-server.js';
import { createImageService, type ImageServiceConfig, type RunningImageService } from './image-service.js';
import { tinyModel, tinyRequest } from './image-service.case.js';

const testProvider = testData('providers', 'test-provider.mjs');

async function startService(t: TestContext, config: ImageServiceConfig = {}): Promise<RunningImageService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-workers-'));
  const service = await createImageService({
    defaultModel: tinyModel,
    pollingIntervalSeconds: 0.1,
    pixelpipe: { providerModules: [testProvider] },
    queue: { retryLimit: 3, retryDelaySeconds: 0, retryBackoff: false, heartbeatSeconds: 0.5 },
    ...config,
    settings: { dataDir, ...config.settings },
  });
  t.after(async () => {
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return service;
}

test('a job that kills its worker process: the server answers throughout, the job runs once more, after the waiting jobs, then fails as worker_crashed; the next job runs', async (t) => {
  const service = await startService(t);
  const poison = await service.submit({ prompt: 'kill the worker', model: 'test:crash' });
  const waiting = await service.submit({ prompt: 'an innocent job', model: 'test:ok' });
  const failed = await service.waitForJob(poison.job.id);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.code, 'worker_crashed');
  assert.match(failed.error!.message, /was killed with SIGKILL \(most often the kernel's out-of-memory killer.*died on 2 attempt\(s\), so it is not run again/);
  assert.equal(failed.attempts, 2, 'retried once, not up to the retry limit of 3');
  assert.deepEqual(failed.attemptHistory?.map((attempt) => attempt.outcome), ['crashed', 'crashed']);
  // The waiting job went before the poison job's second attempt.
  const innocent = await service.waitForJob(waiting.job.id);
  assert.equal(innocent.state, 'succeeded');
  assert.ok(innocent.finishedAt! <= failed.attemptHistory![1]!.startedAt, 'the crashed job ran again only once the queue was empty');

  const health = await service.health();
  assert.deepEqual([health.database, health.storage], [true, true]);
  assert.equal(health.workerProcesses?.crashes, 2);
  assert.match(health.workerProcesses!.processes[0]!.lastExit ?? '', /SIGKILL/);
  assert.match(await service.metrics(), /pixelpipe_worker_process_crashes_total 2/);

  const after = await service.submit({ ...tinyRequest });
  const done = await service.waitForJob(after.job.id);
  assert.equal(done.state, 'succeeded', 'a restarted worker runs the next job normally');
  assert.equal((await service.health()).workerProcesses!.processes[0]!.restarts, 2);
});

test('a worker that exits under a job is a crash too; a job that crashed once and then succeeds keeps both attempts on record', async (t) => {
  const service = await startService(t);
  const exited = await service.waitForJob((await service.submit({ prompt: 'exit', model: 'test:exit' })).job.id);
  assert.equal(exited.error?.code, 'worker_crashed');
  assert.match(exited.error!.message, /exited with code 3/);
  const marker = join(tmpdir(), `pixelpipe-crash-once-${process.pid}-${Date.now()}`);
  t.after(() => rm(marker, { force: true }));
  const once = await service.waitForJob((await service.submit({ prompt: 'crash once', model: 'test:crash-once', providerOptions: { test: { marker } } })).job.id);
  assert.equal(once.state, 'succeeded');
  assert.deepEqual(once.attemptHistory?.map((attempt) => attempt.outcome), ['crashed', 'succeeded']);
  assert.equal(once.records.length, 1);
});

test('/healthz answers while a worker process keeps its event loop busy', async (t) => {
  const service = await startService(t);
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret }) });
  t.after(() => server.close());
  const { job } = await service.submit({ prompt: 'spin', model: 'test:spin', providerOptions: { test: { ms: 3000 } } });
  while ((await service.getJob(job.id))?.state !== 'running') await new Promise((resolve) => setTimeout(resolve, 20));
  // In this process a 3 s synchronous generation would hold every answer for seconds; in a worker process it holds none.
  const latencies: number[] = [];
  while ((await service.getJob(job.id))?.state === 'running') {
    const started = performance.now();
    const response = await fetch(`${server.url}/healthz`);
    assert.equal(response.status, 200);
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.ok(latencies.length >= 10, `${latencies.length} health checks during the job`);
  assert.ok(Math.max(...latencies) < 1000, `slowest /healthz during the job: ${Math.max(...latencies).toFixed(0)} ms`);
});

test('a local job whose estimated memory is over the budget is refused at submit, naming the limit and the largest size that fits', async (t) => {
  const service = await startService(t, { settings: { memoryBudget: 2 * 2 ** 30 } });
  await assert.rejects(
    service.submit({ prompt: 'too large', width: 4096, height: 1024 }),
    isInvalidArgument('width', /4096×1024 needs an estimated \d+\.\d GiB of memory with tiny-sd15 .* over the memory budget of 2\.0 GiB \(PIXELPIPE_MEMORY_BUDGET\); the largest size at this aspect ratio that fits is \d+×\d+/),
  );
  const message = await service.submit({ prompt: 'too large', width: 4096, height: 1024 }).catch((error: Error) => error.message);
  const [, width, height] = /fits is (\d+)×(\d+)/.exec(String(message))!;
  // The size it names is accepted, and runs.
  const { job } = await service.submit({ ...tinyRequest, width: Number(width), height: Number(height), steps: 1 });
  assert.equal((await service.waitForJob(job.id)).state, 'succeeded');
});

test('hosted jobs run many at once in the server process, up to their provider\'s limit, while a local job holds the worker process', async (t) => {
  const api = await startMockApiServer();
  t.after(() => api.close());
  const png = await testImage('png', 8, 8);
  let inFlight = 0;
  let most = 0;
  let open = () => {};
  const release = new Promise<void>((resolve) => (open = resolve));
  api.route('POST', '/v1/images/generations', async () => {
    inFlight += 1;
    most = Math.max(most, inFlight);
    await release;
    inFlight -= 1;
    return { json: { created: 1, data: [{ b64_json: Buffer.from(png).toString('base64') }] } };
  });
  const service = await startService(t, { hostedConcurrency: { openai: 4, '*': 1 }, pixelpipe: { providerModules: [testProvider], providers: { openai: { apiKey: 'test-key', baseURL: `${api.url}/v1` } } } });
  // The test provider module is not `remote`, so its jobs are local ones, in the one worker process.
  const local = await service.submit({ prompt: 'hold the worker', model: 'test:hold', providerOptions: { test: { ms: 60_000 } } });
  while ((await service.getJob(local.job.id))?.state !== 'running') await new Promise((resolve) => setTimeout(resolve, 20));
  const hosted = await Promise.all(Array.from({ length: 10 }, (_, index) => service.submit({ prompt: `hosted ${index}`, model: 'openai:gpt-image-1' })));
  while (inFlight < 4) await new Promise((resolve) => setTimeout(resolve, 20));
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(inFlight, 4, 'four hosted calls at once, the provider\'s limit');
  open();
  for (const { job } of hosted) assert.equal((await service.waitForJob(job.id)).state, 'succeeded');
  assert.equal(most, 4);
  assert.equal((await service.getJob(local.job.id))?.state, 'running', 'the local job kept its worker process throughout');
  assert.equal((await service.health()).workerProcesses?.crashes, 0);
  await service.cancelJob(local.job.id);
});

test('worker processes load and warm up the default model before they take jobs, its graphs optimised into the graph cache once; with warm-up off they load nothing until a job', async (t) => {
  const entries = (folder: string) => readdirSync(folder).filter((name) => /^[0-9a-f]{32}$/.test(name));
  const ready = async (service: RunningImageService) => {
    while ((await service.health()).workerProcesses!.processes.some((process) => process.state === 'starting')) await new Promise((resolve) => setTimeout(resolve, 20));
  };
  const warmCache = await mkdtemp(join(tmpdir(), 'pixelpipe-graphs-'));
  const coldCache = await mkdtemp(join(tmpdir(), 'pixelpipe-graphs-'));
  t.after(() => Promise.all([warmCache, coldCache].map((folder) => rm(folder, { recursive: true, force: true }))));
  const warm = await startService(t, { settings: { graphCache: warmCache } });
  const cold = await startService(t, { settings: { graphCache: coldCache, warmUp: false } });
  await Promise.all([ready(warm), ready(cold)]);
  assert.equal(entries(warmCache).length, 3, 'text encoder, UNet and VAE decoder were loaded (at level all) before any job');
  assert.equal(entries(coldCache).length, 0);
  const done = await cold.waitForJob((await cold.submit({ ...tinyRequest })).job.id);
  assert.equal(done.state, 'succeeded');
  assert.equal(entries(coldCache).length, 3, 'the first job loaded the model');
});
