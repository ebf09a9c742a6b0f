// The denoising loop shared by text-to-image, image-to-image and inpainting, and the decode after it.
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { activeControls } from '../controlnet/control-conditioning.js';
import type { DenoiserConditioning, LatentShape } from '../denoisers/denoiser.js';
import type { ModelFamily, StrengthRounding } from '../families/family.js';
import type { LoadedModel } from '../families/model-loader.js';
import type { StageTimer } from '../runtime/stage-timer.js';
import { createScheduler, type SamplerName, type ScheduleOptions, type Scheduler } from '../schedulers/index.js';
import type { PreviewDecoder } from '../preview/preview-decoder.js';
import type { TorchGenerator } from '../tensor/torch-random.js';
import { toRgbBytes, type DecodedImage } from '../vae/vae-decoder.js';
import type { EncodedPrompts } from './prompt-conditioning.js';

const f32 = Math.fround;

/** Called after each step with the new latents and, where the sampler forms one, its estimate of the clean latents (for previews); awaited. */
export type StepListener = (step: number, steps: number, latents: Float32Array, denoised: Float32Array | undefined) => void | Promise<void>;

/** Inpainting with an ordinary (4-channel) UNet: after each step the kept region is reset to the original, noised to the next timestep. */
export interface KnownRegion {
  /** The original image's latents (already scaled). */
  imageLatents: Float32Array;
  /** The noise the initial latents were made with, reused to noise the original at each step. */
  noise: Float32Array;
  /** One value per latent cell: 1 = generate, 0 = keep. */
  mask: Float32Array;
}

export interface DenoiseOptions {
  scheduler: Scheduler;
  /** The timesteps to run, in order (a tail of `scheduler.timesteps` for image-to-image). */
  timesteps: readonly number[];
  latents: Float32Array;
  shape: LatentShape;
  conditioning: DenoiserConditioning;
  guidance: number;
  /** Draws the ancestral samplers' noise, continuing the sequence that made the initial latents. */
  generator: TorchGenerator;
  timer: StageTimer;
  signal?: AbortSignal;
  onStep?: StepListener;
  knownRegion?: KnownRegion;
}

/**
 * A fresh scheduler for `sampler` on the model's noise schedule, told the model's parameterisation as
 * its family reads it (the scheduler turns outputs into estimates through denoisers/parameterisation.ts).
 */
export function createSampler(model: LoadedModel, sampler: SamplerName): Scheduler {
  const { schedulerConfig, modelFamily } = model;
  // A sampler integrates one parameterisation: DDPM samplers cannot integrate a flow velocity, nor the flow sampler ε.
  if (!(modelFamily.samplers as readonly string[]).includes(sampler)) {
    throw new InvalidArgumentError({ argument: 'sampler', value: sampler, message: `\`sampler\` must be one of ${modelFamily.samplers.join(', ')} for ${modelFamily.displayName} models, got ${JSON.stringify(sampler)}` });
  }
  return createScheduler(sampler, { ...schedulerConfig, prediction_type: modelFamily.parameterisation(schedulerConfig) });
}

/**
 * The tail of the schedule that image-to-image and inpainting run for `strength`, as diffusers'
 * `get_timesteps`: SD's and SDXL's pipelines run ⌊steps·strength⌋ steps (`steps-run`); SD3's and FLUX's
 * skip ⌊steps − steps·strength⌋ (`steps-skipped`), which keeps one more step when steps·strength is
 * fractional. The scheduler is told where it starts; `scheduleOptions` as for text-to-image.
 */
export function scheduleForStrength(scheduler: Scheduler, steps: number, strength: number, rounding: StrengthRounding = 'steps-run', scheduleOptions?: ScheduleOptions): number[] {
  scheduler.setTimesteps(steps, scheduleOptions);
  const start = steps - stepsRunForStrength(steps, strength, rounding);
  if (start >= steps) {
    throw new InvalidArgumentError({ argument: 'strength', value: strength, message: `\`strength\` ${strength} with ${steps} steps runs no step (⌊steps × strength⌋ = 0); raise \`steps\` to at least ${Math.ceil(1 / strength)} or raise \`strength\`` });
  }
  // Every sampler here has diffusers' `order` 1, so the skipped count is `start` timesteps.
  scheduler.setBeginIndex(start);
  return scheduler.timesteps.slice(start);
}

/** How many of `steps` an edit at `strength` runs, by the family's `get_timesteps` rounding (see scheduleForStrength). */
export function stepsRunForStrength(steps: number, strength: number, rounding: StrengthRounding): number {
  if (rounding === 'steps-run') return Math.min(Math.floor(steps * strength), steps);
  return steps - Math.trunc(Math.max(steps - Math.min(steps * strength, steps), 0));
}

/** The denoiser's inputs besides the latent, as the model's family builds them (SDXL adds pooled embeddings and size conditioning). */
export function denoiserConditioning(model: LoadedModel, encoded: EncodedPrompts, width: number, height: number): DenoiserConditioning {
  return model.modelFamily.conditioning(encoded, { width, height, vaeScaleFactor: model.vaeScaleFactor });
}

/** Edits follow diffusers' img2img and inpaint pipelines where the family has them; the others are refused by name (SD3 inpainting, FLUX.1 edits). */
export function checkEditing(model: LoadedModel, operation: 'image-to-image' | 'inpainting'): void {
  const family = model.modelFamily;
  if (operation === 'image-to-image' ? family.editing.imageToImage : family.editing.inpainting) return;
  throw new InvalidArgumentError({ argument: family.editing.imageToImage ? 'mask' : 'images', value: undefined, message: `${operation} is not supported for ${family.displayName} models (${model.name}); pixelpipe runs ${family.displayName} ${editsOffered(family)}` });
}

/**
 * The fast decoder (VAElight) learned the SD 1.x/2.x VAE's latent space only: another family's latents would decode
 * to a wrong image, not a rough one, so the call is refused before anything runs. The family says which it is.
 */
export function checkFastDecoder(family: ModelFamily, modelName: string): void {
  if (family.latent.preview.tinyDecoder) return;
  throw new InvalidArgumentError({
    argument: 'decoder',
    value: 'fast',
    message: `\`decoder\` "fast" decodes SD 1.x/2.x latents only, and ${modelName} makes ${family.displayName} latents (no fast decoder reads those yet): use \`decoder\` "full" (the default), or an SD 1.x/2.x model`,
  });
}

/** What a family runs, for refusals: `text-to-image only: leave out the input image`, or the same with image-to-image. */
function editsOffered(family: ModelFamily): string {
  return family.editing.imageToImage ? 'text-to-image and image-to-image only: leave out the mask' : 'text-to-image only: leave out the input image';
}

/** Runs the denoiser once per timestep with the scheduler's step in between; returns the final latents. */
export async function denoise(model: LoadedModel, options: DenoiseOptions): Promise<Float32Array> {
  const { scheduler, timesteps, shape, conditioning, guidance, generator, timer, signal, onStep, knownRegion } = options;
  const latentDims = [1, shape.channels, shape.height, shape.width];
  let latents = options.latents;
  for (let index = 0; index < timesteps.length; index++) {
    if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
    const timestep = timesteps[index]!;
    const modelInput = await timer.measure('samplerMath', () => scheduler.scaleModelInput(latents, timestep));
    // ControlNets run only inside their guidance window; outside it their residuals are zero.
    const stepConditioning = conditioning.controls ? { ...conditioning, controls: activeControls(conditioning.controls, index, timesteps.length) } : conditioning;
    const prediction = await timer.measure('denoise', () => model.unet.predict(modelInput, shape, timestep, stepConditioning, guidance, timer.onRun));
    const result = await timer.measure('samplerMath', () => scheduler.step(prediction, timestep, latents, () => generator.randn(latentDims)));
    latents = result.prevSample;
    if (knownRegion) {
      const next = timesteps[index + 1];
      latents = await timer.measure('samplerMath', () => keepKnownRegion(scheduler, knownRegion, latents, next, shape));
    }
    await onStep?.(index + 1, timesteps.length, latents, result.predOriginalSample);
  }
  return latents;
}

/** diffusers' blend for 4-channel inpainting: (1 − m)·original(noised to the next timestep) + m·latents, in float32. */
function keepKnownRegion(scheduler: Scheduler, region: KnownRegion, latents: Float32Array, nextTimestep: number | undefined, shape: LatentShape): Float32Array {
  const original = nextTimestep === undefined ? region.imageLatents : scheduler.addNoise(region.imageLatents, region.noise, nextTimestep);
  const cells = shape.height * shape.width;
  const blended = new Float32Array(latents.length);
  for (let i = 0; i < latents.length; i++) {
    const mask = region.mask[i % cells]!;
    blended[i] = f32(f32(f32(1 - mask) * original[i]!) + f32(mask * latents[i]!));
  }
  return blended;
}

/**
 * The final latents as RGB bytes: through the call's fast decoder when it gave one (timed as `fastDecode`, its
 * session runs reported as `fast_decoder`, apart from the preview runs that may share the session), else through
 * the model's VAE (see decodeLatents).
 */
export async function decodeToRgb(model: LoadedModel, latents: Float32Array, shape: LatentShape, timer: StageTimer, notes: string[], fastDecoder?: PreviewDecoder): Promise<{ rgb: Uint8Array; width: number; height: number }> {
  if (fastDecoder) {
    const image = await timer.measure('fastDecode', () => fastDecoder.decode(latents, shape, (_model, milliseconds) => timer.onRun('fast_decoder', milliseconds)));
    return { rgb: image.data, width: image.width, height: image.height };
  }
  const decoded = await decodeLatents(model, latents, shape, timer, notes);
  const rgb = await timer.measure('toBytes', () => toRgbBytes(decoded));
  return { rgb, width: decoded.width, height: decoded.height };
}

/**
 * Decodes latents. When the VAE returns non-finite values (an fp16 VAE overflowing, as SDXL's does) the
 * configured replacement decoder runs instead and `notes` says so; without one the error names the setting.
 */
export async function decodeLatents(model: LoadedModel, latents: Float32Array, shape: LatentShape, timer: StageTimer, notes: string[]): Promise<DecodedImage> {
  const decoded = await timer.measure('vae', () => model.vaeDecoder.decode(latents, shape, timer.onRun));
  if (!decoded.nonFinite) return decoded;
  if (!model.fallbackVaeDecoder) {
    throw new InvalidModelError({
      model: model.folder,
      file: 'vae_decoder/model.onnx',
      message: `${model.folder}: the VAE decoder returned NaN/∞ (an fp16 VAE overflowing, as SDXL's VAE does); set \`vaeDecoderFallback\` (CLI: --vae-fallback) to an fp32 VAE decoder or an fp16-safe one such as an ONNX export of madebyollin/sdxl-vae-fp16-fix`,
    });
  }
  const fallback = await model.fallbackVaeDecoder();
  const retried = await timer.measure('vae', () => fallback.decode(latents, shape, timer.onRun));
  if (retried.nonFinite) {
    throw new InvalidModelError({ model: model.folder, file: 'vaeDecoderFallback', message: `${model.folder}: the replacement VAE decoder also returned NaN/∞; give an fp32 decoder as \`vaeDecoderFallback\`` });
  }
  notes.push('the VAE decoder returned NaN/∞ (fp16 overflow); the image was decoded with the configured replacement VAE decoder');
  return retried;
}
