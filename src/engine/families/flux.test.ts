// FLUX on the tiny fixture against diffusers 0.30.3's FluxPipeline run (test-data/conformance/pipelines/flux).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maxRelativeError } from '../../testing/conformance.js';
import { checkAgainstReference, flowReferenceArray, flowReferences } from '../../testing/flow-references.js';
import { testData } from '../../testing/paths.js';
import { randn } from '../tensor/torch-random.js';
import { FluxModel, isFluxFolder, packLatents, unpackLatents } from './flux.js';

const references = flowReferences('flux');
const run = references.runs[0]!;
const loaded = FluxModel.load(testData('fixtures', run.fixture), { maxSequenceLength: run.call.max_sequence_length });

test('isFluxFolder reads model_index.json', async () => {
  assert.equal(await isFluxFolder(testData('fixtures', 'tiny-flux')), true);
  assert.equal(await isFluxFolder(testData('fixtures', 'tiny-sd3')), false);
});

test("prompt embeddings equal diffusers' T5 encoder_hidden_states and CLIP pooled projections", async () => {
  const model = await loaded;
  const embeddings = await model.encodePrompt([run.call.prompt]);
  const expected = flowReferenceArray('flux', 'flux_prompt_embeds.npy');
  const pooled = flowReferenceArray('flux', 'flux_pooled_prompt_embeds.npy');
  assert.deepEqual([embeddings.batch, embeddings.sequenceLength, embeddings.hiddenSize], expected.shape);
  assert.deepEqual([embeddings.batch, embeddings.pooledSize], pooled.shape);
  const error = maxRelativeError(embeddings.hiddenStates, expected.data);
  const pooledError = maxRelativeError(embeddings.pooled, pooled.data);
  assert.ok(error < 1e-5, `prompt embeddings: relative error ${error}`);
  assert.ok(pooledError < 1e-5, `pooled embeddings: relative error ${pooledError}`);
});

test(`packed latents after every step and the image match diffusers: ${run.id}`, async (t) => {
  const model = await loaded;
  const output = await model.generate({
    prompt: run.call.prompt, seed: BigInt(references.defaults.seed), steps: run.call.num_inference_steps,
    guidance: run.call.guidance_scale, width: run.call.width, height: run.call.height,
  });
  checkAgainstReference(t, 'flux', run, output);
});

test('packing follows the reference layout: the initial packed latents are the packed torch.randn noise, and unpacking inverts it', () => {
  const shape = { channels: 16, height: 8, width: 8 };
  const noise = randn([1, 16, 8, 8], references.defaults.seed);
  const reference = flowReferenceArray('flux', run.files.latents);
  const packed = packLatents(noise, shape);
  assert.deepEqual(packed, reference.data.subarray(0, packed.length));
  assert.deepEqual(unpackLatents(packed, shape), noise);
  const wide = { channels: 2, height: 2, width: 4 };
  // channel c, row y, column x holds 100c + 10y + x; token 1 is the right-hand 2×2 block.
  const values = Float32Array.from({ length: 16 }, (_, i) => 100 * Math.floor(i / 8) + 10 * Math.floor((i % 8) / 4) + (i % 4));
  assert.deepEqual([...packLatents(values, wide)], [0, 1, 10, 11, 100, 101, 110, 111, 2, 3, 12, 13, 102, 103, 112, 113]);
});

test('a size that does not pack into 2×2 latent blocks is refused, naming the argument', async () => {
  const model = await loaded;
  await assert.rejects(model.generate({ prompt: 'a', seed: 1n, steps: 1, guidance: 3.5, width: 64, height: 56 }), { name: 'InvalidArgumentError', message: /`height` must be a positive multiple of 16/ });
});

test('an SD3 folder is not a FLUX pipeline', async () => {
  await assert.rejects(FluxModel.load(testData('fixtures', 'tiny-sd3')), { name: 'InvalidModelError', message: /names "StableDiffusion3Pipeline", not FluxPipeline/ });
});
