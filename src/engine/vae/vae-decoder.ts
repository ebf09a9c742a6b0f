// VAE decoder: latents → RGB in [0,1], with diffusers' scaling and denormalisation.
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { LatentShape } from '../denoisers/unet.js';

export interface DecodedImage {
  /** Planar float RGB [3, height, width] in [0,1], as diffusers' image processor leaves it. */
  planes: Float32Array;
  width: number;
  height: number;
  /** The decoder produced NaN or ±∞ somewhere (an fp16 VAE overflowing, as SDXL's does); clamping would hide it as black or white. */
  nonFinite: boolean;
}

export class VaeDecoder {
  constructor(
    private readonly model: OnnxModel,
    /** The VAE's scaling_factor (0.18215 for SD 1.x/2.x); latents are divided by it before decoding. */
    private readonly scalingFactor: number,
  ) {}

  async decode(latent: Float32Array, shape: LatentShape, onRun?: RunListener): Promise<DecodedImage> {
    const scaled = new Float32Array(latent.length);
    const factor = Math.fround(this.scalingFactor);
    for (let i = 0; i < latent.length; i++) scaled[i] = latent[i]! / factor;
    const outputs = await this.model.run({ latent_sample: { data: scaled, dims: [1, shape.channels, shape.height, shape.width] } }, onRun);
    const sample = outputs.sample ?? Object.values(outputs)[0]!;
    const dims = sample.dims ?? [1, 3, shape.height * 8, shape.width * 8];
    const planes = new Float32Array(sample.length);
    let nonFinite = false;
    for (let i = 0; i < sample.length; i++) {
      if (!Number.isFinite(sample[i]!)) nonFinite = true;
      // (x / 2 + 0.5).clamp(0, 1) in float32, as VaeImageProcessor.denormalize
      const value = Math.fround(Math.fround(sample[i]! / 2) + 0.5);
      planes[i] = value < 0 ? 0 : value > 1 ? 1 : value;
    }
    return { planes, height: dims[2]!, width: dims[3]!, nonFinite };
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
