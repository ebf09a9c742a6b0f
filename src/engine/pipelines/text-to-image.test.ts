import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadStableDiffusion, type StableDiffusionModel } from '../families/stable-diffusion.js';
import { readNpy } from '../../testing/npy.js';
import { testData } from '../../testing/paths.js';
import type { SamplerName } from '../schedulers/index.js';
import { textToImage } from './text-to-image.js';

interface PipelineRun {
  id: string;
  pipeline: string;
  scheduler: string;
  call: { num_inference_steps: number; guidance_scale: number; width: number; height: number; prompt: string; negative_prompt: string };
  scheduler_config: StableDiffusionModel['schedulerConfig'];
  timesteps_seen: number[];
  files: { image: string; latents: string };
}

const index = JSON.parse(readFileSync(testData('conformance', 'pipelines', 'index.json'), 'utf8')) as { defaults: { seed: number }; runs: PipelineRun[] };
const samplers: Record<string, SamplerName> = { euler: 'euler', euler_ancestral: 'euler_a', ddim: 'ddim', dpmpp_2m_karras: 'dpmpp_2m_karras' };

function maxRelativeError(actual: Float32Array, expected: ArrayLike<number>): number {
  let scale = 0;
  let error = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
  return error / scale;
}

for (const fixture of ['tiny-sd15', 'tiny-sd15-legacy-io']) {
  const loaded = loadStableDiffusion(testData('fixtures', fixture));
  for (const run of index.runs.filter((candidate) => candidate.pipeline === 'StableDiffusionPipeline')) {
    test(`latents after every step and the image match diffusers: ${run.id} on ${fixture}`, async (t) => {
      const model = { ...(await loaded), schedulerConfig: run.scheduler_config };
      const reference = readNpy(testData('conformance', 'pipelines', run.files.latents));
      const stepSize = reference.shape.slice(1).reduce((a, b) => a * b, 1);
      const referenceStep = (step: number) => (reference.data as Float32Array).subarray(step * stepSize, (step + 1) * stepSize);
      const errors: number[] = [];
      const output = await textToImage(model, {
        prompt: run.call.prompt, negativePrompt: run.call.negative_prompt, width: run.call.width, height: run.call.height,
        steps: run.call.num_inference_steps, guidance: run.call.guidance_scale, sampler: samplers[run.scheduler.split(' ')[0]!]!, seed: BigInt(index.defaults.seed),
        onInitialLatents: (latents) => assert.deepEqual(Array.from(latents), Array.from(referenceStep(0)), 'initial latents must be bit-identical'),
        onStep: (step, _steps, latents) => errors.push(maxRelativeError(latents, referenceStep(step))),
      });
      assert.deepEqual(output.timesteps, run.timesteps_seen);
      assert.equal(errors.length, run.timesteps_seen.length);
      t.diagnostic(`worst latent error relative to the latent's range: ${Math.max(...errors).toExponential(2)}`);
      for (const [step, error] of errors.entries()) assert.ok(error < 1e-4, `step ${step + 1}: relative error ${error}`);
      const image = readNpy(testData('conformance', 'pipelines', run.files.image)).data as Float32Array;
      let worst = 0;
      for (let i = 0; i < image.length; i++) worst = Math.max(worst, Math.abs(output.rgb[i]! / 255 - image[i]!));
      t.diagnostic(`max image difference ${(worst * 255).toFixed(3)}/255`);
      assert.ok(worst * 255 <= 1, `image differs by ${worst * 255}/255`);
    });
  }
}

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
