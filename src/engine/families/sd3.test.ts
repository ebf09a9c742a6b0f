// SD3 through the shared loader and text-to-image pipeline, against diffusers 0.29.2's StableDiffusion3Pipeline run (test-data/conformance/pipelines/sd3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkAgainstReference, checkPromptEmbeddings, flowReferences, runFlowReference } from '../../testing/flow-references.js';
import { testData } from '../../testing/paths.js';
import { encodePrompts } from '../pipelines/prompt-conditioning.js';
import { textToImage } from '../pipelines/text-to-image.js';
import { detectFamily, folderFacts, sd3 } from './index.js';
import { hashUnet, loadModel } from './model-loader.js';

const references = flowReferences('sd3');
const run = references.runs[0]!;
const loaded = loadModel(testData('fixtures', run.fixture));

test('an SD3 folder is detected as SD3 (before SDXL, whose second text encoder it also has), and SD folders are not', () => {
  assert.equal(detectFamily(folderFacts(testData('fixtures', 'tiny-sd3'))).id, 'stable-diffusion-3');
  assert.equal(detectFamily(folderFacts(testData('fixtures', 'tiny-sdxl'))).id, 'stable-diffusion-xl');
  assert.equal(detectFamily(folderFacts(testData('fixtures', 'tiny-sd15'))).id, 'stable-diffusion');
});

test('the loaded model names its family, hashes transformer/ and takes its size rule and defaults from the configs', async () => {
  const model = await loaded;
  assert.equal(model.family, 'stable-diffusion-3');
  assert.equal(await model.unetHash, await hashUnet(testData('fixtures', 'tiny-sd3')));
  assert.equal(model.latentChannels, 16);
  assert.deepEqual([model.sizeMultiple, model.largestSide, model.defaultWidth, model.defaultHeight], [16, 512, 64, 64]);
  assert.deepEqual(sd3.defaults(model.schedulerConfig), { steps: 28, guidance: 7 });
  assert.equal(model.modelFamily.parameterisation(model.schedulerConfig), 'flow');
});

test("prompt embeddings equal diffusers' [negative '', positive] encoder_hidden_states and pooled projections", async () => {
  const model = await loaded;
  const encoded = await encodePrompts(model, run.call.prompt, run.call.negative_prompt, run.call.guidance_scale);
  checkPromptEmbeddings('sd3', encoded);
});

test(`latents after every step and the image match diffusers: ${run.id}`, async (t) => {
  const model = await loaded;
  const steps: number[] = [];
  const output = await runFlowReference(model, run, references.defaults.seed, (step) => steps.push(step));
  assert.deepEqual(steps, [1, 2, 3, 4]);
  assert.deepEqual([output.width, output.height], [run.call.width, run.call.height]);
  checkAgainstReference(t, 'sd3', run, output);
});

test('a noise-prediction sampler is refused for a flow-matching model', async () => {
  const model = await loaded;
  await assert.rejects(
    textToImage(model, { prompt: 'a', negativePrompt: '', width: 64, height: 64, steps: 2, guidance: 5, sampler: 'ddim', seed: 1n }),
    { name: 'InvalidArgumentError', message: /`sampler` must be one of flowmatch_euler for SD3 models, got "ddim"/ },
  );
});

test('folders that are not a complete SD3 pipeline are InvalidModelErrors naming the problem', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-sd3-'));
  try {
    await cp(testData('fixtures', 'tiny-sd3'), folder, { recursive: true });
    await rm(join(folder, 'tokenizer_3'), { recursive: true });
    await assert.rejects(loadModel(folder), { name: 'InvalidModelError', message: /text_encoder_3 but no tokenizer_3/ });
    await rm(join(folder, 'transformer', 'model.onnx'));
    await assert.rejects(loadModel(folder), { name: 'InvalidModelError', message: /incomplete: missing transformer\/model\.onnx/ });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('without T5 (text_encoder_3 and tokenizer_3 removed) SD3 still generates, on zeros in T5\'s place', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-sd3-no-t5-'));
  try {
    await cp(testData('fixtures', 'tiny-sd3'), folder, { recursive: true });
    await rm(join(folder, 'tokenizer_3'), { recursive: true });
    await rm(join(folder, 'text_encoder_3'), { recursive: true });
    const model = await loadModel(folder);
    const encoded = await encodePrompts(model, 'a red cube', '', 5);
    assert.deepEqual([encoded.context.batch, encoded.context.sequenceLength], [2, 77 + 77]);
    const output = await textToImage(model, { prompt: 'a red cube', negativePrompt: '', width: 64, height: 64, steps: 2, guidance: 5, sampler: 'flowmatch_euler', seed: 42n });
    assert.equal(output.rgb.length, 64 * 64 * 3);
    await Promise.all(model.sessions.map((session) => session.release()));
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});
