// The service conformance suite, run on embedded PGlite and on a PostgreSQL server: jobs end to end with the tiny engine fixture.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import sharp from 'sharp';
import { isInvalidArgument } from '../testing/assertions.js';
import { readPngText } from '../engine/image/png.js';
import { testData } from '../testing/paths.js';
import { QuotaExceededError } from './errors/quota-exceeded-error.js';
import { createImageService, type ImageServiceConfig, type RunningImageService } from './image-service.js';
import type { JobEvent, JobView } from './image-service-types.js';
import { reproduceRecord } from './reproduce-record.js';
import { createPixelpipe } from './pixelpipe.js';
import { pixelSha256 } from './pixel-hash.js';
import { bundledUpscaling } from './upscaling/image-upscaling.js';
import { verifyWebhook } from './webhooks/webhook-signature.js';

/** One backend: the settings that point the service at it (undefined when skipped). */
export interface ServiceCase {
  name: string;
  settings(t: TestContext): Promise<ImageServiceConfig['settings'] | undefined>;
}

export const tinyModel = testData('fixtures', 'tiny-sd15');
export const tinyRequest = { prompt: 'a red cube on a table', width: 64, height: 64, steps: 2, seed: 7 };

/** Makes a service on a fresh data directory with fast test settings; closes it after the test. */
export async function startService(t: TestContext, serviceCase: ServiceCase, config: ImageServiceConfig = {}): Promise<RunningImageService | undefined> {
  const settings = await serviceCase.settings(t);
  if (!settings) return undefined;
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-service-'));
  const service = await createImageService({
    defaultModel: tinyModel,
    pollingIntervalSeconds: 0.1,
    queue: { retryLimit: 1, retryDelaySeconds: 0, maintenanceIntervalSeconds: 1, cancellationCheckMs: 100, queueName: `test-${Math.random().toString(36).slice(2, 10)}` },
    webhooks: { retryDelaySeconds: 0, retryLimit: 2 },
    ...config,
    // Its own model cache: the catalog lists what is in it.
    settings: { dataDir, cacheDir: join(dataDir, 'models'), webhookAllowPrivate: true, ...settings, ...config.settings },
  });
  t.after(async () => {
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return service;
}

async function collect(iterable: AsyncIterable<JobEvent>): Promise<JobEvent[]> {
  const events: JobEvent[] = [];
  for await (const event of iterable) events.push(event);
  return events;
}

export function imageServiceConformance(serviceCase: ServiceCase): void {
  describe(`image service: ${serviceCase.name}`, () => {
    test('a job runs on the in-process worker: one record per image, bytes in storage, events from queued to done, and the record reproduces', async (t) => {
      const service = await startService(t, serviceCase);
      if (!service) return;
      const { job, created } = await service.submit({ ...tinyRequest, n: 2, previews: true });
      assert.equal(created, true);
      assert.equal(job.request.model, 'tiny-sd15', 'the default model is written into the request, by its name in the catalog');
      const done = await service.waitForJob(job.id);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      assert.equal(done.records.length, 2);
      const [first, second] = done.records;
      assert.deepEqual([first!.imageIndex, second!.imageIndex], [0, 1]);
      assert.deepEqual([first!.seed, second!.seed], ['7', '8']);
      assert.equal(first!.provider, 'local');
      assert.match(first!.modelHash ?? '', /^sha256:/);
      const blob = await service.storage.get(first!.blobKey);
      assert.ok(blob);
      const metadata = await sharp(blob.bytes).metadata();
      assert.deepEqual([metadata.width, metadata.height, first!.width, first!.height], [64, 64, 64, 64]);
      assert.equal((await service.storage.head(first!.blobKey))?.sha256 ?? first!.sha256, first!.sha256);

      const events = await collect(service.events(job.id));
      const types = events.map((event) => event.type);
      assert.equal(types[0], 'queued');
      assert.equal(types[1], 'running');
      assert.equal(types.at(-1), 'done');
      const steps = events.filter((event) => event.type === 'step');
      for (const imageIndex of [0, 1]) {
        const own = steps.filter((event) => event.data.imageIndex === imageIndex).map((event) => event.data as { step: number; steps: number });
        assert.ok(own.length > 0, `step events for image ${imageIndex}`);
        assert.deepEqual(own.map((event) => event.step), Array.from({ length: own[0]!.steps }, (_, index) => index + 1));
      }
      assert.ok(steps.every((event) => typeof (event.data.preview as { base64?: string } | undefined)?.base64 === 'string'), 'previews ride on step events');
      assert.deepEqual((events.at(-1)!.data.records as { id: string }[]).map((record) => record.id), done.records.map((record) => record.id));
      // Resuming after an event gives only what came later.
      const resumed = await collect(service.events(job.id, { after: events[1]!.sequence }));
      assert.deepEqual(resumed.map((event) => event.sequence), events.slice(2).map((event) => event.sequence));

      const pixelpipe = createPixelpipe();
      t.after(() => pixelpipe.close());
      // The record names the model as the catalog does; outside the service, the caller says where it is.
      const again = await reproduceRecord(second!, { pixelpipe, storage: service.storage, model: tinyModel });
      assert.equal(again.matches, true, `reproduced ${again.sha256}, recorded ${second!.sha256}`);

      const page = await service.listRecords({ jobId: job.id, limit: 1 });
      assert.equal(page.records.length, 1);
      const next = await service.listRecords({ jobId: job.id, limit: 1, cursor: page.nextCursor });
      assert.equal(next.records.length, 1);
      assert.notEqual(next.records[0]!.id, page.records[0]!.id);
      assert.equal(next.nextCursor, undefined);
      assert.deepEqual(await service.getRecord(first!.id), first);

      const models = (await service.listModels()).map((model) => model.id);
      assert.equal(models[0], 'tiny-sd15', 'the default model, by its folder\'s name');
      assert.ok(models.slice(1).every((id) => /^[a-z]+:/.test(id)), `hosted models are listed as PROVIDER:MODEL: ${models.join(', ')}`);

      const metrics = await service.metrics();
      assert.match(metrics, /pixelpipe_queue_depth 0/);
      assert.match(metrics, /pixelpipe_jobs_finished_total\{state="succeeded"\} 1/);
      assert.match(metrics, /pixelpipe_stage_seconds_count\{stage="denoise"\} 1/);
    });

    test('a job with upscale stores the upscaled, resized image; its record names the upscale and still reproduces the model\'s pixels', async (t) => {
      const service = await startService(t, serviceCase);
      if (!service) return;
      const { job } = await service.submit({ ...tinyRequest, upscale: {}, resize: { width: 150, height: 96 } });
      const done = await service.waitForJob(job.id);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      const [record] = done.records;
      assert.deepEqual([record!.width, record!.height, record!.provenance?.upscale?.model, record!.provenance?.upscale?.scale], [150, 96, 'esrgan-slim-x3', 3]);
      const metadata = await sharp((await service.storage.get(record!.blobKey))!.bytes).metadata();
      assert.deepEqual([metadata.width, metadata.height], [150, 96]);
      const pixelpipe = createPixelpipe();
      t.after(() => pixelpipe.close());
      const again = await reproduceRecord(record!, { pixelpipe, storage: service.storage, model: tinyModel });
      assert.equal(again.matches, true, `reproduced ${again.pixelSha256}, recorded ${record!.pixelSha256}`);
    });

    test('a job with hiresFix stores the image-to-image pass over the x2 upscale of its first pass, the same pixels as those steps run by hand, recorded and reproducible', async (t) => {
      const service = await startService(t, serviceCase);
      if (!service) return;
      const { job } = await service.submit({ ...tinyRequest, hiresFix: { strength: 0.5 } });
      const done = await service.waitForJob(job.id);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      const [record] = done.records;
      assert.deepEqual([record!.width, record!.height, record!.settings.operation, record!.seed], [128, 128, 'image-to-image', '7']);
      const hires = record!.settings.hiresFix!;
      assert.deepEqual({ ...hires, upscale: { ...hires.upscale, hash: undefined } }, { firstPass: { steps: 2, guidance: 7.5, sampler: hires.firstPass.sampler, width: 64, height: 64 }, upscale: { model: 'esrgan-slim-x2', scale: 2, hash: undefined }, strength: 0.5 });

      // By hand: the first pass, the bundled x2 upscale, image-to-image over it with the same seed.
      const pixelpipe = createPixelpipe();
      t.after(() => pixelpipe.close());
      const first = await pixelpipe.generate({ model: tinyModel, ...tinyRequest });
      const upscaled = await bundledUpscaling({ maxOutputPixels: 4096 * 4096 }).upscale(first.images[0]!, 2, { width: 64, height: 64 });
      const second = await pixelpipe.generate({ model: tinyModel, ...tinyRequest, width: undefined, height: undefined, images: [upscaled.image.bytes], strength: 0.5 });
      assert.equal((await pixelSha256(second.images[0]!.bytes)).pixelSha256, record!.pixelSha256);
      const stored = await service.storage.get(record!.blobKey);
      assert.deepEqual(JSON.parse(readPngText(stored!.bytes).pixelpipe!).settings.hiresFix, hires, 'the file\'s own record keeps the first pass too');
      const again = await reproduceRecord(record!, { pixelpipe, storage: service.storage, model: tinyModel });
      assert.equal(again.matches, true, `reproduced ${again.pixelSha256}, recorded ${record!.pixelSha256}`);
      // Both passes report their steps; the second pass's say so.
      const steps = (await collect(service.events(job.id))).filter((event) => event.type === 'step').map((event) => [event.data.pass ?? 'first', event.data.step]);
      assert.deepEqual(steps, [['first', 1], ['first', 2], ['hires', 1]], 'strength 0.5 of 2 steps runs 1');
    });

    test('cancelling a queued job ends its events with cancelled; an idempotency key gives the same job back', async (t) => {
      const service = await startService(t, serviceCase, { workers: 0 });
      if (!service) return;
      const first = await service.submit(tinyRequest, { idempotencyKey: 'order-1' });
      const second = await service.submit(tinyRequest, { idempotencyKey: 'order-1' });
      assert.equal(second.created, false);
      assert.equal(second.job.id, first.job.id);
      assert.equal(first.job.position, 1);
      const cancelled = await service.cancelJob(first.job.id);
      assert.equal(cancelled?.state, 'cancelled');
      const events = await collect(service.events(first.job.id));
      assert.deepEqual(events.map((event) => event.type), ['queued', 'cancelled']);
      assert.equal(await service.cancelJob('00000000-0000-7000-8000-000000000000'), undefined);
    });

    test('bad requests are refused before queueing, naming the field; the daily quota holds', async (t) => {
      const service = await startService(t, serviceCase, { workers: 0 });
      if (!service) return;
      await assert.rejects(service.submit({ ...tinyRequest, n: 0 }), isInvalidArgument('n', /too small|>=/));
      await assert.rejects(service.submit({ ...tinyRequest, steps: 10_000 }), isInvalidArgument('steps', /150/));
      await assert.rejects(service.submit({ ...tinyRequest, width: 8192, height: 8192 }), isInvalidArgument('width', /4194304 pixels/));
      await assert.rejects(service.submit({ ...tinyRequest, colour: 'red' }), isInvalidArgument('colour', /not a request field/));
      await assert.rejects(service.submit({ ...tinyRequest, webhook: { url: 'ftp://example.com/x' } }), isInvalidArgument('webhook.url', /http/));
      const image = await service.storeUpload(await sharp({ create: { width: 64, height: 64, channels: 3, background: 'white' } }).png().toBuffer(), { field: 'image' });
      const mask = await service.storeUpload(await sharp({ create: { width: 32, height: 64, channels: 3, background: 'white' } }).png().toBuffer(), { field: 'mask' });
      await assert.rejects(service.submit({ ...tinyRequest, images: [{ blobKey: image.blobKey }], mask: { blobKey: mask.blobKey } }), isInvalidArgument('mask', /64x64.*32x64/));
      await assert.rejects(service.submit({ ...tinyRequest, images: [{ blobKey: `sha256/ab/ab/${'ab'.repeat(32)}.png` }] }), isInvalidArgument('images.0', /not in storage/));
      await assert.rejects(service.storeUpload(new TextEncoder().encode('not an image'), { field: 'image' }), isInvalidArgument('image', /not an image/));

      const { key } = await service.keys.create({ name: 'small', dailyImageQuota: 3 });
      await service.submit({ ...tinyRequest, n: 2 }, { apiKey: key });
      await assert.rejects(service.submit({ ...tinyRequest, n: 2 }, { apiKey: key }), (error: unknown) => QuotaExceededError.isInstance(error) && error.quota === 3 && error.used === 2);
      await service.submit({ ...tinyRequest, n: 1 }, { apiKey: key });
    });

    test('best-of-N: every candidate is recorded with its ranking, the job answers the best n, and the quota counts all candidates', async (t) => {
      // Process isolation (the default): candidates are made in a worker process and ranked here.
      const service = await startService(t, serviceCase, { rankers: { last: { type: 'custom', name: 'last', score: (candidates) => candidates.map((candidate) => candidate.index) } } });
      if (!service) return;
      assert.deepEqual(service.rankers(), ['last']);
      await assert.rejects(service.submit({ ...tinyRequest, bestOf: 2, rankBy: 'clip' }), isInvalidArgument('rankBy', /"clip".*the rankers here are last/));
      await assert.rejects(service.submit({ ...tinyRequest, n: 2, bestOf: 1, rankBy: 'last' }), isInvalidArgument('bestOf', /at least `n` \(2\)/));
      await assert.rejects(service.submit({ ...tinyRequest, bestOf: 2 }), isInvalidArgument('rankBy', /needed with `bestOf`/));

      const { key } = await service.keys.create({ name: 'best-of', dailyImageQuota: 3 });
      const { job } = await service.submit({ ...tinyRequest, steps: 1, bestOf: 3, rankBy: 'last' }, { apiKey: key });
      await assert.rejects(service.submit({ ...tinyRequest, n: 1 }, { apiKey: key }), (error: unknown) => QuotaExceededError.isInstance(error) && error.used === 3);
      const done = await service.waitForJob(job.id);
      assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
      assert.deepEqual(done.records.map((record) => record.imageIndex), [2]);
      assert.deepEqual(done.rejected?.map((record) => record.imageIndex), [1, 0]);
      // Read back from the database: the ranking column holds what the handler decided.
      const history = (await service.listRecords({ jobId: job.id })).records.sort((left, right) => left.imageIndex - right.imageIndex);
      assert.deepEqual(history.map((record) => record.ranking), [0, 1, 2].map((index) => ({ ranker: 'last', score: index, rank: 3 - index, chosen: index === 2, candidates: 3, reason: `last score ${index.toFixed(4)}` })));
    });

    test('a job that fails for good says why in its view, its events and its signed webhook', async (t) => {
      const received: { body: string; headers: IncomingMessage['headers'] }[] = [];
      const server = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString()));
        request.on('end', () => {
          received.push({ body, headers: request.headers });
          response.end('ok');
        });
      }).listen(0, '127.0.0.1');
      await once(server, 'listening');
      t.after(() => server.close());
      // A served folder that is no model: accepted (its configs cannot be read at submit), it fails in the worker.
      const broken = await mkdtemp(join(tmpdir(), 'broken-model-'));
      t.after(() => rm(broken, { recursive: true, force: true }));
      const service = await startService(t, serviceCase, { models: [broken], settings: { webhookSecret: 'a-test-secret-of-enough-length' } });
      if (!service) return;
      const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
      const { job } = await service.submit({ ...tinyRequest, model: basename(broken), webhook: { url } });
      const failed: JobView = await service.waitForJob(job.id);
      assert.equal(failed.state, 'failed');
      assert.ok(failed.error?.message);
      const events = await collect(service.events(job.id));
      assert.equal(events.at(-1)!.type, 'error');
      const deadline = Date.now() + 10_000;
      while (received.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(received.length, 1);
      const [delivery] = received;
      assert.equal(delivery!.headers['pixelpipe-event'], 'job.failed');
      assert.ok(verifyWebhook({ secret: 'a-test-secret-of-enough-length', header: String(delivery!.headers['pixelpipe-signature']), body: delivery!.body }));
      assert.equal(JSON.parse(delivery!.body).data.jobId, job.id);
    });
  });
}
