// Text-to-image for every family (SD 1.x/2.x, SDXL, SD3, FLUX.1): an explicit loop in diffusers' order, so the same seed gives the same image.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { checkControls, type ControlInput } from '../controlnet/control-conditioning.js';
import type { LoadedModel } from '../families/model-loader.js';
import { StageTimer } from '../runtime/stage-timer.js';
import type { SamplerName } from '../schedulers/index.js';
import type { PreviewDecoder } from '../preview/preview-decoder.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import { checkFastDecoder, createSampler, decodeToRgb, denoise, denoiserConditioning, type StepListener } from './denoise.js';
import { encodePrompts, type EncodedPrompts } from './prompt-conditioning.js';

export interface TextToImageOptions {
  prompt: string;
  /** Undefined when none was given (SDXL may then use zero embeddings; see encodePrompts). */
  negativePrompt?: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  sampler: SamplerName;
  seed: bigint;
  signal?: AbortSignal;
  /** Called after each step with the latents the scheduler returned. */
  onStep?: StepListener;
  /** Receives the initial latents, as diffusers' prepare_latents returns them. */
  onInitialLatents?: (latents: Float32Array) => void;
  /** ControlNets with their control images at the output size (SD 1.x/2.x with a UNet exported with residual inputs); their residuals are summed. */
  controls?: readonly ControlInput[];
  /** The prompts already encoded (e.g. once for all `n` images of a call); encoded here when absent. */
  encoded?: EncodedPrompts;
  timer?: StageTimer;
  /** Decode the final latents with this small decoder instead of the model's VAE (SD 1.x/2.x latents only): faster, approximate. */
  fastDecoder?: PreviewDecoder;
}

export interface PipelineOutput {
  /** Interleaved RGB bytes. */
  rgb: Uint8Array;
  width: number;
  height: number;
  /** The timesteps the denoiser saw. */
  timesteps: readonly number[];
  /** Things the caller should pass on as warnings (e.g. a VAE fallback). */
  notes: string[];
}

export async function textToImage(model: LoadedModel, options: TextToImageOptions): Promise<PipelineOutput> {
  const { prompt, negativePrompt, width, height, steps, guidance, sampler, seed, signal, onStep, onInitialLatents, controls = [], fastDecoder } = options;
  const timer = options.timer ?? new StageTimer();
  if (model.unet.inputChannels !== model.latentChannels) {
    throw new InvalidArgumentError({ argument: 'images', value: undefined, message: `${model.name} is an inpainting model (its UNet takes ${model.unet.inputChannels} channels): give an input image and a \`mask\`` });
  }
  if (fastDecoder) checkFastDecoder(model.modelFamily, model.name);
  checkControls(model, controls, { width, height });
  const encoded = options.encoded ?? (await encodePrompts(model, prompt, negativePrompt, guidance, timer));
  checkControls(model, controls, { width, height }, encoded.context.hiddenSize);

  // Prepare the scheduler and the initial noise: torch.randn from a CPU generator seeded with `seed`.
  // Flow-matching families start from plain torch.randn (init_noise_sigma 1); FLUX draws it planar too, and its denoiser packs it.
  const shape = { channels: model.latentChannels, height: height / model.vaeScaleFactor, width: width / model.vaeScaleFactor };
  const scheduler = createSampler(model, sampler);
  scheduler.setTimesteps(steps, model.modelFamily.scheduleOptions?.(shape));
  const generator = new TorchGenerator(seed);
  const latents = await timer.measure('samplerMath', () => {
    const noise = generator.randn([1, shape.channels, shape.height, shape.width]);
    const sigma = Math.fround(scheduler.initNoiseSigma);
    for (let i = 0; i < noise.length; i++) noise[i] = noise[i]! * sigma;
    return noise;
  });
  onInitialLatents?.(latents);

  // Denoise: one denoiser call per timestep (more for PNDM's warm-up), the scheduler's step in between.
  const timesteps = [...scheduler.timesteps];
  const conditioning = { ...denoiserConditioning(model, encoded, width, height), ...(controls.length > 0 ? { controls } : {}) };
  const final = await denoise(model, { scheduler, timesteps, latents, shape, conditioning, guidance, generator, timer, signal, onStep });

  // Decode: latents / scaling_factor (+ shift_factor) → VAE → [0,1] → bytes (or the fast decoder, when given).
  const notes: string[] = [];
  const decoded = await decodeToRgb(model, final, shape, timer, notes, fastDecoder);
  return { ...decoded, timesteps, notes };
}
