// What the flow-matching families (SD3, FLUX) share: reading their Optimum folders and decoding their 16-channel latents.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import { VaeDecoder } from '../vae/vae-decoder.js';

export async function readModelJson(folder: string, file: string): Promise<Record<string, unknown>> {
  const path = join(folder, file);
  if (!existsSync(path)) throw new InvalidModelError({ model: folder, file, message: `${path} is missing (expected Optimum's ONNX layout of a diffusers pipeline)` });
  try {
    return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new InvalidModelError({ model: folder, file, message: `${path} is not valid JSON: ${(error as Error).message}`, cause: error });
  }
}

/** The pipeline class model_index.json names, or undefined when the folder has none readable. */
export async function pipelineClassOf(folder: string): Promise<string | undefined> {
  const path = join(folder, 'model_index.json');
  if (!existsSync(path) || !statSync(path).isFile()) return undefined;
  try {
    const index = JSON.parse(await readFile(path, 'utf8')) as { _class_name?: unknown };
    return typeof index._class_name === 'string' ? index._class_name : undefined;
  } catch {
    return undefined;
  }
}

/** Throws naming every missing file, so a partial download is obvious. */
export function checkFiles(folder: string, pipeline: string, files: readonly string[]): void {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new InvalidModelError({ model: folder, message: `model folder ${folder} does not exist; pass a folder in Optimum's ONNX layout of a ${pipeline}` });
  }
  const missing = files.filter((file) => !existsSync(join(folder, file)));
  if (missing.length > 0) {
    throw new InvalidModelError({ model: folder, file: missing[0], message: `${pipeline} folder ${folder} is incomplete: missing ${missing.join(', ')}` });
  }
}

/** A number from a config, or the fallback when absent; anything else is a broken config. */
export function configNumber(config: Record<string, unknown>, field: string, fallback: number | undefined, where: string): number {
  const value = config[field];
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new InvalidModelError({ model: where, file: where, message: `${where}: \`${field}\` must be a number, got ${JSON.stringify(value)}` });
  }
  return value;
}

/** The 16-channel VAE of SD3 and FLUX: latents are un-scaled and un-shifted before the decoder, unlike SD's. */
export class ShiftedVaeDecoder {
  private readonly decoder: VaeDecoder;

  constructor(
    model: OnnxModel,
    /** vae config `scaling_factor` (SD3 1.5305, FLUX 0.3611). */
    readonly scalingFactor: number,
    /** vae config `shift_factor` (SD3 0.0609, FLUX 0.1159). */
    readonly shiftFactor: number,
    /** Pixels per latent cell: 2^(VAE blocks − 1). */
    readonly vaeScaleFactor: number,
  ) {
    // The shared decoder divides by its scaling factor; 1 leaves the values we prepare untouched (x / 1 is exact).
    this.decoder = new VaeDecoder(model, 1, { vaeScaleFactor });
  }

  static async configFrom(folder: string): Promise<{ scalingFactor: number; shiftFactor: number; vaeScaleFactor: number; latentChannels: number }> {
    const file = 'vae_decoder/config.json';
    const config = await readModelJson(folder, file);
    const where = join(folder, file);
    const blocks = Array.isArray(config.block_out_channels) ? config.block_out_channels.length : 4;
    return {
      scalingFactor: configNumber(config, 'scaling_factor', undefined, where),
      shiftFactor: configNumber(config, 'shift_factor', 0, where),
      vaeScaleFactor: 2 ** (blocks - 1),
      latentChannels: configNumber(config, 'latent_channels', 16, where),
    };
  }

  /** Latents [1, C, h, w] → interleaved RGB floats [H, W, 3] in [0, 1], as diffusers' `output_type="np"`. */
  async decode(latents: Float32Array, shape: { channels: number; height: number; width: number }, onRun?: RunListener): Promise<{ image: Float32Array; width: number; height: number }> {
    // diffusers: (latents / scaling_factor) + shift_factor, each in float32.
    const scale = Math.fround(this.scalingFactor);
    const shift = Math.fround(this.shiftFactor);
    const prepared = latents.map((value) => Math.fround(value / scale) + shift);
    const { planes, width, height } = await this.decoder.decode(prepared, shape, onRun);
    const pixels = width * height;
    const image = new Float32Array(pixels * 3);
    for (let channel = 0; channel < 3; channel++) {
      for (let pixel = 0; pixel < pixels; pixel++) image[pixel * 3 + channel] = planes[channel * pixels + pixel]!;
    }
    return { image, width, height };
  }
}

/** width and height as diffusers' check_inputs wants them: positive multiples of `multiple`. */
export function checkImageSize(width: number, height: number, multiple: number): void {
  for (const [argument, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value < multiple || value % multiple !== 0) {
      throw new InvalidArgumentError({ argument, value, message: `\`${argument}\` must be a positive multiple of ${multiple} for this model, got ${value}` });
    }
  }
}

/** Classifier-free guidance on the transformer's two outputs. */
export function classifierFreeGuidance(unconditional: Float32Array, conditional: Float32Array, guidance: number): Float32Array {
  // uncond + g · (text − uncond), each operation in float32 as torch does.
  const scale = Math.fround(guidance);
  const result = new Float32Array(unconditional.length);
  for (let i = 0; i < result.length; i++) {
    const u = unconditional[i]!;
    result[i] = Math.fround(u + Math.fround(scale * Math.fround(conditional[i]! - u)));
  }
  return result;
}
