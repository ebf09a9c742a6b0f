import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadStableDiffusion } from '../families/stable-diffusion.js';
import { readNpy } from '../../testing/npy.js';
import { sharedFile, testData } from '../../testing/paths.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { PreviewDecoder } from '../preview/preview-decoder.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { textToImage } from './text-to-image.js';
import { encodePrompts } from './prompt-conditioning.js';
import { maxRelativeError, pipelineIndex, pipelineRun, referenceChecker, referenceSamplers } from '../../testing/conformance.js';

for (const fixture of ['tiny-sd15', 'tiny-sd15-legacy-io']) {
  const loaded = loadStableDiffusion(testData('fixtures', fixture));
  for (const run of pipelineIndex.runs.filter((candidate) => candidate.pipeline === 'StableDiffusionPipeline')) {
    test(`latents after every step and the image match diffusers: ${run.id} on ${fixture}`, async (t) => {
      const model = { ...(await loaded), schedulerConfig: run.scheduler_config };
      const checker = referenceChecker(t, run);
      const output = await textToImage(model, {
        prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, width: run.call.width, height: run.call.height,
        steps: run.call.num_inference_steps, guidance: run.call.guidance_scale, sampler: referenceSamplers[run.scheduler.split(' ')[0]!]!, seed: BigInt(pipelineIndex.defaults.seed),
        onInitialLatents: checker.onInitialLatents, onStep: checker.onStep,
      });
      checker.check(output);
    });
  }
}

test('SDXL text-to-image matches diffusers: sdxl_euler_s4_g5', async (t) => {
  const run = pipelineRun('sdxl_euler_s4_g5');
  const model = { ...(await loadStableDiffusion(testData('fixtures', run.fixture))), schedulerConfig: run.scheduler_config };
  assert.equal(model.family, 'stable-diffusion-xl');
  assert.deepEqual([model.defaultWidth, model.defaultHeight], [64, 64], 'default size from the UNet config: sample_size × VAE scale');
  const checker = referenceChecker(t, run);
  const output = await textToImage(model, {
    prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, width: run.call.width, height: run.call.height,
    steps: run.call.num_inference_steps, guidance: run.call.guidance_scale, sampler: referenceSamplers[run.scheduler]!, seed: BigInt(pipelineIndex.defaults.seed),
    onInitialLatents: checker.onInitialLatents, onStep: checker.onStep,
  });
  checker.check(output);
});

test("SDXL prompt embeddings: both encoders' penultimate layers side by side, pooled from the second", async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sdxl'));
  const encoded = await encodePrompts(model, 'a red cube', '', 5);
  const reference = readNpy(testData('conformance', 'pipelines', 'sdxl_prompt_embeds.npy'));
  const pooled = readNpy(testData('conformance', 'pipelines', 'sdxl_pooled_prompt_embeds.npy'));
  assert.deepEqual([encoded.context.batch, encoded.context.sequenceLength, encoded.context.hiddenSize], reference.shape);
  assert.ok(maxRelativeError(encoded.context.hiddenStates, reference.data as Float32Array) < 1e-5);
  assert.ok(maxRelativeError(encoded.pooled!.data, pooled.data as Float32Array) < 1e-5);
});

test('SDXL without a negative prompt uses zero unconditional embeddings (force_zeros_for_empty_prompt)', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sdxl'));
  assert.equal(model.forceZerosForEmptyPrompt, true);
  const zeroed = await encodePrompts(model, 'a red cube', undefined, 5);
  const rowSize = zeroed.context.sequenceLength * zeroed.context.hiddenSize;
  assert.ok(zeroed.context.hiddenStates.subarray(0, rowSize).every((value) => value === 0));
  assert.ok(zeroed.pooled!.data.subarray(0, zeroed.pooled!.size).every((value) => value === 0));
  const explicit = await encodePrompts(model, 'a red cube', '', 5);
  assert.deepEqual(zeroed.context.hiddenStates.subarray(rowSize), explicit.context.hiddenStates.subarray(rowSize), 'the positive row is the same either way');
});

test('prompt embeddings equal the text encoder reference', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  const reference = readNpy(testData('conformance', 'pipelines', 'sd15_prompt_embeds.npy'));
  const embeddings = await model.textEncoder.encode([model.tokenizer.encode('').ids, model.tokenizer.encode('a red cube').ids]);
  assert.deepEqual(embeddings.hiddenStates.length, reference.data.length);
  assert.ok(maxRelativeError(embeddings.hiddenStates, reference.data as Float32Array) < 1e-5);
});

test('an aborted signal stops before the next step', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  const controller = new AbortController();
  let steps = 0;
  await assert.rejects(
    textToImage(model, {
      prompt: 'a red cube', negativePrompt: '', width: 64, height: 64, steps: 4, guidance: 7.5, sampler: 'euler', seed: 1n, signal: controller.signal,
      onStep: (step) => { steps = step; if (step === 2) controller.abort(); },
    }),
    { name: 'AbortedError' },
  );
  assert.equal(steps, 2);
});

/** Mean and standard deviation of 8-bit values. */
function spread(values: Uint8Array): { mean: number; deviation: number } {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const deviation = Math.sqrt(values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / values.length);
  return { mean, deviation };
}

test('a fast decoder (VAElight) decodes the final latents instead of the VAE: the requested size, a real picture, not the VAE\'s, the same for the same seed', async (t) => {
  const path = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!path) return;
  const [model, fastDecoder] = await Promise.all([loadStableDiffusion(testData('fixtures', 'tiny-sd15')), PreviewDecoder.load(path)]);
  try {
    const options = { prompt: 'a red cube', negativePrompt: '', width: 64, height: 48, steps: 2, guidance: 7.5, sampler: 'euler' as const, seed: 5n };
    const timer = new StageTimer();
    const fast = await textToImage(model, { ...options, fastDecoder, timer });
    assert.deepEqual([fast.width, fast.height, fast.rgb.length], [64, 48, 64 * 48 * 3], 'the requested size, not the latent grid');
    const { mean, deviation } = spread(fast.rgb);
    t.diagnostic(`fast decode: mean ${mean.toFixed(1)}, std ${deviation.toFixed(1)}; stages ${JSON.stringify(timer.stages)}`);
    assert.ok(deviation > 2 && mean > 5 && mean < 250, `a picture, neither flat nor clipped: mean ${mean}, std ${deviation}`);
    // Timed and counted apart from the VAE, which never ran.
    assert.ok(timer.stages.fastDecode! > 0);
    assert.equal(timer.stages.vae, undefined);
    assert.equal(timer.runs.fast_decoder?.length, 1);

    const full = await textToImage(model, options);
    assert.deepEqual([full.width, full.height], [64, 48]);
    assert.ok(full.rgb.some((value, index) => value !== fast.rgb[index]), 'the fast decode is not the VAE\'s image');
    const again = await textToImage(model, { ...options, fastDecoder });
    assert.deepEqual(again.rgb, fast.rgb, 'the same seed gives the same pixels');
  } finally {
    await fastDecoder.release();
  }
});

test('SDXL asked for the fast decoder is refused, naming `decoder`, before any denoising', async (t) => {
  const path = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!path) return;
  const [model, fastDecoder] = await Promise.all([loadStableDiffusion(testData('fixtures', 'tiny-sdxl')), PreviewDecoder.load(path)]);
  try {
    const timer = new StageTimer();
    let started = false;
    await assert.rejects(
      textToImage(model, { prompt: 'a red cube', width: 64, height: 64, steps: 2, guidance: 5, sampler: 'euler', seed: 1n, fastDecoder, timer, onInitialLatents: () => (started = true) }),
      (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'decoder' && /SD 1\.x\/2\.x latents only.*SDXL.*`decoder` "full"/.test(error.message),
    );
    assert.equal(started, false);
    assert.deepEqual(timer.stages, {}, 'nothing ran: no prompt encoding, no denoising');
  } finally {
    await fastDecoder.release();
  }
});
