// VAE decoder: latents → RGB in [0,1], with diffusers' scaling and denormalisation.
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { LatentShape } from '../denoisers/unet.js';
import { decodeGeometry, runTiled, vaeTilePlan, type PlanarTensor, type VaeTiling } from './vae-tiling.js';

export interface DecodedImage {
  /** Planar float RGB [3, height, width] in [0,1], as diffusers' image processor leaves it. */
  planes: Float32Array;
  width: number;
  height: number;
  /** The decoder produced NaN or ±∞ somewhere (an fp16 VAE overflowing, as SDXL's does); clamping would hide it as black or white. */
  nonFinite: boolean;
}

export interface VaeDecoderOptions {
  /** Pixels per latent cell (8 for every SD VAE). */
  vaeScaleFactor?: number;
  /** Decode large images in tiles (see vaeTilePlan); undefined decodes every size whole. */
  tiling?: VaeTiling;
  /** The VAE's `shift_factor` (SD3 0.0609, FLUX 0.1159), added after dividing by the scaling factor; 0 for SD's VAEs. */
  shiftFactor?: number;
}

export class VaeDecoder {
  private readonly vaeScaleFactor: number;
  private readonly tiling: VaeTiling | undefined;
  private readonly shiftFactor: number;

  constructor(
    private readonly model: OnnxModel,
    /** The VAE's scaling_factor (0.18215 for SD 1.x/2.x); latents are divided by it before decoding. */
    private readonly scalingFactor: number,
    { vaeScaleFactor = 8, tiling, shiftFactor = 0 }: VaeDecoderOptions = {},
  ) {
    this.vaeScaleFactor = vaeScaleFactor;
    this.shiftFactor = shiftFactor;
    this.tiling = tiling;
  }

  async decode(latent: Float32Array, shape: LatentShape, onRun?: RunListener): Promise<DecodedImage> {
    const scaled = new Float32Array(latent.length);
    const factor = Math.fround(this.scalingFactor);
    // diffusers: latents / scaling_factor (+ shift_factor), each in float32.
    const shift = Math.fround(this.shiftFactor);
    if (shift === 0) for (let i = 0; i < latent.length; i++) scaled[i] = latent[i]! / factor;
    else for (let i = 0; i < latent.length; i++) scaled[i] = Math.fround(latent[i]! / factor) + shift;
    const input = { data: scaled, channels: shape.channels, height: shape.height, width: shape.width };
    // Tiles are blended on the raw decoder output, before denormalising, as diffusers' tiled_decode returns it.
    const plan = vaeTilePlan(shape.width * this.vaeScaleFactor, shape.height * this.vaeScaleFactor, this.tiling, this.vaeScaleFactor);
    const sample = plan.tiled && this.tiling
      ? await runTiled(input, decodeGeometry(this.tiling.tileSize, this.vaeScaleFactor), (tile) => this.run(tile, onRun))
      : await this.run(input, onRun);
    const planes = new Float32Array(sample.data.length);
    let nonFinite = false;
    for (let i = 0; i < sample.data.length; i++) {
      if (!Number.isFinite(sample.data[i]!)) nonFinite = true;
      // (x / 2 + 0.5).clamp(0, 1) in float32, as VaeImageProcessor.denormalize
      const value = Math.fround(Math.fround(sample.data[i]! / 2) + 0.5);
      planes[i] = value < 0 ? 0 : value > 1 ? 1 : value;
    }
    return { planes, height: sample.height, width: sample.width, nonFinite };
  }

  /** One pass of the decoder graph over scaled latents; returns its raw output in [−1, 1] (or beyond). */
  private async run(latent: PlanarTensor, onRun: RunListener | undefined): Promise<PlanarTensor> {
    const outputs = await this.model.run({ latent_sample: { data: latent.data, dims: [1, latent.channels, latent.height, latent.width] } }, onRun);
    const sample = outputs.sample ?? Object.values(outputs)[0]!;
    const dims = sample.dims ?? [1, 3, latent.height * this.vaeScaleFactor, latent.width * this.vaeScaleFactor];
    return { data: sample, channels: dims[1]!, height: dims[2]!, width: dims[3]! };
  }
}

/** Planar [0,1] floats → interleaved RGB bytes, rounding like numpy's (x * 255).round() (half to even). */
export function toRgbBytes({ planes, width, height }: DecodedImage): Uint8Array {
  const pixels = width * height;
  const rgb = new Uint8Array(pixels * 3);
  for (let channel = 0; channel < 3; channel++) {
    for (let i = 0; i < pixels; i++) {
      const value = Math.fround(planes[channel * pixels + i]! * 255);
      rgb[i * 3 + channel] = roundHalfToEven(value);
    }
  }
  return rgb;
}

function roundHalfToEven(value: number): number {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}
