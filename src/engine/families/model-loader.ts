// Loads a model folder in Optimum's ONNX layout as its family describes it: the parts, configs and defaults every pipeline reads.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { Denoiser } from '../denoisers/denoiser.js';
import { OnnxModel, type OptimizationLevel, type RuntimeOptions } from '../runtime/onnx-model.js';
import { folderModelFiles, hashFiles, type WeightHashCache } from '../runtime/weight-hash.js';
import type { SchedulerConfig } from '../schedulers/index.js';
import type { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import type { ClipTextEncoder } from '../text-encoders/clip-text-encoder.js';
import { VaeDecoder } from '../vae/vae-decoder.js';
import { VaeEncoder } from '../vae/vae-encoder.js';
import { resolveVaeTiling, type VaeTiling } from '../vae/vae-tiling.js';
import type { LoadContext, LoadedText, ModelFamily, PromptEncoder } from './family.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { LoraComponent } from '../lora/lora-file.js';
import { LoraWeights, type AppliedLora, type LoraPlan, type LoraRequest } from '../lora/lora-weights.js';
import { detectFamily, folderFacts } from './index.js';

/** A loaded model: its family, its sessions, and the settings read from its configs. */
export interface LoadedModel {
  folder: string;
  /** Folder name, used as the model's id when none is given. */
  name: string;
  /**
   * sha256 of the denoiser's weights (`unet/` or `transformer/`: model.onnx and its external data), the
   * part that makes the image. Read alongside the load and the first image (a 3.3 GB UNet takes ~10 s
   * to hash the first time), so await it only when recording.
   */
  unetHash: Promise<string>;
  /** The family's id, as records name it (`stable-diffusion`, `stable-diffusion-xl`, `stable-diffusion-3`, `flux`). */
  family: string;
  /** The family module: what pipelines ask about prompts, conditioning, latents and defaults. */
  modelFamily: ModelFamily;
  /** The first tokenizer and text encoder (a CLIP in every family); `prompts` encodes with all of them. */
  tokenizer: ClipTokenizer;
  textEncoder: ClipTextEncoder;
  /** Encodes prompts with every text encoder the family has, into the conditioning its denoiser takes. */
  prompts: PromptEncoder;
  /** The denoiser (the UNet for SD 1.x/2.x and SDXL, the transformer for SD3 and FLUX.1). */
  unet: Denoiser;
  vaeDecoder: VaeDecoder;
  /** A replacement decoder for when the model's own returns non-finite values (fp16 SDXL VAEs overflow); loaded on first use. */
  fallbackVaeDecoder?: () => Promise<VaeDecoder>;
  /** The VAE encoder, loaded on first use: only image-to-image and inpainting need it. */
  vaeEncoder: () => Promise<VaeEncoder>;
  /** `force_zeros_for_empty_prompt` (SDXL): with no negative prompt the unconditional embeddings are zeros. */
  forceZerosForEmptyPrompt: boolean;
  /** The scheduler class the folder names, e.g. `EulerDiscreteScheduler`, and its config. */
  schedulerClass: string;
  schedulerConfig: SchedulerConfig;
  /** Channels of the latent (4 for SD and SDXL, 16 for SD3 and FLUX); the UNet may take more (`unet.inputChannels`, 9 for inpainting). */
  latentChannels: number;
  /** Pixels per latent cell: 2^(VAE blocks − 1), 8 for every SD VAE. */
  vaeScaleFactor: number;
  /** When the VAE decodes and encodes in tiles (undefined: never); `vaeTilePlan` says what it does for a size. */
  vaeTiling?: VaeTiling;
  /** What width and height must be multiples of (the family's size rule: 64 for SD and SDXL, 16 for SD3 and FLUX). */
  sizeMultiple: number;
  /** Why, for messages. */
  sizeReason: string;
  /** The largest width or height the denoiser takes, where it has one. */
  largestSide?: number;
  defaultWidth: number;
  defaultHeight: number;
  /** Every ONNX session, for release and for load-time reporting. */
  sessions: OnnxModel[];
  /** Milliseconds spent creating sessions, per part. */
  loadTimings: Record<string, number>;
  /** The LoRAs merged into the text encoder(s) and UNet, in the order given; empty without. */
  loras: AppliedLora[];
  /** LoRA keys that matched no weight (count and names), for each call's warnings. */
  loraWarnings: string[];
}

async function readJson(folder: string, file: string): Promise<Record<string, unknown>> {
  const path = join(folder, file);
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidModelError({ model: folder, file, message: `${path} is not valid JSON: ${(error as Error).message}`, cause: error });
  }
}

/** Throws naming the first missing file, so a partial download is obvious; returns the folder's family. */
export function checkModelFolder(folder: string): ModelFamily {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new InvalidModelError({ model: folder, message: `model folder ${folder} does not exist; pass a folder in Optimum's ONNX layout or a Hugging Face repo id` });
  }
  const facts = folderFacts(folder);
  const family = detectFamily(facts);
  const missing = family.requiredFiles.filter((file) => !facts.has(file));
  if (missing.length > 0) {
    throw new InvalidModelError({
      model: folder,
      file: missing[0],
      message: `model folder ${folder} is incomplete: missing ${missing.join(', ')} (expected Optimum's ONNX layout; re-run \`pixelpipe models pull\` if it was downloaded)`,
    });
  }
  family.checkFolder?.(facts);
  return family;
}

export type { WeightHashCache } from '../runtime/weight-hash.js';

/**
 * sha256 over the denoiser's graph and its external data files (`unet/`, or `transformer/` for SD3 and
 * FLUX), streamed (multi-GB files): what records and build keys name the weights by.
 */
export function hashUnet(folder: string, cache?: WeightHashCache): Promise<string> {
  return hashFiles(folderModelFiles(join(folder, detectFamily(folderFacts(folder)).denoiserFolder)), cache);
}

export interface LoadOptions extends RuntimeOptions {
  /** Where UNet hashes are remembered between processes; without it the UNet is hashed at every load. */
  hashCache?: WeightHashCache;
  /** Graph optimisation level of the text encoder and UNet (default `all` with a graph cache, else `extended`; see OptimizationLevel). */
  graphLevel?: OptimizationLevel;
  /** A VAE decoder used when the model's own returns non-finite values (fp16 SDXL VAEs): a model.onnx or a folder holding one. */
  vaeDecoderFallback?: string;
  /** Decode and encode images above `minPixels` in tiles, as diffusers' `enable_vae_tiling()` (default: tiles of the VAE config's `sample_size`, else 512 px, above 1024²); `false` never tiles. */
  vaeTiling?: Partial<VaeTiling> | false;
  /**
   * Sequential offload: the text encoders are loaded for each prompt encoding and released before the
   * denoiser runs, so they and the denoiser are never in memory together (FLUX.1's fp16 T5-XXL is ~9.5 GB
   * beside a ~24 GB transformer). Each call then pays the text encoders' load.
   */
  offloadTextEncoders?: boolean;
  /** LoRAs merged into the UNet and text encoder(s) (SD 1.x/2.x and SDXL), each at its scale. */
  loras?: readonly LoraRequest[];
  /** The folder's base weights and parsed LoRA files, kept between loads so a new LoRA set rereads nothing; one is made when absent. */
  loraWeights?: LoraWeights;
}

/** Where a replacement VAE decoder lives: a model.onnx file, or a folder holding `vae_decoder/model.onnx` or `model.onnx`. */
function vaeDecoderPath(location: string): string {
  const path = resolve(location);
  if (existsSync(path) && statSync(path).isFile()) return path;
  for (const candidate of [join(path, 'vae_decoder', 'model.onnx'), join(path, 'model.onnx')]) if (existsSync(candidate)) return candidate;
  throw new InvalidModelError({ model: location, message: `no VAE decoder at ${location}: give a model.onnx file or a folder holding vae_decoder/model.onnx` });
}

export async function loadModel(modelFolder: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const { hashCache, graphLevel = options.graphCache ? 'all' : 'extended', vaeDecoderFallback, vaeTiling: vaeTilingSetting, loras = [], loraWeights, offloadTextEncoders = false, ...runtime } = options;
  const folder = resolve(modelFolder);
  const family = checkModelFolder(folder);
  const modelIndex = await readJson(folder, 'model_index.json');
  const schedulerConfig = (await readJson(folder, 'scheduler/scheduler_config.json')) as SchedulerConfig;
  const denoiserConfigFile = `${family.denoiserFolder}/config.json`;
  const unetConfig = existsSync(join(folder, denoiserConfigFile)) ? await readJson(folder, denoiserConfigFile) : {};
  const vaeConfigFile = ['vae_decoder/config.json', 'vae_encoder/config.json'].find((file) => existsSync(join(folder, file)));
  const vaeConfig = vaeConfigFile ? await readJson(folder, vaeConfigFile) : {};
  const vaeBlocks = Array.isArray(vaeConfig.block_out_channels) ? vaeConfig.block_out_channels.length : 4;
  const vaeScaleFactor = 2 ** (vaeBlocks - 1);
  // diffusers tiles at the VAE's own `sample_size` (512 for SD 1.x, 768 for SD 2.x, 1024 for SDXL); tiny test VAEs keep the default.
  const configTile = typeof vaeConfig.sample_size === 'number' && vaeConfig.sample_size >= 256 && vaeConfig.sample_size % (4 * vaeScaleFactor) === 0 ? vaeConfig.sample_size : undefined;
  const vaeTiling = resolveVaeTiling(vaeTilingSetting === false ? false : { ...(configTile ? { tileSize: configTile } : {}), ...vaeTilingSetting }, vaeScaleFactor);
  const scalingFactor = typeof vaeConfig.scaling_factor === 'number' ? vaeConfig.scaling_factor : family.latent.scalingFactor;
  const shiftFactor = typeof vaeConfig.shift_factor === 'number' ? vaeConfig.shift_factor : family.latent.shiftFactor;
  const size = family.sizeRule({ denoiserConfig: unetConfig, vaeScaleFactor });

  const loadTimings: Record<string, number> = {};
  const timed = async <T>(name: string, load: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await load();
    loadTimings[name] = performance.now() - started;
    return value;
  };
  const sessions: OnnxModel[] = [];
  let loraPlan: LoraPlan | undefined;
  if (loras.length > 0) {
    if (family.denoiserFolder !== 'unet') {
      throw new InvalidArgumentError({ argument: 'loras', value: loras.map((lora) => lora.path), message: `LoRAs load on SD 1.x/2.x and SDXL models for now; ${folder} is ${family.displayName}` });
    }
    const weights = loraWeights ?? new LoraWeights(folder);
    loraPlan = await timed('loras', () => weights.plan(loras, family.displayName));
  }
  const openModel = (file: string, name: string, level: OptimizationLevel): Promise<OnnxModel> => {
    const component = file.split('/')[0] as LoraComponent;
    const patched = loraPlan?.bytes.get(component);
    // ONNX Runtime copies what it is given, so the patched copy (3.3 GB for a fp32 SD 1.5 UNet) is let go once the
    // session is built; offloaded text encoders are opened again for every encoding, so theirs is kept.
    if (!offloadTextEncoders || component === 'unet') loraPlan?.bytes.delete(component);
    // A LoRA'd graph is new bytes for every LoRA set, so it is never in the graph cache; building it at
    // `all` would cost the full-size UNet ~50 s per switch, so it is built at `extended`.
    return patched ? OnnxModel.fromBytes(patched.graph, name, join(folder, file), runtime, level === 'all' ? 'extended' : level, patched.externalData) : OnnxModel.load(join(folder, file), name, runtime, level);
  };
  const context: LoadContext = { folder, modelIndex, runtime, graphLevel, timed, sessions, openModel };
  // Hashing streams the UNet files on the main thread while ONNX Runtime builds sessions on its own
  // threads, so the two overlap; nothing waits for it but the record. Sessions load one after another:
  // in parallel they would only contend for the same cores and memory bandwidth.
  const unetHash = timed('hash', () => hashUnet(folder, hashCache));
  unetHash.catch(() => undefined); // awaited by the record; a failure is reported there
  const text = offloadTextEncoders ? await offloadedPromptEncoder(family, context) : await family.loadPromptEncoder(context);
  const unet = await family.loadDenoiser(context, unetConfig);
  const vaeDecoderModel = await timed('vaeDecoder', () => OnnxModel.load(join(folder, 'vae_decoder/model.onnx'), 'vaeDecoder', runtime, 'all'));
  sessions.push(vaeDecoderModel);

  const lazily = <T>(load: () => Promise<T>): (() => Promise<T>) => {
    let loading: Promise<T> | undefined;
    return () => (loading ??= load().catch((error: unknown) => { loading = undefined; throw error; }));
  };
  const vaeEncoder = lazily(async () => {
    const model = await timed('vaeEncoder', () => OnnxModel.load(join(folder, 'vae_encoder/model.onnx'), 'vaeEncoder', runtime, 'all'));
    sessions.push(model);
    return new VaeEncoder(model, scalingFactor, { vaeScaleFactor, tiling: vaeTiling, shiftFactor });
  });
  const fallbackVaeDecoder = vaeDecoderFallback === undefined ? undefined : lazily(async () => {
    const path = vaeDecoderPath(vaeDecoderFallback);
    const model = await timed('vaeDecoderFallback', () => OnnxModel.load(path, 'vaeDecoder', runtime, 'all'));
    sessions.push(model);
    const configPath = join(dirname(path), 'config.json');
    const config = existsSync(configPath) ? await readJson(dirname(path), 'config.json') : {};
    return new VaeDecoder(model, typeof config.scaling_factor === 'number' ? config.scaling_factor : scalingFactor, {
      vaeScaleFactor, tiling: vaeTiling, shiftFactor: typeof config.shift_factor === 'number' ? config.shift_factor : shiftFactor,
    });
  });
  return {
    folder,
    name: basename(folder),
    unetHash,
    family: family.id,
    modelFamily: family,
    tokenizer: text.tokenizer,
    textEncoder: text.textEncoder,
    prompts: text.prompts,
    unet,
    vaeDecoder: new VaeDecoder(vaeDecoderModel, scalingFactor, { vaeScaleFactor, tiling: vaeTiling, shiftFactor }),
    fallbackVaeDecoder,
    vaeEncoder,
    forceZerosForEmptyPrompt: modelIndex.force_zeros_for_empty_prompt === true,
    schedulerClass: String(schedulerConfig._class_name ?? 'PNDMScheduler'),
    schedulerConfig,
    latentChannels: family.latent.channels,
    vaeScaleFactor,
    vaeTiling,
    sizeMultiple: size.multiple,
    sizeReason: size.reason,
    ...(size.largest !== undefined ? { largestSide: size.largest } : {}),
    defaultWidth: size.defaultWidth,
    defaultHeight: size.defaultHeight,
    sessions,
    loadTimings,
    loras: loraPlan?.applied ?? [],
    loraWarnings: loraPlan?.warnings ?? [],
  };
}

/**
 * The family's prompt encoder with its sessions loaded for each encoding and released after it. They
 * are loaded once now too, and released, so a broken text encoder fails the load rather than the first
 * call; `tokenizer` stays usable, `textEncoder` is that first, released session's wrapper.
 */
async function offloadedPromptEncoder(family: ModelFamily, context: LoadContext): Promise<LoadedText> {
  const loadText = async (): Promise<{ text: LoadedText; release: () => Promise<void> }> => {
    const sessions: OnnxModel[] = [];
    const text = await family.loadPromptEncoder({ ...context, sessions });
    return { text, release: async () => void (await Promise.all(sessions.map((session) => session.release()))) };
  };
  const first = await loadText();
  await first.release();
  const { maxLength } = first.text.prompts;
  return {
    ...first.text,
    prompts: {
      maxLength,
      async encode(prompt, negativePrompt, guidance, timer) {
        const { text, release } = await timer.measure('textEncoderLoad', loadText);
        try {
          return await text.prompts.encode(prompt, negativePrompt, guidance, timer);
        } finally {
          await release();
        }
      },
    },
  };
}
