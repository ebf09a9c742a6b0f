// The SD3 and FLUX diffusers references in test-data/conformance/pipelines/{sd3,flux}, and how tests compare against them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { TestContext } from 'node:test';
import { packLatents } from '../engine/denoisers/latent-packing.js';
import type { EncodedPrompts } from '../engine/families/family.js';
import type { LoadedModel } from '../engine/families/model-loader.js';
import { decodeLatents } from '../engine/pipelines/denoise.js';
import { textToImage } from '../engine/pipelines/text-to-image.js';
import { StageTimer } from '../engine/runtime/stage-timer.js';
import type { SchedulerConfig } from '../engine/schedulers/index.js';
import { maxRelativeError } from './conformance.js';
import { readNpy } from './npy.js';
import { testData } from './paths.js';

export interface FlowPipelineRun {
  id: string;
  fixture: string;
  call: { prompt: string; negative_prompt?: string; num_inference_steps: number; guidance_scale: number; width: number; height: number; max_sequence_length?: number };
  max_sequence_length?: number;
  scheduler_config: SchedulerConfig;
  timesteps_seen: number[];
  latents_shape: number[];
  files: { image: string; latents: string; png: string };
}

export interface FlowReferences {
  defaults: { seed: number };
  runs: FlowPipelineRun[];
}

export function flowReferences(family: 'sd3' | 'flux'): FlowReferences {
  return JSON.parse(readFileSync(testData('conformance', 'pipelines', family, 'index.json'), 'utf8')) as FlowReferences;
}

export function flowReferenceArray(family: 'sd3' | 'flux', file: string): { shape: number[]; data: Float32Array } {
  const array = readNpy(testData('conformance', 'pipelines', family, file));
  return { shape: array.shape, data: array.data as Float32Array };
}

/** Prompt and pooled embeddings against the reference run's (`<family>_prompt_embeds.npy`, `<family>_pooled_prompt_embeds.npy`): shapes exact, values within 1e-5 relative. */
export function checkPromptEmbeddings(family: 'sd3' | 'flux', encoded: EncodedPrompts): void {
  const expected = flowReferenceArray(family, `${family}_prompt_embeds.npy`);
  const pooled = flowReferenceArray(family, `${family}_pooled_prompt_embeds.npy`);
  assert.deepEqual([encoded.context.batch, encoded.context.sequenceLength, encoded.context.hiddenSize], expected.shape);
  assert.deepEqual([encoded.context.batch, encoded.pooled!.size], pooled.shape);
  const error = maxRelativeError(encoded.context.hiddenStates, expected.data);
  const pooledError = maxRelativeError(encoded.pooled!.data, pooled.data);
  assert.ok(error < 1e-5, `prompt embeddings: relative error ${error}`);
  assert.ok(pooledError < 1e-5, `pooled embeddings: relative error ${pooledError}`);
}

/**
 * Checks a run against its reference: the timesteps exactly, the initial noise bit for bit, the latents
 * after every step within 1e-4 of the latent's range (the SD tests' tolerance), and the final image
 * within 1/255 per channel. `latents` holds the initial latents then one entry per step, in the
 * reference's layout (FLUX: packed).
 */
export function checkAgainstReference(t: TestContext, family: 'sd3' | 'flux', run: FlowPipelineRun, output: { image: Float32Array; latents: Float32Array[]; timesteps: readonly number[] }): void {
  assert.deepEqual(output.timesteps, run.timesteps_seen);
  const reference = flowReferenceArray(family, run.files.latents);
  assert.deepEqual(reference.shape, run.latents_shape);
  const stepSize = reference.data.length / reference.shape[0]!;
  assert.equal(output.latents.length, reference.shape[0]);
  const errors = output.latents.map((latents, step) => {
    assert.equal(latents.length, stepSize);
    return maxRelativeError(latents, reference.data.subarray(step * stepSize, (step + 1) * stepSize));
  });
  t.diagnostic(`latent errors relative to the latent's range, per step: ${errors.map((error) => error.toExponential(2)).join(', ')}`);
  assert.equal(errors[0], 0, 'the initial noise is torch.randn bit for bit');
  for (const [step, error] of errors.entries()) assert.ok(error < 1e-4, `step ${step}: relative error ${error}`);
  const image = flowReferenceArray(family, run.files.image);
  assert.equal(output.image.length, image.data.length);
  let worst = 0;
  for (let i = 0; i < image.data.length; i++) worst = Math.max(worst, Math.abs(output.image[i]! - image.data[i]!));
  t.diagnostic(`max image difference ${(worst * 255).toFixed(4)}/255`);
  assert.ok(worst * 255 <= 1, `image differs by ${worst * 255}/255`);
}

/**
 * Runs a reference call through the text-to-image pipeline and gathers what checkAgainstReference
 * compares: the initial and per-step latents (packed for FLUX, as diffusers keeps them), the
 * timesteps, and the final latents decoded to [0, 1] floats [H, W, 3] (the pipeline itself returns bytes).
 */
export async function runFlowReference(model: LoadedModel, run: FlowPipelineRun, seed: number, onStep?: (step: number) => void): Promise<{ image: Float32Array; latents: Float32Array[]; timesteps: readonly number[]; width: number; height: number }> {
  const { call } = run;
  const shape = { channels: model.latentChannels, height: call.height / model.vaeScaleFactor, width: call.width / model.vaeScaleFactor };
  const layout = (latents: Float32Array) => (model.modelFamily.latent.packing === 'patches-2x2' ? packLatents(latents, shape) : latents);
  const latents: Float32Array[] = [];
  let final: Float32Array | undefined;
  const output = await textToImage(model, {
    prompt: call.prompt, negativePrompt: call.negative_prompt, width: call.width, height: call.height, steps: call.num_inference_steps,
    guidance: call.guidance_scale, sampler: 'flowmatch_euler', seed: BigInt(seed),
    onInitialLatents: (initial) => latents.push(layout(initial)),
    onStep: (step, _steps, stepLatents) => { latents.push(layout(stepLatents)); final = stepLatents; onStep?.(step); },
  });
  const decoded = await decodeLatents(model, final!, shape, new StageTimer(), []);
  const pixels = decoded.width * decoded.height;
  const image = new Float32Array(pixels * 3);
  for (let channel = 0; channel < 3; channel++) for (let pixel = 0; pixel < pixels; pixel++) image[pixel * 3 + channel] = decoded.planes[channel * pixels + pixel]!;
  return { image, latents, timesteps: output.timesteps, width: output.width, height: output.height };
}
