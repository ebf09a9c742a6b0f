import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadStableDiffusion } from '../families/stable-diffusion.js';
import { conformanceImage, pipelineIndex, pipelineRun, referenceChecker, referenceSamplers } from '../../testing/conformance.js';
import { testData } from '../../testing/paths.js';
import { imageToImage } from './image-to-image.js';

test('image-to-image matches diffusers: img2img_euler_s4_g7.5 (strength 0.5 runs the last 2 of 4 timesteps)', async (t) => {
  const run = pipelineRun('img2img_euler_s4_g7.5');
  const model = { ...(await loadStableDiffusion(testData('fixtures', run.fixture))), schedulerConfig: run.scheduler_config };
  const checker = referenceChecker(t, run, 1e-5);
  const output = await imageToImage(model, {
    prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, width: run.call.width, height: run.call.height,
    steps: run.call.num_inference_steps, guidance: run.call.guidance_scale, sampler: referenceSamplers[run.scheduler]!, seed: BigInt(pipelineIndex.defaults.seed),
    image: await conformanceImage(), strength: run.call.strength!, onInitialLatents: checker.onInitialLatents, onStep: checker.onStep,
  });
  checker.check(output);
});

test('a strength that leaves no step to run is refused, naming the fix', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  await assert.rejects(
    imageToImage(model, { prompt: 'a red cube', width: 64, height: 64, steps: 2, guidance: 7.5, sampler: 'euler', seed: 1n, image: await conformanceImage(), strength: 0.3 }),
    (error: Error) => error.name === 'InvalidArgumentError' && /`strength` 0\.3 with 2 steps runs no step/.test(error.message) && /at least 4/.test(error.message),
  );
});

test('every sampler runs image-to-image from the tail of its schedule, deterministically by seed', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  const image = await conformanceImage();
  for (const sampler of ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm'] as const) {
    const options = { prompt: 'a red cube', width: 64, height: 64, steps: 4, guidance: 7.5, sampler, seed: 7n, image, strength: 0.5 };
    const first = await imageToImage(model, options);
    const second = await imageToImage(model, options);
    assert.deepEqual(first.rgb, second.rgb, `${sampler}: same seed, same image`);
    assert.ok(first.timesteps.length >= 2 && first.timesteps.length <= 3, `${sampler}: ran ${first.timesteps.length} timesteps`);
  }
});

test('an older export that samples inside its VAE encoder still edits, with a note that seeds do not reproduce it', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15-legacy-io'));
  const output = await imageToImage(model, { prompt: 'a red cube', width: 64, height: 64, steps: 4, guidance: 7.5, sampler: 'euler', seed: 1n, image: await conformanceImage(), strength: 0.5 });
  assert.equal(output.rgb.length, 64 * 64 * 3);
  assert.equal(output.notes.length, 1);
  assert.match(output.notes[0]!, /samples inside the graph/);
});
