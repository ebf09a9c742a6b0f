// `decoder: "fast"` through the service: the native and OpenAI-compatible APIs take it, records say which decoder made
// the pixels, reproduction uses it again, and hosted models are refused at submit. Real service on PGlite, real VAElight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '../config/settings.js';
import { isInvalidArgument } from '../testing/assertions.js';
import { startOpenAiTestServer } from '../testing/openai-test-server.js';
import { sharedFile, testData } from '../testing/paths.js';
import { pixelSha256 } from './pixel-hash.js';
import type { ImageRecord } from './image-service-types.js';
import { createImageService } from './image-service.js';
import { createPixelpipe } from './pixelpipe.js';
import { reproduceRecord, reproductionRequest } from './reproduce-record.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-service-fast-decoder-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

test('decoder "fast" over HTTP: recorded with the decoder\'s hash, reproduced with it, refused for hosted models', async (t) => {
  const fastDecoder = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!fastDecoder) return;
  const sha256 = createHash('sha256').update(readFileSync(fastDecoder)).digest('hex');
  const { service, server, close } = await startOpenAiTestServer('pglite', 'fast-decoder', {
    settings: { fastDecoder, watermark: false },
    defaultModel: testData('fixtures', 'tiny-sd15'),
    // A configured hosted provider (never called: the request is refused at submit).
    pixelpipe: { providers: { openai: { apiKey: 'sk-test', baseURL: 'http://127.0.0.1:9' } } },
    isolation: 'in-process',
    pollingIntervalSeconds: 0.05,
    onNotice: () => undefined,
  });
  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };
  try {
    const base = { prompt: 'a red cube', width: 64, height: 64, steps: 1, seed: 9 };
    const submitted = await post('/v1/jobs', { ...base, decoder: 'fast' });
    assert.equal(submitted.status, 202, JSON.stringify(submitted.body));
    const job = await service.waitForJob(submitted.body.id as string);
    assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
    const record = job.records[0]!;
    assert.equal(record.request.decoder, 'fast');
    assert.deepEqual(record.settings.decoder, { type: 'fast', name: 'VAEpreview.onnx', sha256 });
    assert.ok(record.timings.fastDecode! > 0, JSON.stringify(record.timings));
    const full = await service.waitForJob((await service.submit(base)).job.id);
    assert.equal(full.records[0]!.settings.decoder, undefined);
    assert.notEqual(full.records[0]!.pixelSha256, record.pixelSha256, 'the full VAE makes other pixels');

    // The OpenAI-compatible route takes it as a pixelpipe extension, like `steps` and `sampler`.
    const openAi = await post('/v1/images/generations', { prompt: 'a red cube', size: '64x64', steps: 1, seed: 9, decoder: 'fast' });
    assert.equal(openAi.status, 200, JSON.stringify(openAi.body));
    const [latest] = (await service.listRecords({ limit: 1 })).records as [ImageRecord];
    assert.deepEqual(latest.settings.decoder, { type: 'fast', name: 'VAEpreview.onnx', sha256 });
    assert.equal(latest.pixelSha256, record.pixelSha256, 'the same seed and settings, the same pixels');

    // Reproduction decodes with the fast decoder again; where none is configured it says so instead of decoding otherwise.
    const pixelpipe = createPixelpipe({ cacheDir: join(work, 'models'), fastDecoder });
    // Settings from no environment: a PIXELPIPE_PREVIEW_DECODER of the shell would serve as a fast decoder.
    const without = createPixelpipe({ settings: loadSettings({ cacheDir: join(work, 'models') }, {}) });
    try {
      const again = await reproduceRecord(record, { pixelpipe, storage: service.storage, model: testData('fixtures', 'tiny-sd15') });
      assert.equal(again.matches, true);
      assert.deepEqual(again.image.settings.decoder, record.settings.decoder);
      await assert.rejects(reproduceRecord(record, { pixelpipe: without, storage: service.storage, model: testData('fixtures', 'tiny-sd15') }), { name: 'InvalidArgumentError', message: /none is configured here: set PIXELPIPE_FAST_DECODER/ });
    } finally {
      await Promise.all([pixelpipe.close(), without.close()]);
    }

    const hosted = await post('/v1/jobs', { ...base, model: 'openai:gpt-image-1', decoder: 'fast' });
    assert.equal(hosted.status, 400, JSON.stringify(hosted.body));
    assert.equal(hosted.body.error.param, 'decoder');
    assert.match(hosted.body.error.message, /runs on local SD 1\.x\/2\.x models only; openai:gpt-image-1 is hosted/);
    const hostedOpenAi = await post('/v1/images/generations', { prompt: 'a red cube', model: 'gpt-image-1', decoder: 'fast' });
    assert.equal(hostedOpenAi.status, 400, JSON.stringify(hostedOpenAi.body));
    assert.equal(hostedOpenAi.body.error.param, 'decoder');
  } finally {
    await close();
  }
});

test('rankDecoder "fast": best-of-N ranks fast decodes of the candidates, then answers with the chosen one made again by the full VAE', async (t) => {
  const fastDecoder = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!fastDecoder) return;
  const scored: Array<{ index: number; pixels: string }> = [];
  const service = await createImageService({
    settings: { dataDir: join(work, 'data-rank'), cacheDir: join(work, 'models'), fastDecoder, watermark: false },
    defaultModel: testData('fixtures', 'tiny-sd15'),
    // The last candidate wins; what it was shown is kept to compare with the records.
    rankers: {
      last: {
        type: 'custom', name: 'last', score: async (candidates) => {
          for (const candidate of candidates) scored.push({ index: candidate.index, pixels: (await pixelSha256(candidate.bytes)).pixelSha256 });
          return candidates.map((candidate) => candidate.index);
        },
      },
    },
    isolation: 'in-process',
    pollingIntervalSeconds: 0.05,
    onNotice: () => undefined,
  });
  t.after(() => service.close());
  const base = { prompt: 'a red cube', width: 64, height: 64, steps: 1, seed: 40 };
  const job = await service.waitForJob((await service.submit({ ...base, bestOf: 3, rankBy: 'last', rankDecoder: 'fast' })).job.id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  const all = (await service.listRecords({ limit: 10 })).records.filter((record) => record.jobId === job.id).sort((a, b) => a.imageIndex - b.imageIndex);
  assert.equal(all.length, 3, 'every candidate is kept');
  const [first, second, winner] = all as [ImageRecord, ImageRecord, ImageRecord];
  for (const loser of [first, second]) {
    assert.equal(loser.settings.decoder?.type, 'fast', 'a rejected candidate stays as the fast decode it was judged on');
    assert.deepEqual([loser.ranking?.chosen, loser.ranking?.rankedOn], [false, 'fast']);
  }
  assert.equal(winner.settings.decoder, undefined, 'the chosen one is the full VAE\'s');
  assert.deepEqual([winner.ranking?.chosen, winner.ranking?.rank, winner.ranking?.rankedOn], [true, 1, 'fast']);
  assert.deepEqual(job.records.map((record) => record.id), [winner.id], 'the job answers with the chosen one');
  // The ranker saw the fast decodes: the losers' stored pixels are what it scored.
  assert.deepEqual(scored.map(({ index }) => index), [0, 1, 2]);
  assert.equal(scored[0]!.pixels, first.pixelSha256);
  assert.equal(scored[1]!.pixels, second.pixelSha256);
  assert.notEqual(scored[2]!.pixels, winner.pixelSha256);
  // Made again from its own seed, the winner is exactly the image a plain request with that seed makes.
  const plain = await service.waitForJob((await service.submit({ ...base, seed: Number(winner.seed) })).job.id);
  assert.equal(winner.seed, '42');
  assert.equal(plain.records[0]!.pixelSha256, winner.pixelSha256);
  // Each is made again on its own, unranked: the winner by the full VAE, a loser by the fast decoder.
  const pixelpipe = createPixelpipe({ cacheDir: join(work, 'models'), fastDecoder });
  try {
    for (const record of [winner, first]) {
      const again = await reproduceRecord(record, { pixelpipe, storage: service.storage, model: testData('fixtures', 'tiny-sd15') });
      assert.equal(again.matches, true, `record ${record.imageIndex}`);
    }
  } finally {
    await pixelpipe.close();
  }
  // Through the server (`pixelpipe reproduce` beside a running one): the request is a job's, without the ranking.
  const viaServer = await service.waitForJob((await service.submit(reproductionRequest(winner))).job.id);
  assert.equal(viaServer.records[0]!.pixelSha256, winner.pixelSha256);

  await assert.rejects(service.submit({ ...base, rankDecoder: 'fast' }), isInvalidArgument('rankDecoder', /give `bestOf` above `n`/));
  await assert.rejects(service.submit({ ...base, bestOf: 2, rankBy: 'last', rankDecoder: 'fast', decoder: 'fast' }), isInvalidArgument('rankDecoder', /makes every image a fast decode already/));
});
