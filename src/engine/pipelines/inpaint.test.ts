import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadStableDiffusion } from '../families/stable-diffusion.js';
import { conformanceImage, conformanceMask, pipelineIndex, pipelineRun, referenceChecker, referenceSamplers } from '../../testing/conformance.js';
import { testData } from '../../testing/paths.js';
import { inpaint } from './inpaint.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import { rgbToModelInput } from '../vae/vae-encoder.js';

test('inpainting with a 9-channel UNet matches diffusers: inpaint_euler_s4_g7.5', async (t) => {
  const run = pipelineRun('inpaint_euler_s4_g7.5');
  const model = { ...(await loadStableDiffusion(testData('fixtures', run.fixture))), schedulerConfig: run.scheduler_config };
  assert.equal(model.unet.inputChannels, 9);
  const checker = referenceChecker(t, run);
  const output = await inpaint(model, {
    prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, width: run.call.width, height: run.call.height,
    steps: run.call.num_inference_steps, guidance: run.call.guidance_scale, sampler: referenceSamplers[run.scheduler]!, seed: BigInt(pipelineIndex.defaults.seed),
    image: await conformanceImage(), mask: await conformanceMask(), strength: run.call.strength!, onInitialLatents: checker.onInitialLatents, onStep: checker.onStep,
  });
  checker.check(output);
});

test('inpainting with an ordinary UNet ends with the original latents wherever the mask keeps', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'));
  assert.equal(model.unet.inputChannels, 4);
  const image = await conformanceImage();
  const mask = await conformanceMask();
  let final: Float32Array | undefined;
  await inpaint(model, { prompt: 'a red cube', negativePrompt: '', width: 64, height: 64, steps: 4, guidance: 7.5, sampler: 'euler_a', seed: 3n, image, mask, strength: 1, onStep: (_step, _steps, latents) => { final = latents; } });
  // The image latents are the generator's first draw, as in the pipeline.
  const expected = await (await model.vaeEncoder()).encode(rgbToModelInput(image), image, new TorchGenerator(3n));
  const cells = 8 * 8;
  let kept = 0;
  let changed = 0;
  for (let i = 0; i < final!.length; i++) {
    const cell = i % cells;
    const masked = mask[Math.floor(cell / 8) * 8 * 64 + (cell % 8) * 8]! >= 0.5;
    if (masked) changed += final![i] === expected[i] ? 0 : 1;
    else {
      assert.equal(final![i], expected[i], `kept latent ${i}`);
      kept++;
    }
  }
  assert.ok(kept > 0 && changed > 0, `kept ${kept}, regenerated ${changed}`);
});
