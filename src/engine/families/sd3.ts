// Stable Diffusion 3 (StableDiffusion3Pipeline, diffusers 0.29.2): CLIP-L + CLIP-G + optional T5, the MM-DiT transformer, 16-channel latents.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { Denoiser } from '../denoisers/denoiser.js';
import { Sd3TransformerDenoiser } from '../denoisers/sd3-transformer.js';
import { latentRgbFactors } from '../preview/latent-rgb.js';
import type { StageTimer } from '../runtime/stage-timer.js';
import { flowMatchSamplerNames } from '../schedulers/index.js';
import { ClipTextEncoder } from '../text-encoders/clip-text-encoder.js';
import { T5TextEncoder } from '../text-encoders/t5-encoder.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { T5Tokenizer } from '../tokenizer/t5-tokenizer.js';
import type { EncodedPrompts, LoadedText, ModelFamily } from './family.js';
import { checkDenoiserInputs, configNumber, loadSession, pipelineClass, readModelJson } from './flow-model-parts.js';
import { loadFirstClip } from './sd15.js';

/** Files a text-to-image run needs; the T5 pair (text_encoder_3, tokenizer_3) is optional, as in diffusers. */
export const sd3Files = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer_2/vocab.json',
  'tokenizer_2/merges.txt',
  'text_encoder/model.onnx',
  'text_encoder_2/model.onnx',
  'transformer/model.onnx',
  'transformer/config.json',
  'vae_decoder/model.onnx',
  'vae_decoder/config.json',
] as const;

/** diffusers' `max_sequence_length` for SD3's T5. */
const t5Length = 256;
/** SD3's transformer patches 2×2 latent cells; configs state it, this is for the schedule, which sees only the latent. */
const defaultPatchSize = 2;

interface Sd3Text {
  clipL: { tokenizer: ClipTokenizer; encoder: ClipTextEncoder };
  clipG: { tokenizer: ClipTokenizer; encoder: ClipTextEncoder };
  t5?: { tokenizer: T5Tokenizer; encoder: T5TextEncoder };
  /** Width of the stand-in for T5's output when there is no T5 (the transformer's `joint_attention_dim`). */
  jointAttentionDim: number;
  folder: string;
}

/**
 * diffusers 0.29.2's `encode_prompt` for the given prompts (one row each): both CLIPs' penultimate
 * hidden states side by side, zero-padded to T5's width, then T5's output along the sequence
 * (zeros [77, joint_attention_dim] without text_encoder_3); pooled = both CLIPs' `text_embeds`.
 */
export async function encodeSd3Prompts(text: Sd3Text, prompts: readonly string[], timer: StageTimer): Promise<EncodedPrompts & { truncatedRows: boolean[] }> {
  const batch = prompts.length;
  const { clipL, clipG, t5, folder } = text;
  const truncatedRows = prompts.map(() => false);
  const tokenize = async <T extends { ids: number[]; truncated: boolean }>(encode: (prompt: string) => T) => {
    const rows = await timer.measure('tokenize', () => prompts.map(encode));
    rows.forEach((row, index) => { truncatedRows[index] ||= row.truncated; });
    return rows.map((row) => row.ids);
  };
  const clipLIds = await tokenize((prompt) => clipL.tokenizer.encode(prompt));
  const clipGIds = await tokenize((prompt) => clipG.tokenizer.encode(prompt));
  const first = await timer.measure('textEncoder', () => clipL.encoder.encodePenultimate(clipLIds, timer.onRun));
  const second = await timer.measure('textEncoder', () => clipG.encoder.encodePenultimate(clipGIds, timer.onRun));
  if (!first.pooled || !second.pooled) {
    throw new InvalidModelError({ model: folder, message: `${folder}: both CLIP text encoders must have a text_embeds output (CLIPTextModelWithProjection)` });
  }
  // With T5, a prompt counts as cut off when T5 cut it (CLIP's 77 tokens are the usual case and T5 reads on).
  if (t5) truncatedRows.fill(false);
  const t5Ids = t5 ? await tokenize((prompt) => t5.tokenizer.encode(prompt)) : undefined;
  const t5Output = t5 && t5Ids
    ? await timer.measure('textEncoder', () => t5.encoder.encode(t5Ids, timer.onRun))
    // diffusers 0.29.2 sizes the stand-in by the CLIP tokenizer's length, not max_sequence_length.
    : { hiddenStates: new Float32Array(batch * clipL.tokenizer.maxLength * text.jointAttentionDim), sequenceLength: clipL.tokenizer.maxLength, hiddenSize: text.jointAttentionDim };
  const clipWidth = first.hiddenSize + second.hiddenSize;
  if (clipWidth > t5Output.hiddenSize) {
    throw new InvalidModelError({ model: folder, message: `${folder}: the CLIP encoders' widths (${first.hiddenSize} + ${second.hiddenSize}) exceed T5's ${t5Output.hiddenSize}` });
  }
  const clipLength = first.sequenceLength;
  const sequenceLength = clipLength + t5Output.sequenceLength;
  const hiddenSize = t5Output.hiddenSize;
  const hiddenStates = new Float32Array(batch * sequenceLength * hiddenSize);
  for (let row = 0; row < batch; row++) {
    const rowStart = row * sequenceLength * hiddenSize;
    for (let token = 0; token < clipLength; token++) {
      const target = rowStart + token * hiddenSize;
      hiddenStates.set(first.hiddenStates.subarray((row * clipLength + token) * first.hiddenSize, (row * clipLength + token + 1) * first.hiddenSize), target);
      hiddenStates.set(second.hiddenStates.subarray((row * clipLength + token) * second.hiddenSize, (row * clipLength + token + 1) * second.hiddenSize), target + first.hiddenSize);
    }
    hiddenStates.set(t5Output.hiddenStates.subarray(row * t5Output.sequenceLength * hiddenSize, (row + 1) * t5Output.sequenceLength * hiddenSize), rowStart + clipLength * hiddenSize);
  }
  const pooledL = first.pooled.length / batch;
  const pooledG = second.pooled.length / batch;
  const pooled = new Float32Array(batch * (pooledL + pooledG));
  for (let row = 0; row < batch; row++) {
    pooled.set(first.pooled.subarray(row * pooledL, (row + 1) * pooledL), row * (pooledL + pooledG));
    pooled.set(second.pooled.subarray(row * pooledG, (row + 1) * pooledG), row * (pooledL + pooledG) + pooledL);
  }
  return {
    context: { hiddenStates, batch, sequenceLength, hiddenSize },
    pooled: { data: pooled, size: pooledL + pooledG },
    truncated: { prompt: truncatedRows[batch - 1]!, negativePrompt: batch > 1 && truncatedRows[0]! },
    truncatedRows,
  };
}

export const sd3: ModelFamily = {
  id: 'stable-diffusion-3',
  displayName: 'SD3',
  detect: ({ modelIndex }) => pipelineClass(modelIndex).startsWith('StableDiffusion3'),
  requiredFiles: sd3Files,
  denoiserFolder: 'transformer',
  // StableDiffusion3Img2ImgPipeline; SD3's inpaint pipeline is not ported.
  // Inpainting as StableDiffusion3InpaintPipeline (diffusers 0.30): a 16-channel transformer, the kept region blended
  // back after every step from the image latents scale_noise'd to the next timestep, SD's inpainting loop otherwise.
  editing: { imageToImage: true, inpainting: true, strengthRounding: 'steps-skipped' },
  classifierFreeGuidance: true,

  // SD3 runs without its T5 encoder (diffusers: text_encoder_3=None), so the pair is optional, but not half of it.
  checkFolder({ folder, has }) {
    const hasEncoder = has('text_encoder_3/model.onnx');
    const hasTokenizer = has('tokenizer_3/tokenizer.json');
    if (hasEncoder === hasTokenizer) return;
    throw new InvalidModelError({
      model: folder,
      file: hasEncoder ? 'tokenizer_3/tokenizer.json' : 'text_encoder_3/model.onnx',
      message: `${folder} has ${hasEncoder ? 'text_encoder_3 but no tokenizer_3/tokenizer.json' : 'tokenizer_3 but no text_encoder_3/model.onnx'}; give both or neither (SD3 runs without T5)`,
    });
  },

  async loadPromptEncoder(context): Promise<LoadedText> {
    const { folder, timed } = context;
    const transformerConfigPath = join(folder, 'transformer/config.json');
    const transformerConfig = await readModelJson(folder, 'transformer/config.json');
    const { tokenizer, textEncoder } = await loadFirstClip(context);
    const tokenizer2 = await timed('tokenizer2', () => ClipTokenizer.fromFolder(join(folder, 'tokenizer_2')));
    const textEncoder2 = new ClipTextEncoder(await loadSession(context, 'text_encoder_2', 'textEncoder2'));
    const hasT5 = existsSync(join(folder, 'text_encoder_3', 'model.onnx'));
    const t5 = hasT5
      ? {
          tokenizer: await timed('tokenizer3', () => T5Tokenizer.fromFolder(join(folder, 'tokenizer_3'), { maxLength: t5Length })),
          encoder: new T5TextEncoder(await loadSession(context, 'text_encoder_3', 'textEncoder3')),
        }
      : undefined;
    const text: Sd3Text = {
      clipL: { tokenizer, encoder: textEncoder },
      clipG: { tokenizer: tokenizer2, encoder: textEncoder2 },
      t5,
      jointAttentionDim: configNumber(transformerConfig, 'joint_attention_dim', undefined, transformerConfigPath),
      folder,
    };
    return {
      tokenizer,
      textEncoder,
      prompts: {
        maxLength: t5 ? t5Length : tokenizer.maxLength,
        // Guided: [negative, positive] in one batch, a missing negative prompt being '', as diffusers does.
        encode: (prompt, negativePrompt, guidance, timer) => encodeSd3Prompts(text, guidance > 1 ? [negativePrompt ?? '', prompt] : [prompt], timer),
      },
    };
  },

  async loadDenoiser(context, config): Promise<Denoiser> {
    const model = await loadSession(context, 'transformer', 'transformer');
    checkDenoiserInputs(context, model, 'SD3', ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep']);
    return new Sd3TransformerDenoiser(model, typeof config.in_channels === 'number' ? config.in_channels : 16);
  },

  conditioning: ({ context, pooled }) => ({
    context,
    added: { pooled_projections: { data: pooled!.data, dims: [context.batch, pooled!.size] } },
  }),
  // diffusers 0.29's schedule does not shift with the size; a config with use_dynamic_shifting reads the token count.
  scheduleOptions: ({ height, width }) => ({ imageSequenceLength: (height / defaultPatchSize) * (width / defaultPatchSize) }),
  parameterisation: () => 'flow',

  latent: {
    channels: 16,
    scalingFactor: 1.5305,
    shiftFactor: 0.0609,
    packing: 'none',
    preview: { rgbFactors: latentRgbFactors.sd3, tinyDecoder: false },
  },

  sizeRule({ denoiserConfig, vaeScaleFactor }) {
    const patch = typeof denoiserConfig.patch_size === 'number' ? denoiserConfig.patch_size : defaultPatchSize;
    const sampleSize = typeof denoiserConfig.sample_size === 'number' ? denoiserConfig.sample_size : 128;
    // The transformer crops a fixed grid of position embeddings; diffusers refuses larger images the same way.
    const maxGrid = denoiserConfig.pos_embed_max_size;
    return {
      multiple: vaeScaleFactor * patch,
      reason: `its VAE's ${vaeScaleFactor}× downsampling times the transformer's ${patch}×${patch} patches`,
      ...(typeof maxGrid === 'number' ? { largest: maxGrid * patch * vaeScaleFactor } : {}),
      defaultWidth: sampleSize * vaeScaleFactor,
      defaultHeight: sampleSize * vaeScaleFactor,
    };
  },
  // StableDiffusion3Pipeline's defaults.
  defaults: () => ({ steps: 28, guidance: 7 }),
  fallbackSampler: 'flowmatch_euler',
  samplers: flowMatchSamplerNames,
};
