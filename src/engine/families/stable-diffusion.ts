// SD 1.x / 2.x (incl. SD-Turbo) in Optimum's ONNX layout: which files, which configs, which defaults.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { UNetDenoiser } from '../denoisers/unet.js';
import { OnnxModel, type OptimizationLevel, type RuntimeOptions } from '../runtime/onnx-model.js';
import type { SchedulerConfig } from '../schedulers/index.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { ClipTextEncoder } from '../text-encoders/clip-text-encoder.js';
import { VaeDecoder } from '../vae/vae-decoder.js';

/** Files a text-to-image run cannot do without, relative to the model folder. */
export const requiredFiles = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'text_encoder/model.onnx',
  'unet/model.onnx',
  'vae_decoder/model.onnx',
] as const;

export interface StableDiffusionModel {
  folder: string;
  /** Folder name, used as the model's id when none is given. */
  name: string;
  /** sha256 of the UNet weights (model.onnx and its external data), the part that makes the image. */
  unetHash: string;
  tokenizer: ClipTokenizer;
  textEncoder: ClipTextEncoder;
  unet: UNetDenoiser;
  vaeDecoder: VaeDecoder;
  /** The scheduler class the folder names, e.g. `EulerDiscreteScheduler`, and its config. */
  schedulerClass: string;
  schedulerConfig: SchedulerConfig;
  latentChannels: number;
  /** Pixels per latent cell: 2^(VAE blocks − 1), 8 for every SD VAE. */
  vaeScaleFactor: number;
  defaultWidth: number;
  defaultHeight: number;
  /** Every ONNX session, for release and for load-time reporting. */
  sessions: OnnxModel[];
  /** Milliseconds spent creating sessions, per part. */
  loadTimings: Record<string, number>;
}

async function readJson(folder: string, file: string): Promise<Record<string, unknown>> {
  const path = join(folder, file);
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidModelError({ model: folder, file, message: `${path} is not valid JSON: ${(error as Error).message}`, cause: error });
  }
}

/** Throws naming the first missing file, so a partial download is obvious. */
export function checkModelFolder(folder: string): void {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new InvalidModelError({ model: folder, message: `model folder ${folder} does not exist; pass a folder in Optimum's ONNX layout or a Hugging Face repo id` });
  }
  const missing = requiredFiles.filter((file) => !existsSync(join(folder, file)));
  if (missing.length > 0) {
    throw new InvalidModelError({
      model: folder,
      file: missing[0],
      message: `model folder ${folder} is incomplete: missing ${missing.join(', ')} (expected Optimum's ONNX layout; re-run \`pixelpipe models pull\` if it was downloaded)`,
    });
  }
}

/**
 * Remembers weight hashes between processes, keyed by path, size and modification time. Hashing a
 * 3.3 GB UNet takes seconds on every start otherwise; the engine only defines the interface, and the
 * service keeps the store.
 */
export interface WeightHashCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, hash: string): Promise<void>;
}

/** sha256 over the UNet graph and its external data files, streamed (multi-GB files). */
async function hashUnet(folder: string, cache?: WeightHashCache): Promise<string> {
  const unetFolder = join(folder, 'unet');
  const files = readdirSync(unetFolder).filter((file) => file.endsWith('.onnx') || file.endsWith('_data') || file.endsWith('.pb') || file.endsWith('.data')).sort();
  const key = files.map((file) => { const { size, mtimeMs } = statSync(join(unetFolder, file)); return `${join(unetFolder, file)}:${size}:${mtimeMs}`; }).join('|');
  const cached = await cache?.get(key);
  if (cached) return cached;
  const hash = createHash('sha256');
  for (const file of files) {
    for await (const chunk of createReadStream(join(unetFolder, file))) hash.update(chunk as Buffer);
  }
  const digest = hash.digest('hex');
  await cache?.set(key, digest);
  return digest;
}

export interface LoadOptions extends RuntimeOptions {
  /** Where UNet hashes are remembered between processes; without it the UNet is hashed at every load. */
  hashCache?: WeightHashCache;
  /** Graph optimisation level of the text encoder and UNet (default `extended`; see OptimizationLevel). */
  graphLevel?: OptimizationLevel;
}

export async function loadStableDiffusion(modelFolder: string, options: LoadOptions = {}): Promise<StableDiffusionModel> {
  const { hashCache, graphLevel = 'extended', ...runtime } = options;
  const folder = resolve(modelFolder);
  checkModelFolder(folder);
  const modelIndex = await readJson(folder, 'model_index.json');
  const pipelineClass = String(modelIndex._class_name ?? '');
  if (pipelineClass.includes('XL')) {
    throw new InvalidModelError({ model: folder, file: 'model_index.json', message: `${folder} is a ${pipelineClass}; this version runs SD 1.x/2.x pipelines (StableDiffusionPipeline) only` });
  }
  const schedulerConfig = (await readJson(folder, 'scheduler/scheduler_config.json')) as SchedulerConfig;
  const unetConfig = existsSync(join(folder, 'unet/config.json')) ? await readJson(folder, 'unet/config.json') : {};
  const vaeConfig = existsSync(join(folder, 'vae_decoder/config.json')) ? await readJson(folder, 'vae_decoder/config.json') : {};
  const vaeBlocks = Array.isArray(vaeConfig.block_out_channels) ? vaeConfig.block_out_channels.length : 4;
  const vaeScaleFactor = 2 ** (vaeBlocks - 1);
  const sampleSize = typeof unetConfig.sample_size === 'number' ? unetConfig.sample_size : 64;

  const loadTimings: Record<string, number> = {};
  const timed = async <T>(name: string, load: () => Promise<T>): Promise<T> => {
    const started = performance.now();
    const value = await load();
    loadTimings[name] = performance.now() - started;
    return value;
  };
  // Hashing streams the UNet files on the main thread while ONNX Runtime builds sessions on its own
  // threads, so the two overlap. Sessions load one after another: in parallel they would only contend
  // for the same cores and memory bandwidth.
  const hashing = timed('hash', () => hashUnet(folder, hashCache));
  const tokenizer = await timed('tokenizer', () => ClipTokenizer.fromFolder(join(folder, 'tokenizer')));
  const textEncoderModel = await timed('textEncoder', () => OnnxModel.load(join(folder, 'text_encoder/model.onnx'), 'textEncoder', runtime, graphLevel));
  const unetModel = await timed('unet', () => OnnxModel.load(join(folder, 'unet/model.onnx'), 'unet', runtime, graphLevel));
  const vaeDecoderModel = await timed('vaeDecoder', () => OnnxModel.load(join(folder, 'vae_decoder/model.onnx'), 'vaeDecoder', runtime, 'all'));
  const unetHash = await hashing;
  const channelsDim = unetModel.input('sample').shape[1];
  const latentChannels = typeof channelsDim === 'number' ? channelsDim : Number(unetConfig.in_channels ?? 4);
  if (latentChannels !== 4) {
    throw new InvalidModelError({ model: folder, file: 'unet/model.onnx', message: `${folder}: the UNet takes ${latentChannels} input channels; text-to-image needs a 4-channel UNet (9 channels is an inpainting model)` });
  }
  return {
    folder,
    name: basename(folder),
    unetHash,
    tokenizer,
    textEncoder: new ClipTextEncoder(textEncoderModel),
    unet: new UNetDenoiser(unetModel),
    vaeDecoder: new VaeDecoder(vaeDecoderModel, typeof vaeConfig.scaling_factor === 'number' ? vaeConfig.scaling_factor : 0.18215),
    schedulerClass: String(schedulerConfig._class_name ?? 'PNDMScheduler'),
    schedulerConfig,
    latentChannels,
    vaeScaleFactor,
    defaultWidth: sampleSize * vaeScaleFactor,
    defaultHeight: sampleSize * vaeScaleFactor,
    sessions: [textEncoderModel, unetModel, vaeDecoderModel],
    loadTimings,
  };
}
