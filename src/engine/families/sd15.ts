// SD 1.x / 2.x (incl. SD-Turbo, 9-channel inpainting UNets and Optimum's legacy I/O): one CLIP, a UNet, 4-channel latents.
import { join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { Denoiser } from '../denoisers/denoiser.js';
import type { Parameterisation } from '../denoisers/parameterisation.js';
import { UNetDenoiser } from '../denoisers/unet.js';
import { residualLayout } from '../controlnet/control-conditioning.js';
import { latentRgbFactors } from '../preview/latent-rgb.js';
import type { OnnxModel } from '../runtime/onnx-model.js';
import type { StageTimer } from '../runtime/stage-timer.js';
import { samplerNames, type SchedulerConfig } from '../schedulers/index.js';
import { ClipTextEncoder } from '../text-encoders/clip-text-encoder.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import type { EncodedPrompts, LoadContext, LoadedText, ModelFamily, SizeFacts, SizeRule } from './family.js';

/** Files every SD-layout folder (SD 1.x/2.x and SDXL) needs for text-to-image, relative to the folder. */
export const stableDiffusionFiles = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'text_encoder/model.onnx',
  'unet/model.onnx',
  'vae_decoder/model.onnx',
] as const;

/** The first CLIP pair, which SD and SDXL load alike (SD3 and FLUX have one too). */
export async function loadFirstClip(context: LoadContext): Promise<{ tokenizer: ClipTokenizer; textEncoder: ClipTextEncoder }> {
  const { folder, graphLevel, timed, sessions, openModel } = context;
  const tokenizer = await timed('tokenizer', () => ClipTokenizer.fromFolder(join(folder, 'tokenizer')));
  const model = await timed('textEncoder', () => openModel('text_encoder/model.onnx', 'textEncoder', graphLevel));
  sessions.push(model);
  return { tokenizer, textEncoder: new ClipTextEncoder(model) };
}

/** Loads `unet/model.onnx`, which must take a 4-channel latent, or 9 channels for inpainting (latent, mask, masked-image latents). */
export async function loadUnet(context: LoadContext, config: Record<string, unknown>): Promise<{ unet: UNetDenoiser; model: OnnxModel }> {
  const { folder, graphLevel, timed, sessions, openModel } = context;
  const model = await timed('unet', () => openModel('unet/model.onnx', 'unet', graphLevel));
  sessions.push(model);
  const channelsDim = model.input('sample').shape[1];
  const channels = typeof channelsDim === 'number' ? channelsDim : Number(config.in_channels ?? 4);
  if (channels !== 4 && channels !== 9) {
    throw new InvalidModelError({ model: folder, file: 'unet/model.onnx', message: `${folder}: the UNet takes ${channels} input channels; pixelpipe runs 4-channel UNets and 9-channel inpainting UNets` });
  }
  // A UNet exported for ControlNets takes their residuals as inputs (zeros when none runs).
  return { unet: new UNetDenoiser(model, channels, residualLayout(model, config, folder)), model };
}

/** The UNet's size rule: the VAE scale times its downsampling (2^(blocks − 1)); the default side is its `sample_size` in latent cells. */
export function unetSizeRule({ denoiserConfig, vaeScaleFactor }: SizeFacts, defaultSampleSize: number): SizeRule {
  // ONNX exports trace the UNet's upsampling as a fixed ×2, so a latent the down blocks cannot halve evenly
  // fails inside the graph (PyTorch works around that; the export does not): hence the whole downsampling.
  const blocks = Array.isArray(denoiserConfig.block_out_channels) ? denoiserConfig.block_out_channels.length : 4;
  const sampleSize = typeof denoiserConfig.sample_size === 'number' ? denoiserConfig.sample_size : defaultSampleSize;
  return { multiple: vaeScaleFactor * 2 ** (blocks - 1), reason: 'its VAE and UNet downsampling', defaultWidth: sampleSize * vaeScaleFactor, defaultHeight: sampleSize * vaeScaleFactor };
}

/** SD and SDXL defaults: Turbo-style (trailing) schedules get 1 step and no guidance; others 25 steps at the family's guidance. */
export function noisePredictionDefaults(schedulerConfig: SchedulerConfig, guidance: number): { steps: number; guidance: number } {
  if (schedulerConfig.timestep_spacing === 'trailing') return { steps: 1, guidance: 0 };
  return { steps: 25, guidance };
}

/**
 * The scheduler config's `prediction_type`, ε when absent. Any other value is passed on as it is, so the
 * scheduler refuses it with the list of the ones it knows, as it always has.
 */
export function predictionTypeOf(schedulerConfig: SchedulerConfig): Parameterisation {
  return (schedulerConfig.prediction_type ?? 'epsilon') as Parameterisation;
}

/** One CLIP reads each prompt; a missing negative prompt is ''. Both run in one text-encoder call when guidance is on. */
async function encodePrompts(tokenizer: ClipTokenizer, textEncoder: ClipTextEncoder, prompt: string, negativePrompt: string, guidance: number, timer: StageTimer): Promise<EncodedPrompts> {
  const useGuidance = guidance > 1;
  const positive = await timer.measure('tokenize', () => tokenizer.encode(prompt));
  const negative = useGuidance ? await timer.measure('tokenize', () => tokenizer.encode(negativePrompt)) : undefined;
  const context = await timer.measure('textEncoder', () => textEncoder.encode(negative ? [negative.ids, positive.ids] : [positive.ids], timer.onRun));
  return { context, truncated: { prompt: positive.truncated, negativePrompt: negative?.truncated ?? false } };
}

export const sd15: ModelFamily = {
  id: 'stable-diffusion',
  displayName: 'SD 1.x/2.x',
  // The layout every other family here extends, so it is asked last and takes whatever the others do not claim.
  detect: () => true,
  requiredFiles: stableDiffusionFiles,
  denoiserFolder: 'unet',
  editing: { imageToImage: true, inpainting: true, strengthRounding: 'steps-run' },
  classifierFreeGuidance: true,

  async loadPromptEncoder(context): Promise<LoadedText> {
    const { tokenizer, textEncoder } = await loadFirstClip(context);
    return {
      tokenizer,
      textEncoder,
      prompts: {
        maxLength: tokenizer.maxLength,
        encode: (prompt, negativePrompt, guidance, timer) => encodePrompts(tokenizer, textEncoder, prompt, negativePrompt ?? '', guidance, timer),
      },
    };
  },

  async loadDenoiser(context, config): Promise<Denoiser> {
    return (await loadUnet(context, config)).unet;
  },

  conditioning: ({ context }) => ({ context }),
  parameterisation: predictionTypeOf,

  latent: {
    channels: 4,
    scalingFactor: 0.18215,
    shiftFactor: 0,
    packing: 'none',
    // SD 1.x and 2.x share one VAE, hence one latent space, the one the tiny preview decoder was trained on.
    preview: { rgbFactors: latentRgbFactors.sd1, tinyDecoder: true },
  },

  sizeRule: (facts) => unetSizeRule(facts, 64),
  defaults: (schedulerConfig) => noisePredictionDefaults(schedulerConfig, 7.5),
  fallbackSampler: 'euler',
  samplers: samplerNames,
};
