// The diffusers pipeline references in test-data/conformance/pipelines, and how tests compare against them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import sharp from 'sharp';
import type { RgbImage } from '../engine/image/rgb-image.js';
import type { SchedulerConfig, SamplerName } from '../engine/schedulers/index.js';
import { readNpy } from './npy.js';
import { testData } from './paths.js';

export interface PipelineRun {
  id: string;
  fixture: string;
  pipeline: string;
  scheduler: string;
  call: { num_inference_steps: number; guidance_scale: number; width: number; height: number; prompt: string; negative_prompt: string; strength?: number };
  scheduler_config: SchedulerConfig;
  timesteps_seen: number[];
  files: { image: string; latents: string; png: string };
}

export const pipelineIndex = JSON.parse(readFileSync(testData('conformance', 'pipelines', 'index.json'), 'utf8')) as { defaults: { seed: number }; runs: PipelineRun[] };

/** Reference scheduler names → ours. */
export const referenceSamplers: Record<string, SamplerName> = { euler: 'euler', euler_ancestral: 'euler_a', ddim: 'ddim', dpmpp_2m_karras: 'dpmpp_2m_karras' };

export function pipelineRun(id: string): PipelineRun {
  const run = pipelineIndex.runs.find((candidate) => candidate.id === id);
  if (!run) throw new Error(`no reference run ${id}`);
  return run;
}

/** The init image of the img2img/inpaint references as RGB bytes. */
export async function conformanceImage(): Promise<RgbImage> {
  const { data, info } = await sharp(testData('conformance', 'inputs', 'init_image.png')).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** The inpaint reference's mask as one float per pixel in [0, 1] (white = regenerate). */
export async function conformanceMask(): Promise<Float32Array> {
  const { data } = await sharp(testData('conformance', 'inputs', 'mask_image.png')).grayscale().raw().toBuffer({ resolveWithObject: true });
  return Float32Array.from(data, (value) => value / 255);
}

/** Largest absolute difference, relative to the reference's largest magnitude. */
export function maxRelativeError(actual: Float32Array, expected: ArrayLike<number>): number {
  let scale = 0;
  let error = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  for (let i = 0; i < expected.length; i++) error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
  return error / scale;
}

/**
 * Collects what a pipeline run produced and checks it against the reference: initial latents within
 * `initialTolerance` (0 = bit-identical), latents after every step within 1e-4 of the latent range,
 * the timesteps, and the final image within 1/255 per channel (reported as a diagnostic).
 */
export function referenceChecker(t: TestContext, run: PipelineRun, initialTolerance = 0) {
  const reference = readNpy(testData('conformance', 'pipelines', run.files.latents));
  const stepSize = reference.shape.slice(1).reduce((a, b) => a * b, 1);
  const referenceStep = (step: number) => (reference.data as Float32Array).subarray(step * stepSize, (step + 1) * stepSize);
  const errors: number[] = [];
  let initial: number | undefined;
  return {
    onInitialLatents: (latents: Float32Array) => {
      initial = maxRelativeError(latents, referenceStep(0));
    },
    onStep: (step: number, _steps: number, latents: Float32Array) => {
      errors.push(maxRelativeError(latents, referenceStep(step)));
    },
    /** Asserts everything; returns the worst image difference in 1/255 steps. */
    check(output: { rgb: Uint8Array; timesteps: readonly number[] }): number {
      assert.deepEqual(output.timesteps, run.timesteps_seen);
      assert.ok(initial !== undefined, 'the pipeline reported no initial latents');
      t.diagnostic(`initial latents: relative error ${initial.toExponential(2)}`);
      assert.ok(initial <= initialTolerance, `initial latents differ: relative error ${initial}`);
      assert.equal(errors.length, run.timesteps_seen.length);
      t.diagnostic(`worst latent error relative to the latent's range: ${Math.max(...errors).toExponential(2)}`);
      for (const [step, error] of errors.entries()) assert.ok(error < 1e-4, `step ${step + 1}: relative error ${error}`);
      const image = readNpy(testData('conformance', 'pipelines', run.files.image)).data as Float32Array;
      let worst = 0;
      for (let i = 0; i < image.length; i++) worst = Math.max(worst, Math.abs(output.rgb[i]! / 255 - image[i]!));
      t.diagnostic(`max image difference ${(worst * 255).toFixed(3)}/255`);
      assert.ok(worst * 255 <= 1, `image differs by ${worst * 255}/255`);
      return worst * 255;
    },
  };
}
