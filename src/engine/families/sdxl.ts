// SDXL (incl. SDXL-Turbo): two CLIPs side by side, pooled text embeddings and size conditioning into the UNet, its own VAE latent space.
import { join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { Denoiser } from '../denoisers/denoiser.js';
import { latentRgbFactors } from '../preview/latent-rgb.js';
import type { StageTimer } from '../runtime/stage-timer.js';
import { samplerNames } from '../schedulers/index.js';
import { ClipTextEncoder, type TextEmbeddings } from '../text-encoders/clip-text-encoder.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import type { EncodedPrompts, LoadedText, ModelFamily } from './family.js';
import { loadFirstClip, loadUnet, noisePredictionDefaults, predictionTypeOf, stableDiffusionFiles, unetSizeRule } from './sd15.js';

/** What SDXL needs besides the SD layout's files. */
export const sdxlFiles = ['tokenizer_2/vocab.json', 'tokenizer_2/merges.txt', 'text_encoder_2/model.onnx'] as const;

interface ClipPair {
  tokenizer: ClipTokenizer;
  encoder: ClipTextEncoder;
}

/**
 * Each tokenizer/encoder pair reads the same prompt; the context is both encoders' penultimate hidden
 * states side by side, the pooled embedding is the second encoder's projection. With no negative prompt
 * and `force_zeros_for_empty_prompt`, the unconditional embeddings are zeros, as diffusers makes them.
 */
async function encodePrompts(pairs: [ClipPair, ClipPair], forceZerosForEmptyPrompt: boolean, prompt: string, negativePrompt: string | undefined, guidance: number, timer: StageTimer): Promise<EncodedPrompts> {
  const useGuidance = guidance > 1;
  const zeroNegative = useGuidance && negativePrompt === undefined && forceZerosForEmptyPrompt;
  const encodeNegative = useGuidance && !zeroNegative;
  let truncated = { prompt: false, negativePrompt: false };
  const encoded = [];
  for (const { tokenizer, encoder } of pairs) {
    const positive = await timer.measure('tokenize', () => tokenizer.encode(prompt));
    const negative = encodeNegative ? await timer.measure('tokenize', () => tokenizer.encode(negativePrompt ?? '')) : undefined;
    truncated = { prompt: truncated.prompt || positive.truncated, negativePrompt: truncated.negativePrompt || (negative?.truncated ?? false) };
    encoded.push(await timer.measure('textEncoder', () => encoder.encodePenultimate(negative ? [negative.ids, positive.ids] : [positive.ids], timer.onRun)));
  }
  const [first, second] = encoded as [TextEmbeddings, TextEmbeddings & { pooled?: Float32Array }];
  const rows = useGuidance ? 2 : 1;
  const hiddenSize = first.hiddenSize + second.hiddenSize;
  const sequenceLength = first.sequenceLength;
  const hiddenStates = new Float32Array(rows * sequenceLength * hiddenSize);
  const pooledSize = second.pooled!.length / second.batch;
  const pooled = new Float32Array(rows * pooledSize);
  // With zeroed negative embeddings the encoders ran on the positive prompt alone; it fills the last row.
  const firstRow = rows - first.batch;
  for (let row = 0; row < first.batch; row++) {
    for (let token = 0; token < sequenceLength; token++) {
      const target = ((firstRow + row) * sequenceLength + token) * hiddenSize;
      hiddenStates.set(first.hiddenStates.subarray((row * sequenceLength + token) * first.hiddenSize, (row * sequenceLength + token + 1) * first.hiddenSize), target);
      hiddenStates.set(second.hiddenStates.subarray((row * sequenceLength + token) * second.hiddenSize, (row * sequenceLength + token + 1) * second.hiddenSize), target + first.hiddenSize);
    }
    pooled.set(second.pooled!.subarray(row * pooledSize, (row + 1) * pooledSize), (firstRow + row) * pooledSize);
  }
  return { context: { hiddenStates, batch: rows, sequenceLength, hiddenSize }, pooled: { data: pooled, size: pooledSize }, truncated };
}

export const sdxl: ModelFamily = {
  id: 'stable-diffusion-xl',
  displayName: 'SDXL',
  // A second text encoder beside a UNet is SDXL's mark when the pipeline class does not name it.
  detect: ({ modelIndex, has }) => String(modelIndex._class_name ?? '').includes('XL') || (has('text_encoder_2/model.onnx') && has('unet/model.onnx')),
  requiredFiles: stableDiffusionFiles,
  denoiserFolder: 'unet',
  editing: { imageToImage: true, inpainting: true, strengthRounding: 'steps-run' },
  classifierFreeGuidance: true,

  checkFolder({ folder, has }) {
    const missing = sdxlFiles.filter((file) => !has(file));
    if (missing.length > 0) {
      throw new InvalidModelError({ model: folder, file: missing[0], message: `SDXL model folder ${folder} is incomplete: missing ${missing.join(', ')} (an SDXL refiner, which has only the second text encoder, is not supported)` });
    }
  },

  async loadPromptEncoder(context): Promise<LoadedText> {
    const { folder, graphLevel, timed, sessions, modelIndex, openModel } = context;
    const { tokenizer, textEncoder } = await loadFirstClip(context);
    const tokenizer2 = await timed('tokenizer2', () => ClipTokenizer.fromFolder(join(folder, 'tokenizer_2')));
    const textEncoder2Model = await timed('textEncoder2', () => openModel('text_encoder_2/model.onnx', 'textEncoder2', graphLevel));
    sessions.push(textEncoder2Model);
    const pairs: [ClipPair, ClipPair] = [{ tokenizer, encoder: textEncoder }, { tokenizer: tokenizer2, encoder: new ClipTextEncoder(textEncoder2Model) }];
    const forceZeros = modelIndex.force_zeros_for_empty_prompt === true;
    return {
      tokenizer,
      textEncoder,
      prompts: {
        maxLength: tokenizer.maxLength,
        encode: (prompt, negativePrompt, guidance, timer) => encodePrompts(pairs, forceZeros, prompt, negativePrompt, guidance, timer),
      },
    };
  },

  async loadDenoiser(context, config): Promise<Denoiser> {
    const { unet, model } = await loadUnet(context, config);
    if (!(model.hasInput('text_embeds') && model.hasInput('time_ids'))) {
      throw new InvalidModelError({ model: context.folder, file: 'unet/model.onnx', message: `${context.folder}: an SDXL UNet must take text_embeds and time_ids inputs` });
    }
    return unet;
  },

  /** Pooled text embeddings and the size conditioning: original size, crop top-left, target size. */
  conditioning({ context, pooled }, { width, height }) {
    const timeIds = Array.from({ length: context.batch }, () => [height, width, 0, 0, height, width]).flat();
    return {
      context,
      added: {
        text_embeds: { data: pooled!.data, dims: [context.batch, pooled!.size] },
        time_ids: { data: timeIds, dims: [context.batch, 6] },
      },
    };
  },
  parameterisation: predictionTypeOf,

  latent: {
    channels: 4,
    scalingFactor: 0.13025,
    shiftFactor: 0,
    packing: 'none',
    // SDXL trained its own VAE: the SD 1.x preview decoder misreads its latents, so previews use the projection.
    preview: { rgbFactors: latentRgbFactors.sdxl, tinyDecoder: false },
  },

  sizeRule: (facts) => unetSizeRule(facts, 128),
  // diffusers' SDXL pipelines default to guidance 5.
  defaults: (schedulerConfig) => noisePredictionDefaults(schedulerConfig, 5),
  fallbackSampler: 'euler',
  samplers: samplerNames,
};
