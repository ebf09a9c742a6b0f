// SD3 on the tiny fixture against diffusers 0.29.2's StableDiffusion3Pipeline run (test-data/conformance/pipelines/sd3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { maxRelativeError } from '../../testing/conformance.js';
import { checkAgainstReference, flowReferenceArray, flowReferences } from '../../testing/flow-references.js';
import { testData } from '../../testing/paths.js';
import { isSd3Folder, Sd3Model } from './sd3.js';

const references = flowReferences('sd3');
const run = references.runs[0]!;
const loaded = Sd3Model.load(testData('fixtures', run.fixture), { maxSequenceLength: run.max_sequence_length });

test('isSd3Folder reads model_index.json', async () => {
  assert.equal(await isSd3Folder(testData('fixtures', 'tiny-sd3')), true);
  assert.equal(await isSd3Folder(testData('fixtures', 'tiny-sd15')), false);
  assert.equal(await isSd3Folder(testData('fixtures', 'no-such-folder')), false);
});

test("prompt embeddings equal diffusers' [negative '', positive] encoder_hidden_states and pooled projections", async () => {
  const model = await loaded;
  const embeddings = await model.encodePrompt([run.call.negative_prompt!, run.call.prompt]);
  const expected = flowReferenceArray('sd3', 'sd3_prompt_embeds.npy');
  const pooled = flowReferenceArray('sd3', 'sd3_pooled_prompt_embeds.npy');
  assert.deepEqual([embeddings.batch, embeddings.sequenceLength, embeddings.hiddenSize], expected.shape);
  assert.deepEqual([embeddings.batch, embeddings.pooledSize], pooled.shape);
  const error = maxRelativeError(embeddings.hiddenStates, expected.data);
  const pooledError = maxRelativeError(embeddings.pooled, pooled.data);
  assert.ok(error < 1e-5, `prompt embeddings: relative error ${error}`);
  assert.ok(pooledError < 1e-5, `pooled embeddings: relative error ${pooledError}`);
});

test(`latents after every step and the image match diffusers: ${run.id}`, async (t) => {
  const model = await loaded;
  const steps: number[] = [];
  const output = await model.generate({
    prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, seed: BigInt(references.defaults.seed), steps: run.call.num_inference_steps,
    guidance: run.call.guidance_scale, width: run.call.width, height: run.call.height, onStep: (step) => steps.push(step),
  });
  assert.deepEqual(steps, [1, 2, 3, 4]);
  assert.deepEqual([output.width, output.height], [run.call.width, run.call.height]);
  checkAgainstReference(t, 'sd3', run, output);
});

test('a size the transformer cannot patch is refused, naming the argument', async () => {
  const model = await loaded;
  await assert.rejects(model.generate({ prompt: 'a', seed: 1n, steps: 1, guidance: 5, width: 72, height: 64 }), { name: 'InvalidArgumentError', message: /`width` must be a positive multiple of 16 for this model, got 72/ });
  await assert.rejects(model.generate({ prompt: 'a', seed: 1n, steps: 1, guidance: 5, width: 64, height: 1024 }), { name: 'InvalidArgumentError', message: /`height` must be at most 512/ });
});

test('folders that are not a complete SD3 pipeline are InvalidModelErrors naming the problem', async () => {
  await assert.rejects(Sd3Model.load(testData('fixtures', 'tiny-sd15')), { name: 'InvalidModelError', message: /names "StableDiffusionPipeline", not StableDiffusion3Pipeline/ });
  const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-sd3-'));
  try {
    await cp(testData('fixtures', 'tiny-sd3'), folder, { recursive: true });
    await rm(join(folder, 'tokenizer_3'), { recursive: true });
    await assert.rejects(Sd3Model.load(folder), { name: 'InvalidModelError', message: /text_encoder_3 but no tokenizer_3/ });
    await rm(join(folder, 'transformer', 'model.onnx'));
    await assert.rejects(Sd3Model.load(folder), { name: 'InvalidModelError', message: /incomplete: missing transformer\/model\.onnx/ });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});
