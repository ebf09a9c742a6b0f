// Peak memory of one generation (SD, SDXL; SD3 and FLUX.1 roughly), from the model folder's configs and the request, before any session is loaded.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveVaeTiling, vaeTilePlan, type VaeTiling } from '../vae/vae-tiling.js';
import { checkModelFolder } from './model-loader.js';

/**
 * Constants measured with `npm run bench:memory` (bench/memory-calibration.md: onnxruntime-node 1.30 on
 * CPU, the tiny fixtures and the full-size SD-Turbo skeletons). The exports run attention unfused, as
 * MatMul → Softmax → MatMul, and about three batch·heads·tokens² float32 buffers are alive at once
 * (3.0–3.4 measured); the convolutions at the largest resolution add a multiple of their activation.
 * Each session's memory arena keeps its peak, so the UNet's and the VAE's add up rather than overlap,
 * and the arena adds up to ~30 % over the live tensors.
 */
const attentionFactor = 3.2;
const unetConvFactor = 16;
const vaeConvFactor = 8.5;
const arenaHeadroom = 1.3;
/** Node, ONNX Runtime and the engine's own buffers, beside the weights. */
const processBaseBytes = 160 * 2 ** 20;
/** Weights are kept once, plus about a tenth for kernels' repacked copies (the VAE's NCHWc layout). */
const weightOverhead = 1.1;

/** What the estimate needs to know of a model, read from its folder without loading anything. */
export interface MemoryProfile {
  /** The model family's id (`ModelFamily.id`), for its samplers and defaults. */
  family: string;
  /** Bytes of the ONNX files a text-to-image run loads (text encoders, UNet, VAE decoder). */
  weightBytes: number;
  /** Bytes of the VAE encoder, loaded for edits only. */
  encoderBytes: number;
  /** Whether the folder has a VAE encoder (`vae_encoder/model.onnx`), which every edit needs. */
  vaeEncoder: boolean;
  /**
   * The denoiser's attention: per level (0 = full latent resolution) its head count. A transformer's
   * joint attention is one entry at the level of its patches (1 for 2×2) with its text tokens added.
   */
  attention: { level: number; heads: number; textTokens?: number }[];
  /** Channels of the UNet's first block, which runs at the full latent resolution. */
  unetChannels: number;
  /** Channels of the VAE's full-resolution block (rounded up to 16, as ONNX Runtime's blocked layout pads them). */
  vaeChannels: number;
  /** Pixels per latent cell. */
  vaeScaleFactor: number;
  /** When the VAE works in tiles. */
  tiling: VaeTiling | undefined;
  /** Width and height must be multiples of this. */
  sizeMultiple: number;
  defaultWidth: number;
  defaultHeight: number;
  /** Guidance when a call gives none (above 1 the UNet runs at batch 2). */
  defaultGuidance: number;
  /** Steps when a call gives none: 1 for Turbo-style (trailing) schedules, else 25. */
  defaultSteps: number;
  /** Channels the UNet takes, from its config: the latent's, or more for inpainting (the mask and the masked image's latents). */
  unetInputChannels: number;
  /** Channels of the VAE's latent. */
  latentChannels: number;
  /** Why sides must be multiples of `sizeMultiple`, for messages; the UNet rule's when absent. */
  sizeReason?: string;
  /** The largest width or height the denoiser takes (SD3's position-embedding grid); no limit when absent. */
  largestSide?: number;
  /** False where guidance is a denoiser input (FLUX.1), so the denoiser never runs at batch 2; true when absent. */
  classifierFreeGuidance?: boolean;
}

/** What a call asks for that memory depends on. */
export interface MemoryRequest {
  width: number;
  height: number;
  /** Above 1: classifier-free guidance, the UNet at batch 2. */
  guidance: number;
  /** An edit also runs the VAE encoder over the input. */
  edit?: boolean;
}

/** The estimate and its parts, in bytes. */
export interface MemoryEstimate {
  totalBytes: number;
  parts: { base: number; weights: number; unet: number; vaeDecode: number; vaeEncode: number };
  /** The term that grows fastest, for messages: e.g. `UNet self-attention over 4096 latent cells (5 heads)`. */
  driver: string;
}

const mib = 2 ** 20;

async function readConfig(folder: string, file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(join(folder, file), 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

function folderBytes(folder: string): number {
  try {
    return readdirSync(folder)
      .filter((file) => file.endsWith('.onnx') || file.endsWith('_data') || file.endsWith('.data') || file.endsWith('.pb'))
      .reduce((sum, file) => sum + statSync(join(folder, file)).size, 0);
  } catch {
    return 0;
  }
}

const numbers = (value: unknown): number[] => (Array.isArray(value) ? value.filter((entry): entry is number => typeof entry === 'number') : []);

/**
 * Reads what the estimate needs from a model folder in Optimum's layout: file sizes and the UNet and
 * VAE configs (`attention_head_dim` in SD 1.x/2.x configs is a head count, as diffusers reads it).
 */
export async function readMemoryProfile(folder: string, tilingSetting?: Partial<VaeTiling> | false): Promise<MemoryProfile> {
  // A missing or partial folder is named as loading would name it.
  const family = checkModelFolder(folder);
  const [unet, vae, scheduler] = await Promise.all([
    readConfig(folder, `${family.denoiserFolder}/config.json`),
    readConfig(folder, 'vae_decoder/config.json').then(async (config) => (Object.keys(config).length > 0 ? config : await readConfig(folder, 'vae_encoder/config.json'))),
    readConfig(folder, 'scheduler/scheduler_config.json'),
  ]);
  const unetBytes = folderBytes(join(folder, family.denoiserFolder));
  const transformer = family.denoiserFolder === 'transformer';
  const blocks = numbers(unet.block_out_channels);
  const levels = blocks.length || 4;
  const downTypes = Array.isArray(unet.down_block_types) ? unet.down_block_types.map(String) : [];
  const headsSetting = unet.num_attention_heads ?? unet.attention_head_dim ?? 8;
  const headsAt = (level: number) => (Array.isArray(headsSetting) ? Number(headsSetting[Math.min(level, headsSetting.length - 1)] ?? 8) : Number(headsSetting));
  const attention: MemoryProfile['attention'] = downTypes.flatMap((type, level) => (type.includes('Attn') ? [{ level, heads: headsAt(level) }] : []));
  // The mid block attends at the lowest resolution unless the config says it has no attention.
  if (!transformer && !String(unet.mid_block_type ?? 'UNetMidBlock2DCrossAttn').includes('Simple') && unet.mid_block_type !== null) attention.push({ level: levels - 1, heads: headsAt(levels - 1) });
  // Not calibrated for transformers (bench/memory-calibration.md measured UNets): image tokens are 2×2 latent
  // patches (SD3's patch_size, FLUX's packing) attending jointly with the text tokens (CLIP 77 + T5 256 for SD3, T5 512 for FLUX).
  const patch = family.latent.packing === 'patches-2x2' ? 2 : typeof unet.patch_size === 'number' ? unet.patch_size : 2;
  const innerWidth = Number(unet.num_attention_heads ?? 24) * Number(unet.attention_head_dim ?? 64);
  if (transformer) attention.push({ level: Math.log2(patch), heads: Number(unet.num_attention_heads ?? 24), textTokens: family.classifierFreeGuidance ? 77 + 256 : 512 });
  const vaeBlocks = numbers(vae.block_out_channels);
  const vaeScaleFactor = 2 ** ((vaeBlocks.length || 4) - 1);
  const size = family.sizeRule({ denoiserConfig: unet, vaeScaleFactor });
  const defaults = family.defaults(scheduler);
  const configTile = typeof vae.sample_size === 'number' && vae.sample_size >= 256 && vae.sample_size % (4 * vaeScaleFactor) === 0 ? vae.sample_size : undefined;
  return {
    family: family.id,
    weightBytes: ['text_encoder', 'text_encoder_2', 'text_encoder_3', 'vae_decoder'].reduce((sum, part) => sum + folderBytes(join(folder, part)), unetBytes),
    encoderBytes: folderBytes(join(folder, 'vae_encoder')),
    vaeEncoder: existsSync(join(folder, 'vae_encoder', 'model.onnx')),
    attention,
    // A transformer's activations are tokens × width; spread over the latent cells a token covers.
    unetChannels: transformer ? Math.ceil(innerWidth / (patch * patch)) : (blocks[0] ?? 320),
    vaeChannels: Math.ceil((vaeBlocks[0] ?? 128) / 16) * 16,
    vaeScaleFactor,
    tiling: resolveVaeTiling(tilingSetting === false ? false : { ...(configTile ? { tileSize: configTile } : {}), ...tilingSetting }, vaeScaleFactor),
    sizeMultiple: size.multiple,
    defaultWidth: size.defaultWidth,
    defaultHeight: size.defaultHeight,
    defaultGuidance: defaults.guidance,
    defaultSteps: defaults.steps,
    latentChannels: typeof vae.latent_channels === 'number' ? vae.latent_channels : family.latent.channels,
    // Transformers take the latent as it is (FLUX's in_channels counts packed 2×2 cells); only UNets take extra (inpainting) channels.
    unetInputChannels: transformer ? (typeof vae.latent_channels === 'number' ? vae.latent_channels : family.latent.channels) : typeof unet.in_channels === 'number' ? unet.in_channels : 4,
    sizeReason: size.reason,
    ...(size.largest !== undefined ? { largestSide: size.largest } : {}),
    classifierFreeGuidance: family.classifierFreeGuidance,
  };
}

/** The VAE's activation over one region (the whole image, or one tile): its mid-block attention over all cells, and its full-resolution convolutions. */
function vaeActivation(profile: MemoryProfile, width: number, height: number): number {
  const plan = vaeTilePlan(width, height, profile.tiling, profile.vaeScaleFactor);
  const cells = (plan.tileWidth / profile.vaeScaleFactor) * (plan.tileHeight / profile.vaeScaleFactor);
  return arenaHeadroom * (attentionFactor * cells * cells * 4 + vaeConvFactor * profile.vaeChannels * plan.tileWidth * plan.tileHeight * 4);
}

/** Estimated peak resident memory of a worker running this request on this model (see the constants above). */
export function estimatePeakMemory(profile: MemoryProfile, { width, height, guidance, edit = false }: MemoryRequest): MemoryEstimate {
  const batch = guidance > 1 && profile.classifierFreeGuidance !== false ? 2 : 1;
  const latentWidth = width / profile.vaeScaleFactor;
  const latentHeight = height / profile.vaeScaleFactor;
  let attention = 0;
  let driver = 'the UNet\'s convolutions';
  for (const { level, heads, textTokens = 0 } of profile.attention) {
    const cells = (latentWidth / 2 ** level) * (latentHeight / 2 ** level) + textTokens;
    const scores = batch * heads * cells * cells * 4;
    if (scores > attention) {
      attention = scores;
      driver = `UNet self-attention over ${Math.round(cells)} latent cells × ${heads} heads${batch === 2 ? ' × 2 (guidance)' : ''} (${(scores / mib).toFixed(0)} MiB per score matrix)`;
    }
  }
  const unet = arenaHeadroom * (attentionFactor * attention + unetConvFactor * batch * profile.unetChannels * latentWidth * latentHeight * 4);
  const vaeDecode = vaeActivation(profile, width, height);
  const vaeEncode = edit ? vaeActivation(profile, width, height) : 0;
  if (vaeDecode > unet) {
    const plan = vaeTilePlan(width, height, profile.tiling, profile.vaeScaleFactor);
    driver = plan.tiled ? `the VAE over ${plan.tileWidth}×${plan.tileHeight} tiles` : `the VAE over the whole ${width}×${height} image (its mid-block attends over all ${Math.round(latentWidth * latentHeight)} latent cells)`;
  }
  const weights = weightOverhead * (profile.weightBytes + (edit ? profile.encoderBytes : 0));
  const parts = { base: processBaseBytes, weights, unet, vaeDecode, vaeEncode };
  return { totalBytes: Object.values(parts).reduce((sum, part) => sum + part, 0), parts, driver };
}

/** The largest size at the request's aspect ratio (sides multiples of the model's) whose estimate fits `budgetBytes`; undefined when not even the smallest does. */
export function largestSizeThatFits(profile: MemoryProfile, request: MemoryRequest, budgetBytes: number): { width: number; height: number } | undefined {
  const multiple = profile.sizeMultiple;
  const ratio = request.height / request.width;
  const fits = (width: number) => {
    const height = Math.max(multiple, Math.round((width * ratio) / multiple) * multiple);
    return estimatePeakMemory(profile, { ...request, width, height }).totalBytes <= budgetBytes ? { width, height } : undefined;
  };
  // Memory only grows with the size, so the largest fitting width is found by bisection over multiples.
  let low = 0;
  let high = Math.max(1, Math.floor(request.width / multiple));
  if (!fits(multiple)) return undefined;
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (fits(middle * multiple)) low = middle;
    else high = middle;
  }
  return fits(high * multiple) ?? fits(Math.max(1, low) * multiple);
}
