// Best-of-N and output resizing over HTTP: the openai client's extra fields and the native jobs API, on the real service (PGlite and PostgreSQL), the tiny model and tiny CLIP.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import type { ImageGenerateParamsNonStreaming } from 'openai/resources/images';
import sharp from 'sharp';
import type { ImageRecord, JobView } from '../../service/image-service-types.js';
import type { RunningImageService } from '../../service/image-service.js';
import { ClipRanker } from '../../service/ranking/clip-ranker.js';
import { testData } from '../../testing/paths.js';
import { testDatabaseUrlVariable } from '../../testing/postgres.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../testing/openai-test-server.js';
import type { HttpServer } from './http-server.js';

const clipFolder = testData('fixtures', 'tiny-clip');
const serverUrl = process.env[testDatabaseUrlVariable];

/** The records of the one job whose prompt is `prompt`, by candidate index. */
async function recordsOf(service: RunningImageService, prompt: string): Promise<ImageRecord[]> {
  const { records } = await service.listRecords({ prompt, limit: 100 });
  return records.sort((left, right) => left.imageIndex - right.imageIndex);
}

for (const backend of ['pglite', 'postgres'] as const) {
  const skip = backend === 'postgres' && !serverUrl && process.env.CI !== 'true' ? `NOT RUN: ${testDatabaseUrlVariable} is not set, so best-of-N was not run against PostgreSQL` : false;
  if (skip) console.warn(`\n!!! ${skip}\n`);
  describe(`best-of-N and output format over HTTP (real service, ${backend}, tiny model, tiny CLIP)`, { skip }, () => {
    let running: OpenAiTestServer;
    let service: RunningImageService;
    let server: HttpServer;
    let client: OpenAI;
    const post = async (path: string, body: unknown) => {
      const response = await fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as any };
    };
    const get = async (path: string) => (await (await fetch(`${server.url}${path}`)).json()) as any;

    before(async () => {
      running = await startOpenAiTestServer(backend, 'best-of', {
        settings: { clipModel: clipFolder },
        defaultModel: testData('fixtures', 'tiny-sd15'),
        // `last` prefers the highest candidate index: a ranker whose choice the test knows in advance.
        rankers: { last: { type: 'custom', name: 'last', score: (candidates) => candidates.map((candidate) => candidate.index) } },
        isolation: 'in-process',
        pollingIntervalSeconds: 0.1,
        onNotice: () => undefined,
      });
      ({ service, server, client } = running);
    });

    after(async () => {
      await running?.close();
    });

    it('lists its rankers: the settings\' clip and the configured custom one', async () => {
      assert.deepEqual(service.rankers(), ['clip', 'last']);
      assert.deepEqual(await get('/v1/rankers'), { data: [{ name: 'clip' }, { name: 'last' }] });
    });

    it('best_of=3, n=1 through the openai client answers the one best image; history keeps all three, ranked by the clip ranker\'s scores of the stored files', async () => {
      const prompt = 'best of three: a green pyramid';
      const response = await client.images.generate({ prompt, size: '64x64', n: 1, steps: 1, seed: 5, best_of: 3, rank_by: 'clip' } as ImageGenerateParamsNonStreaming);
      assert.equal(response.data?.length, 1);
      const records = await recordsOf(service, prompt);
      assert.equal(records.length, 3, 'every candidate is a record');
      assert.deepEqual(records.map((record) => record.seed), ['5', '6', '7'], 'consecutive seeds');
      assert.deepEqual(records.map((record) => record.ranking?.rank).sort(), [1, 2, 3]);
      assert.ok(records.every((record) => record.ranking?.ranker === 'clip' && record.ranking.candidates === 3));
      const chosen = records.filter((record) => record.ranking?.chosen);
      assert.equal(chosen.length, 1);
      assert.equal(chosen[0]!.ranking!.rank, 1);
      assert.equal(chosen[0]!.ranking!.score, Math.max(...records.map((record) => record.ranking!.score)));
      const returned = Buffer.from(response.data![0]!.b64_json!, 'base64');
      assert.ok(returned.equals(Buffer.from((await service.storage.get(chosen[0]!.blobKey))!.bytes)), 'the answer is the chosen record\'s file');

      // The same scores as the clip ranker gives the stored files directly.
      const ranker = new ClipRanker({ model: clipFolder });
      try {
        const candidates = await Promise.all(records.map(async (record) => ({ index: record.imageIndex, bytes: (await service.storage.get(record.blobKey))!.bytes, mediaType: record.mediaType })));
        const direct = await ranker.score(candidates, { prompt });
        direct.forEach((score, index) => assert.ok(Math.abs(score.score - records[index]!.ranking!.score) < 1e-6, `candidate ${index}: ${score.score} vs ${records[index]!.ranking!.score}`));
      } finally {
        await ranker.close?.();
      }
      // Ranks follow the scores; equal scores go to the lower index.
      const byRank = [...records].sort((left, right) => left.ranking!.rank - right.ranking!.rank);
      for (let index = 1; index < byRank.length; index++) {
        const [better, worse] = [byRank[index - 1]!, byRank[index]!];
        assert.ok(better.ranking!.score > worse.ranking!.score || (better.ranking!.score === worse.ranking!.score && better.imageIndex < worse.imageIndex));
      }
    });

    it('a custom ranker decides which candidates win; the job view lists the chosen best first and the rejected apart', async () => {
      const { status, body } = await post('/v1/jobs', { prompt: 'custom ranking: a yellow cone', width: 64, height: 64, steps: 1, seed: 9, n: 2, bestOf: 3, rankBy: 'last' });
      assert.equal(status, 202, JSON.stringify(body));
      const job = await service.waitForJob(body.id);
      assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
      const view = (await get(`/v1/jobs/${job.id}`)) as JobView;
      assert.deepEqual(view.records.map((record) => [record.imageIndex, record.ranking?.rank, record.ranking?.chosen]), [[2, 1, true], [1, 2, true]]);
      assert.deepEqual(view.rejected?.map((record) => [record.imageIndex, record.ranking?.rank, record.ranking?.chosen]), [[0, 3, false]]);
      assert.equal((await service.listRecords({ jobId: job.id })).records.length, 3);
    });

    it('refuses an unknown rank_by and a best_of below n with 400s naming the field as sent', async () => {
      await assert.rejects(client.images.generate({ prompt: 'a', size: '64x64', best_of: 2, rank_by: 'sharpness' } as ImageGenerateParamsNonStreaming), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.param, 'rank_by');
        assert.match(error.message, /"sharpness".*the rankers here are clip, last/);
        assert.doesNotMatch(error.message, /rankBy|bestOf/);
        return true;
      });
      await assert.rejects(client.images.generate({ prompt: 'a', size: '64x64', n: 3, best_of: 2, rank_by: 'clip' } as ImageGenerateParamsNonStreaming), (error: unknown) => {
        assert.ok(error instanceof OpenAI.BadRequestError, String(error));
        assert.equal(error.param, 'best_of');
        assert.match(error.message, /at least `n` \(3\)/);
        return true;
      });
      const quality = await post('/v1/jobs', { prompt: 'a', outputQuality: 80 });
      assert.deepEqual([quality.status, quality.body.error.param], [400, 'outputQuality']);
      assert.match(quality.body.error.message, /give `outputFormat` webp or jpeg/);
      const native = await post('/v1/jobs', { prompt: 'a', bestOf: 3, rankBy: 'nope' });
      assert.equal(native.status, 400);
      assert.equal(native.body.error.param, 'rankBy');
      assert.match(native.body.error.message, /the rankers here are clip, last/);
    });

    it('resizes and stores as WebP: the record is a WebP of exactly that size, its pixel hash still the model\'s', async () => {
      const { status, body } = await post('/v1/jobs', { prompt: 'resized: a purple torus', width: 64, height: 64, steps: 1, seed: 4, resize: { width: 48, height: 40 }, outputFormat: 'webp', outputQuality: 80 });
      assert.equal(status, 202, JSON.stringify(body));
      const job = await service.waitForJob(body.id);
      assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
      const [record] = job.records;
      assert.deepEqual([record!.mediaType, record!.width, record!.height], ['image/webp', 48, 40]);
      const metadata = await sharp((await service.storage.get(record!.blobKey))!.bytes).metadata();
      assert.deepEqual([metadata.format, metadata.width, metadata.height], ['webp', 48, 40]);
      assert.equal(job.rejected, undefined);
      assert.equal(record!.ranking, undefined);
      // The same request without resizing stores the model's own 64×64 pixels: the hash both records keep.
      const plain = await post('/v1/jobs', { prompt: 'resized: a purple torus', width: 64, height: 64, steps: 1, seed: 4 });
      const [unresized] = (await service.waitForJob(plain.body.id)).records;
      assert.deepEqual([unresized!.mediaType, unresized!.width, unresized!.height], ['image/png', 64, 64]);
      assert.equal(record!.pixelSha256, unresized!.pixelSha256);
    });
  });
}
