// What a model family is (SD 1.x/2.x, SDXL, SD3, FLUX.1): the one place pipelines and the local provider ask instead of testing for one.
import type { Denoiser, DenoiserConditioning, LatentShape } from '../denoisers/denoiser.js';
import type { Parameterisation } from '../denoisers/parameterisation.js';
import type { LatentRgbFactors } from '../preview/latent-rgb.js';
import type { OnnxModel, OptimizationLevel, RuntimeOptions } from '../runtime/onnx-model.js';
import type { StageTimer } from '../runtime/stage-timer.js';
import type { SamplerName, ScheduleOptions, SchedulerConfig } from '../schedulers/index.js';
import type { ClipTextEncoder, TextEmbeddings } from '../text-encoders/clip-text-encoder.js';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';

/** What detection sees of a model folder, read once by the loader. */
export interface FolderFacts {
  folder: string;
  /** The folder's `model_index.json` (diffusers' pipeline class and parts). */
  modelIndex: Record<string, unknown>;
  /** Whether a file exists, relative to the folder. */
  has(file: string): boolean;
}

/** The prompts as the denoiser takes them; what a family's prompt encoder returns. */
export interface EncodedPrompts {
  /** [negative, positive] hidden states with guidance, [positive] without. */
  context: TextEmbeddings;
  /** Pooled embeddings (SDXL's second CLIP; SD3's two CLIPs; FLUX's CLIP), rows as in `context` ([batch, size] flattened). */
  pooled?: { data: Float32Array; size: number };
  /** Which prompts lost tokens to the token limit (the negative one only counts when it is used). */
  truncated: { prompt: boolean; negativePrompt: boolean };
}

/** The loaded text side of a model: it owns its tokenizers and encoders, however many the family has. */
export interface PromptEncoder {
  /** Tokens a prompt may have before the rest is cut off (warnings name it). */
  readonly maxLength: number;
  /**
   * [negative, positive] when guidance is on (> 1), else the positive alone. `negativePrompt` undefined
   * means none was given, which a family may treat differently from '' (SDXL's zero embeddings).
   */
  encode(prompt: string, negativePrompt: string | undefined, guidance: number, timer: StageTimer): Promise<EncodedPrompts>;
}

/** The latent space the denoiser works in and the VAE decodes from. */
export interface LatentFormat {
  /** Channels of the VAE latent (4 for SD and SDXL, 16 for SD3 and FLUX). */
  channels: number;
  /** The VAE's `scaling_factor` when its config does not state one. */
  scalingFactor: number;
  /** The VAE's `shift_factor` (SD3, FLUX): latents are (z − shift) · scale; 0 where there is none. */
  shiftFactor: number;
  /**
   * How the denoiser takes latents: as planes, or FLUX's 2×2 patches packed into tokens. Pipelines,
   * samplers, previews and the VAE always see planar [1, C, h, w]; a packing denoiser packs and unpacks itself.
   */
  packing: 'none' | 'patches-2x2';
  /** Step previews: the linear latent→RGB projection, and whether the tiny SD 1.x decoder (previews, `decoder: 'fast'`) reads these latents. */
  preview: { rgbFactors: LatentRgbFactors; tinyDecoder: boolean };
}

/** What a family's loader hook gets: the folder, runtime settings and the shared session bookkeeping. */
export interface LoadContext {
  folder: string;
  /** The folder's `model_index.json`. */
  modelIndex: Record<string, unknown>;
  runtime: RuntimeOptions;
  graphLevel: OptimizationLevel;
  /** Times a load under `name` in the model's load timings. */
  timed<T>(name: string, load: () => Promise<T>): Promise<T>;
  /** Every session loaded is pushed here, for release. */
  sessions: OnnxModel[];
  /**
   * Opens a model file of the folder (`unet/model.onnx`): from disk, or from patched bytes when LoRAs
   * change that component. Families load the parts LoRAs can patch through it.
   */
  openModel(file: string, name: string, level: OptimizationLevel): Promise<OnnxModel>;
}

/** The edits a family runs, following its diffusers img2img and inpaint pipelines. */
export interface EditingSupport {
  /** Whether image-to-image runs (SD, SDXL, SD3, FLUX.1). */
  imageToImage: boolean;
  /** Whether inpainting and outpainting run (SD, SDXL and SD3). */
  inpainting: boolean;
  /**
   * How `get_timesteps` turns strength into a start: `steps-run` keeps ⌊steps·strength⌋ steps (SD and SDXL
   * pipelines), `steps-skipped` skips ⌊steps − steps·strength⌋ (SD3's and FLUX's, which floor after subtracting).
   */
  strengthRounding: StrengthRounding;
}

/** See EditingSupport.strengthRounding. */
export type StrengthRounding = 'steps-run' | 'steps-skipped';

/** The denoiser's and VAE's configs, as the size rule needs them. */
export interface SizeFacts {
  /** The denoiser's `config.json` (UNet or transformer); empty when absent. */
  denoiserConfig: Record<string, unknown>;
  /** Pixels per latent cell. */
  vaeScaleFactor: number;
}

/** What width and height must be, for one model. */
export interface SizeRule {
  /** Width and height must be multiples of this. */
  multiple: number;
  /** Why, for messages: e.g. `its VAE and UNet downsampling`. */
  reason: string;
  /** The largest width or height the denoiser takes, where it has one (SD3's `pos_embed_max_size`). */
  largest?: number;
  defaultWidth: number;
  defaultHeight: number;
}

/** The image a denoiser's conditioning is built for. */
export interface ConditioningSize {
  width: number;
  height: number;
  /** Pixels per latent cell. */
  vaeScaleFactor: number;
}

export interface ModelFamily {
  /** The name records carry as `model.family`, e.g. `stable-diffusion-xl`. */
  readonly id: string;
  /** The family's name in messages, e.g. `SDXL`. */
  readonly displayName: string;
  /** Whether the folder holds this family's pipeline; the registry asks the most specific family first. */
  detect(folder: FolderFacts): boolean;
  /** Files a text-to-image run cannot do without, relative to the folder. */
  readonly requiredFiles: readonly string[];
  /** The denoiser's folder (`unet` or `transformer`): its config, and the weights records are hashed by. */
  readonly denoiserFolder: string;
  /** Which edits run on this family, and how their strength cuts the schedule. */
  readonly editing: EditingSupport;
  /** Whether guidance above 1 means classifier-free guidance (a negative prompt, the denoiser at batch 2); FLUX.1 takes guidance as an input instead. */
  readonly classifierFreeGuidance: boolean;
  /** Further checks of a folder detected as this family, throwing InvalidModelError with the family's own advice. */
  checkFolder?(folder: FolderFacts): void;
  /** The tokenizers and text encoders, loaded; the first CLIP pair is returned too, for callers that tokenize directly. */
  loadPromptEncoder(context: LoadContext): Promise<LoadedText>;
  /** The denoiser, loaded and checked against what this family feeds it. */
  loadDenoiser(context: LoadContext, config: Record<string, unknown>): Promise<Denoiser>;
  /** The denoiser's inputs besides the latent, for an image of `width` × `height`. */
  conditioning(encoded: EncodedPrompts, size: ConditioningSize): DenoiserConditioning;
  /** What the schedule depends on besides the step count, for this latent (FLUX: its token count, for the dynamic shift). */
  scheduleOptions?(latent: LatentShape): ScheduleOptions;
  /** What the denoiser's output means, from the scheduler config the folder ships. */
  parameterisation(schedulerConfig: SchedulerConfig): Parameterisation;
  readonly latent: LatentFormat;
  /** What width and height must be multiples of (and at most), and the default size. */
  sizeRule(facts: SizeFacts): SizeRule;
  /** Steps and guidance when a call gives none. */
  defaults(schedulerConfig: SchedulerConfig): { steps: number; guidance: number };
  /** The sampler when a call names none and the folder's scheduler class maps to none. */
  readonly fallbackSampler: SamplerName;
  /** The samplers that make sense for this family's parameterisation, in the order users see them. */
  readonly samplers: readonly SamplerName[];
}

/** What `loadPromptEncoder` returns. */
export interface LoadedText {
  prompts: PromptEncoder;
  /** The first text encoder and its tokenizer (a CLIP in every family here: SD3's CLIP-L, FLUX's CLIP). */
  tokenizer: ClipTokenizer;
  textEncoder: ClipTextEncoder;
}
