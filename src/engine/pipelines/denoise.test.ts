import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStableDiffusion } from '../families/stable-diffusion.js';
import { createScheduler } from '../schedulers/index.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { buildOnnxModel } from '../../testing/onnx-builder.js';
import { pipelineIndex, pipelineRun, referenceChecker } from '../../testing/conformance.js';
import { testData } from '../../testing/paths.js';
import { scheduleForStrength, stepsRunForStrength } from './denoise.js';
import { textToImage } from './text-to-image.js';

/** tiny-sdxl with its VAE decoder swapped for an fp16 graph computing x⁸, which overflows fp16 for |x| > ~4, as SDXL's fp16 VAE does on real latents. */
function folderWithOverflowingVae(): string {
  const folder = join(mkdtempSync(join(tmpdir(), 'pixelpipe-fp16-vae-')), 'tiny-sdxl-fp16-vae');
  cpSync(testData('fixtures', 'tiny-sdxl'), folder, { recursive: true });
  const shape = [1, 4, 'height', 'width'];
  writeFileSync(join(folder, 'vae_decoder', 'model.onnx'), buildOnnxModel({
    nodes: [
      { opType: 'Mul', inputs: ['latent_sample', 'latent_sample'], outputs: ['square'] },
      { opType: 'Mul', inputs: ['square', 'square'], outputs: ['fourth'] },
      { opType: 'Mul', inputs: ['fourth', 'fourth'], outputs: ['sample'] },
    ],
    inputs: [{ name: 'latent_sample', type: 'float16', shape }],
    outputs: [{ name: 'sample', type: 'float16', shape }],
  }));
  return folder;
}

test('a VAE decoder that overflows to NaN/∞ falls back to the configured replacement, with a note', async (t) => {
  const folder = folderWithOverflowingVae();
  const run = pipelineRun('sdxl_euler_s4_g5');
  const options = { prompt: run.call.prompt, negativePrompt: '', width: 64, height: 64, steps: 4, guidance: 5, sampler: 'euler' as const, seed: BigInt(pipelineIndex.defaults.seed) };

  const withoutFallback = { ...(await loadStableDiffusion(folder)), schedulerConfig: run.scheduler_config };
  await assert.rejects(textToImage(withoutFallback, options), (error: Error) => error.name === 'InvalidModelError' && /NaN/.test(error.message) && /vaeDecoderFallback/.test(error.message));

  // The replacement is the fixture's own fp32 decoder, so the image must then match diffusers' reference.
  const model = { ...(await loadStableDiffusion(folder, { vaeDecoderFallback: testData('fixtures', 'tiny-sdxl', 'vae_decoder') })), schedulerConfig: run.scheduler_config };
  const checker = referenceChecker(t, run);
  const output = await textToImage(model, { ...options, onInitialLatents: checker.onInitialLatents, onStep: checker.onStep });
  assert.equal(output.notes.length, 1);
  assert.match(output.notes[0]!, /replacement VAE decoder/);
  checker.check(output);
});

test('image-to-image schedules are the tail of the full schedule, as diffusers get_timesteps', () => {
  const config = pipelineRun('img2img_euler_s4_g7.5').scheduler_config;
  const cases: [string, number, number, number][] = [['euler', 4, 0.5, 2], ['euler', 10, 0.75, 7], ['ddim', 20, 0.3, 6], ['dpmpp_2m', 4, 1, 4]];
  for (const [sampler, steps, strength, expected] of cases) {
    const full = createScheduler(sampler as 'euler', config);
    full.setTimesteps(steps);
    const scheduler = createScheduler(sampler as 'euler', config);
    const tail = scheduleForStrength(scheduler, steps, strength);
    assert.equal(tail.length, expected, `${sampler} ${steps} steps at ${strength}`);
    assert.deepEqual(tail, full.timesteps.slice(steps - expected));
  }
  // ⌊3 × 0.2⌋ = 0: diffusers would run nothing and fail on an empty schedule; here the error names the fix.
  assert.throws(() => scheduleForStrength(createScheduler('euler', config), 3, 0.2), isInvalidArgument('strength', /runs no step.*at least 5/));
});

test("SD3's and FLUX's get_timesteps skip ⌊steps − steps·strength⌋ steps, keeping one more than SD's rule when steps·strength is fractional", () => {
  const cases: [number, number, number, number][] = [[4, 0.5, 2, 2], [4, 0.6, 3, 2], [4, 1, 4, 4], [28, 0.8, 23, 22], [3, 0.2, 1, 0]];
  for (const [steps, strength, skippedRule, runRule] of cases) {
    assert.equal(stepsRunForStrength(steps, strength, 'steps-skipped'), skippedRule, `${steps} steps at ${strength}`);
    assert.equal(stepsRunForStrength(steps, strength, 'steps-run'), runRule, `${steps} steps at ${strength}, SD's rule`);
  }
  const full = createScheduler('flowmatch_euler', { shift: 3 });
  full.setTimesteps(4);
  const tail = scheduleForStrength(createScheduler('flowmatch_euler', { shift: 3 }), 4, 0.6, 'steps-skipped');
  assert.deepEqual(tail, full.timesteps.slice(1));
});
