// FLUX.1 (FluxPipeline, diffusers 0.30.3): CLIP pooled + T5, a transformer on 2×2-packed 16-channel latents, guidance as an input.
import { join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { Denoiser } from '../denoisers/denoiser.js';
import { FluxTransformerDenoiser } from '../denoisers/flux-transformer.js';
import { packSize } from '../denoisers/latent-packing.js';
import { latentRgbFactors } from '../preview/latent-rgb.js';
import type { OnnxModel } from '../runtime/onnx-model.js';
import type { StageTimer } from '../runtime/stage-timer.js';
import { flowMatchSamplerNames } from '../schedulers/index.js';
import { ClipTextEncoder } from '../text-encoders/clip-text-encoder.js';
import { T5TextEncoder } from '../text-encoders/t5-encoder.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { T5Tokenizer } from '../tokenizer/t5-tokenizer.js';
import type { EncodedPrompts, LoadedText, ModelFamily } from './family.js';
import { checkDenoiserInputs, loadSession, pipelineClass } from './flow-model-parts.js';

/** Files a text-to-image run needs. */
export const fluxFiles = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer_2/tokenizer.json',
  'text_encoder/model.onnx',
  'text_encoder_2/model.onnx',
  'transformer/model.onnx',
  'vae_decoder/model.onnx',
  'vae_decoder/config.json',
] as const;

/** FluxPipeline's default `max_sequence_length` (the FLUX.1-schnell examples pass 256; 512 works for both). */
const t5Length = 512;

interface FluxText {
  clip: { tokenizer: ClipTokenizer; model: OnnxModel };
  t5: { tokenizer: T5Tokenizer; encoder: T5TextEncoder };
}

/** diffusers 0.30.3's `encode_prompt`: T5's hidden states are the context, CLIP's `pooler_output` the pooled projection; one row per prompt. */
export async function encodeFluxPrompts(text: FluxText, prompts: readonly string[], timer: StageTimer): Promise<EncodedPrompts> {
  const batch = prompts.length;
  const clipIds = await timer.measure('tokenize', () => prompts.map((prompt) => text.clip.tokenizer.encode(prompt).ids));
  const clipOutputs = await timer.measure('textEncoder', () => text.clip.model.run({ input_ids: { data: clipIds.flat(), dims: [batch, clipIds[0]!.length] } }, timer.onRun));
  const pooled = clipOutputs.pooler_output!;
  const t5Tokens = await timer.measure('tokenize', () => prompts.map((prompt) => text.t5.tokenizer.encode(prompt)));
  const t5 = await timer.measure('textEncoder', () => text.t5.encoder.encode(t5Tokens.map((tokens) => tokens.ids), timer.onRun));
  return {
    context: { hiddenStates: t5.hiddenStates, batch, sequenceLength: t5.sequenceLength, hiddenSize: t5.hiddenSize },
    pooled: { data: pooled, size: pooled.length / batch },
    truncated: { prompt: t5Tokens.some((tokens) => tokens.truncated), negativePrompt: false },
  };
}

/** diffusers' `_prepare_latent_image_ids`: (0, row, column) per packed token, row-major. */
function imageIds(rows: number, columns: number): number[] {
  const ids: number[] = [];
  for (let row = 0; row < rows; row++) for (let column = 0; column < columns; column++) ids.push(0, row, column);
  return ids;
}

export const flux: ModelFamily = {
  id: 'flux',
  displayName: 'FLUX.1',
  detect: ({ modelIndex }) => pipelineClass(modelIndex).startsWith('Flux'),
  requiredFiles: fluxFiles,
  denoiserFolder: 'transformer',
  // FluxImg2ImgPipeline: the posterior sample, then noise of the unpacked latent's shape, scale_noise at the first kept
  // timestep (packed inside the denoiser), and get_timesteps' int(steps − steps·strength) skipped. FluxInpaintPipeline is not ported.
  editing: { imageToImage: true, inpainting: false, strengthRounding: 'steps-skipped' },
  // FLUX.1 is guidance-distilled: guidance is a transformer input, there is no negative prompt and no batch of two.
  classifierFreeGuidance: false,

  async loadPromptEncoder(context): Promise<LoadedText> {
    const { folder, timed } = context;
    const tokenizer = await timed('tokenizer', () => ClipTokenizer.fromFolder(join(folder, 'tokenizer')));
    const clip = await loadSession(context, 'text_encoder', 'textEncoder');
    if (!clip.outputs.has('pooler_output')) {
      throw new InvalidModelError({ model: folder, file: 'text_encoder/model.onnx', message: `${clip.path} has no pooler_output output; FLUX conditions on CLIPTextModel's pooled output` });
    }
    const t5Tokenizer = await timed('tokenizer2', () => T5Tokenizer.fromFolder(join(folder, 'tokenizer_2'), { maxLength: t5Length }));
    const text: FluxText = { clip: { tokenizer, model: clip }, t5: { tokenizer: t5Tokenizer, encoder: new T5TextEncoder(await loadSession(context, 'text_encoder_2', 'textEncoder2')) } };
    return {
      tokenizer,
      textEncoder: new ClipTextEncoder(clip),
      prompts: {
        maxLength: t5Length,
        // The negative prompt and guidance do not change the prompt encoding (the provider warns about a negative prompt).
        encode: (prompt, _negativePrompt, _guidance, timer) => encodeFluxPrompts(text, [prompt], timer),
      },
    };
  },

  async loadDenoiser(context, config): Promise<Denoiser> {
    const model = await loadSession(context, 'transformer', 'transformer');
    checkDenoiserInputs(context, model, 'FLUX', ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep', 'txt_ids', 'img_ids']);
    const packedChannels = typeof config.in_channels === 'number' ? config.in_channels : 64;
    return new FluxTransformerDenoiser(model, packedChannels / (packSize * packSize));
  },

  /** Text tokens sit at position (0, 0, 0); image tokens at (0, row, column) of the packed grid. */
  conditioning({ context, pooled }, { width, height, vaeScaleFactor }) {
    const rows = height / vaeScaleFactor / packSize;
    const columns = width / vaeScaleFactor / packSize;
    return {
      context,
      added: {
        pooled_projections: { data: pooled!.data, dims: [context.batch, pooled!.size] },
        txt_ids: { data: new Array<number>(context.sequenceLength * 3).fill(0), dims: [context.sequenceLength, 3] },
        img_ids: { data: imageIds(rows, columns), dims: [rows * columns, 3] },
      },
    };
  },
  // The shift grows with the packed token count (use_dynamic_shifting).
  scheduleOptions: ({ height, width }) => ({ imageSequenceLength: (height / packSize) * (width / packSize) }),
  parameterisation: () => 'flow',

  latent: {
    channels: 16,
    scalingFactor: 0.3611,
    shiftFactor: 0.1159,
    packing: 'patches-2x2',
    preview: { rgbFactors: latentRgbFactors.flux, tinyDecoder: false },
  },

  // FluxPipeline's default_sample_size (128 latent cells); transformer configs state none.
  sizeRule: ({ vaeScaleFactor }) => ({
    multiple: vaeScaleFactor * packSize,
    reason: `its VAE's ${vaeScaleFactor}× downsampling times FLUX's packing of 2×2 latent cells into one token`,
    defaultWidth: 128 * vaeScaleFactor,
    defaultHeight: 128 * vaeScaleFactor,
  }),
  /**
   * FluxPipeline's defaults (28 steps, guidance 3.5) for FLUX.1-dev. FLUX.1-schnell ships a scheduler
   * config without `use_dynamic_shifting` (and a transformer without a guidance input): 4 steps, guidance 0.
   */
  defaults: (schedulerConfig) => (schedulerConfig.use_dynamic_shifting === true ? { steps: 28, guidance: 3.5 } : { steps: 4, guidance: 0 }),
  fallbackSampler: 'flowmatch_euler',
  samplers: flowMatchSamplerNames,
};
