// SD3 and FLUX.1 through the real service (embedded PGlite): a job runs, records its family and transformer hash; bad settings are refused at submit.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { readPngText } from '../engine/image/png.js';
import { testData } from '../testing/paths.js';
import { startService } from './image-service.case.js';

const pglite = { name: 'pglite', settings: async () => ({}) };
const sd3Folder = testData('fixtures', 'tiny-sd3');

test('an SD3 job runs on the worker and its record names the family and the transformer\'s hash; off-rule sizes and DDPM samplers are refused at submit', async (t) => {
  const service = await startService(t, pglite, { models: [sd3Folder] });
  if (!service) return;
  const { job } = await service.submit({ prompt: 'a red cube', negativePrompt: '', model: 'tiny-sd3', width: 64, height: 64, steps: 2, guidance: 5, seed: 42, previews: true });
  const done = await service.waitForJob(job.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const [record] = done.records;
  const transformerHash = createHash('sha256').update(readFileSync(testData('fixtures', 'tiny-sd3', 'transformer', 'model.onnx'))).digest('hex');
  assert.equal(record!.modelHash, `sha256:${transformerHash}`);
  assert.equal(record!.settings.sampler, 'flowmatch_euler');
  const blob = await service.storage.get(record!.blobKey);
  const embedded = JSON.parse(readPngText(blob!.bytes).pixelpipe!) as { model: { family: string; hash: string } };
  assert.deepEqual(embedded.model, { id: 'tiny-sd3', hash: `sha256:${transformerHash}`, family: 'stable-diffusion-3' });

  await assert.rejects(service.submit({ prompt: 'a', model: 'tiny-sd3', width: 72, height: 64, steps: 1 }), { message: /`width` must be a multiple of 16 for this model \(its VAE's 8× downsampling times the transformer's 2×2 patches\)/ });
  await assert.rejects(service.submit({ prompt: 'a', model: 'tiny-sd3', width: 64, height: 64, steps: 1, sampler: 'dpmpp_2m' }), { message: /`sampler` must be one of flowmatch_euler for SD3 models/ });
});
