// Text-to-image for SD 1.x/2.x: an explicit loop in diffusers' order, so the same seed gives the same image.
import { AbortedError } from '../../spec/errors/aborted-error.js';
import type { StableDiffusionModel } from '../families/stable-diffusion.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { createScheduler, type SamplerName } from '../schedulers/index.js';
import { TorchGenerator } from '../tensor/torch-random.js';
import type { TextEmbeddings } from '../text-encoders/clip-text-encoder.js';
import { toRgbBytes } from '../vae/vae-decoder.js';

export interface TextToImageOptions {
  prompt: string;
  negativePrompt: string;
  width: number;
  height: number;
  steps: number;
  guidance: number;
  sampler: SamplerName;
  seed: bigint;
  signal?: AbortSignal;
  /** Called after each step with the latents the scheduler returned. */
  onStep?: (step: number, steps: number, latents: Float32Array) => void;
  /** Receives the initial latents (after init_noise_sigma), as diffusers' prepare_latents returns them. */
  onInitialLatents?: (latents: Float32Array) => void;
  /** The prompts already encoded (e.g. once for all `n` images of a call); encoded here when absent. */
  encoded?: EncodedPrompts;
  timer?: StageTimer;
}

export interface EncodedPrompts {
  /** [negative, positive] hidden states with guidance, [positive] without. */
  context: TextEmbeddings;
  /** Which prompts lost tokens to the 77-token limit (the negative one only counts when it is used). */
  truncated: { prompt: boolean; negativePrompt: boolean };
}

export interface TextToImageOutput {
  /** Interleaved RGB bytes. */
  rgb: Uint8Array;
  width: number;
  height: number;
  /** The timesteps the UNet saw. */
  timesteps: readonly number[];
}

/** Encodes the prompt: [negative, positive] in one text-encoder run when guidance is on (> 1), else the positive alone. */
export async function encodePrompts(model: StableDiffusionModel, prompt: string, negativePrompt: string, guidance: number, timer = new StageTimer()): Promise<EncodedPrompts> {
  const useGuidance = guidance > 1;
  const positive = await timer.measure('tokenize', () => model.tokenizer.encode(prompt));
  const negative = useGuidance ? await timer.measure('tokenize', () => model.tokenizer.encode(negativePrompt)) : undefined;
  const context = await timer.measure('textEncoder', () => model.textEncoder.encode(negative ? [negative.ids, positive.ids] : [positive.ids], timer.onRun));
  return { context, truncated: { prompt: positive.truncated, negativePrompt: negative?.truncated ?? false } };
}

export async function textToImage(model: StableDiffusionModel, options: TextToImageOptions): Promise<TextToImageOutput> {
  const { prompt, negativePrompt, width, height, steps, guidance, sampler, seed, signal, onStep, onInitialLatents } = options;
  const timer = options.timer ?? new StageTimer();
  const { context } = options.encoded ?? (await encodePrompts(model, prompt, negativePrompt, guidance, timer));

  // Prepare the scheduler and the initial noise: torch.randn from a CPU generator seeded with `seed`.
  const scheduler = createScheduler(sampler, model.schedulerConfig);
  scheduler.setTimesteps(steps);
  const shape = { channels: model.latentChannels, height: height / model.vaeScaleFactor, width: width / model.vaeScaleFactor };
  const latentDims = [1, shape.channels, shape.height, shape.width];
  const generator = new TorchGenerator(seed);
  let latents = await timer.measure('samplerMath', () => {
    const noise = generator.randn(latentDims);
    const sigma = Math.fround(scheduler.initNoiseSigma);
    for (let i = 0; i < noise.length; i++) noise[i] = noise[i]! * sigma;
    return noise;
  });
  onInitialLatents?.(latents);

  // Denoise: one UNet call per timestep (more for PNDM's warm-up), the scheduler's step in between.
  const timesteps = [...scheduler.timesteps];
  for (let index = 0; index < timesteps.length; index++) {
    if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
    const timestep = timesteps[index]!;
    const modelInput = await timer.measure('samplerMath', () => scheduler.scaleModelInput(latents, timestep));
    const prediction = await timer.measure('denoise', () => model.unet.predict(modelInput, shape, timestep, context, guidance, timer.onRun));
    latents = await timer.measure('samplerMath', () => scheduler.step(prediction, timestep, latents, () => generator.randn(latentDims)).prevSample);
    onStep?.(index + 1, timesteps.length, latents);
  }

  // Decode: latents / scaling_factor → VAE → [0,1] → bytes.
  const decoded = await timer.measure('vae', () => model.vaeDecoder.decode(latents, shape, timer.onRun));
  const rgb = await timer.measure('toBytes', () => toRgbBytes(decoded));
  return { rgb, width: decoded.width, height: decoded.height, timesteps };
}
