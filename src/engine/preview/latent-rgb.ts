// Instant previews: a fixed linear map from the latent channels (4, or 16 for SD3 and FLUX) to RGB, with no model to load or run.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { LatentShape } from '../denoisers/denoiser.js';
import type { RgbImage } from '../image/rgb-image.js';

/** SD 1.x and 2.x share one VAE, hence one latent space; SDXL, SD3 and FLUX.1 each trained their own. */
export type LatentSpace = 'sd1' | 'sdxl' | 'sd3' | 'flux';

export interface LatentRgbFactors {
  /** The latent space's name in messages. */
  name: string;
  /** One (R, G, B) row per latent channel. */
  factors: readonly (readonly [number, number, number])[];
  /** Added to every pixel after the channel sum. */
  bias: readonly [number, number, number];
  /** Where the numbers come from. */
  source: string;
}

/**
 * ComfyUI's `latent_rgb_factors` (+ `latent_rgb_factors_bias`), comfy/latent_formats.py at commit
 * 040a3243468ecefd1f2802592d90458f1ce4d65f, classes `SD15`, `SDXL`, `SD3` and `Flux`. ComfyUI applies them to the
 * latent the sampler holds, which is the VAE latent already multiplied by scaling_factor (and, for SD3
 * and FLUX, less shift_factor first: what the denoiser sees; FLUX's unpacked), and reads the result as
 * roughly [-1, 1]. `SD15` defines no bias, so it is 0 here.
 * (The older SD15-style numbers ComfyUI once also used for SDXL now live on `SDXL_Playground_2_5`.)
 */
export const latentRgbFactors: Record<LatentSpace, LatentRgbFactors> = {
  sd1: {
    name: 'sd1',
    factors: [
      [0.3512, 0.2297, 0.3227],
      [0.325, 0.4974, 0.235],
      [-0.2829, 0.1762, 0.2721],
      [-0.212, -0.2616, -0.7177],
    ],
    bias: [0, 0, 0],
    source: 'ComfyUI comfy/latent_formats.py, class SD15 (latent_rgb_factors; no bias defined)',
  },
  sdxl: {
    name: 'sdxl',
    factors: [
      [0.3651, 0.4232, 0.4341],
      [-0.2533, -0.0042, 0.1068],
      [0.1076, 0.1111, -0.0362],
      [-0.3165, -0.2492, -0.2188],
    ],
    bias: [0.1084, -0.0175, -0.0011],
    source: 'ComfyUI comfy/latent_formats.py, class SDXL (latent_rgb_factors, latent_rgb_factors_bias)',
  },
  sd3: {
    name: 'sd3',
    factors: [
      [-0.0922, -0.0175, 0.0749],
      [0.0311, 0.0633, 0.0954],
      [0.1994, 0.0927, 0.0458],
      [0.0856, 0.0339, 0.0902],
      [0.0587, 0.0272, -0.0496],
      [-0.0006, 0.1104, 0.0309],
      [0.0978, 0.0306, 0.0427],
      [-0.0042, 0.1038, 0.1358],
      [-0.0194, 0.002, 0.0669],
      [-0.0488, 0.013, -0.0268],
      [0.0922, 0.0988, 0.0951],
      [-0.0278, 0.0524, -0.0542],
      [0.0332, 0.0456, 0.0895],
      [-0.0069, -0.003, -0.081],
      [-0.0596, -0.0465, -0.0293],
      [-0.1448, -0.1463, -0.1189],
    ],
    bias: [0.2394, 0.2135, 0.1925],
    source: 'ComfyUI comfy/latent_formats.py, class SD3 (latent_rgb_factors, latent_rgb_factors_bias)',
  },
  flux: {
    name: 'flux',
    factors: [
      [-0.0346, 0.0244, 0.0681],
      [0.0034, 0.021, 0.0687],
      [0.0275, -0.0668, -0.0433],
      [-0.0174, 0.016, 0.0617],
      [0.0859, 0.0721, 0.0329],
      [0.0004, 0.0383, 0.0115],
      [0.0405, 0.0861, 0.0915],
      [-0.0236, -0.0185, -0.0259],
      [-0.0245, 0.025, 0.118],
      [0.1008, 0.0755, -0.0421],
      [-0.0515, 0.0201, 0.0011],
      [0.0428, -0.0012, -0.0036],
      [0.0817, 0.0765, 0.0749],
      [-0.1264, -0.0522, -0.1103],
      [-0.028, -0.0881, -0.0499],
      [-0.1262, -0.0982, -0.0778],
    ],
    bias: [-0.0329, -0.0718, -0.0851],
    source: 'ComfyUI comfy/latent_formats.py, class Flux (latent_rgb_factors, latent_rgb_factors_bias)',
  },
};

/**
 * Planar latents [1, C, h, w] in the diffusion model's space → an RGB image of w × h (one pixel per
 * latent cell; scale it up for display). `space` names a table above, or is a model family's own
 * (`ModelFamily.latent.preview.rgbFactors`). Bytes are rounded, where ComfyUI's uint8 cast truncates: the two
 * differ by at most one level.
 */
export function latentToRgb(latents: Float32Array, shape: LatentShape, space: LatentSpace | LatentRgbFactors): RgbImage {
  const { factors, bias, name } = typeof space === 'string' ? latentRgbFactors[space] : space;
  const { channels, height, width } = shape;
  if (channels !== factors.length) {
    throw new InvalidArgumentError({ argument: 'shape.channels', value: channels, message: `\`shape.channels\` must be ${factors.length} for the ${name} latent space, got ${channels}` });
  }
  const pixels = height * width;
  if (latents.length !== channels * pixels) {
    throw new InvalidArgumentError({ argument: 'latents', value: latents.length, message: `\`latents\` must hold ${channels}×${height}×${width} = ${channels * pixels} values for that shape, got ${latents.length}` });
  }
  const data = new Uint8Array(pixels * 3);
  for (let pixel = 0; pixel < pixels; pixel++) {
    for (let color = 0; color < 3; color++) {
      let value = bias[color]!;
      for (let channel = 0; channel < channels; channel++) value += latents[channel * pixels + pixel]! * factors[channel]![color]!;
      const unit = (value + 1) / 2;
      data[pixel * 3 + color] = Math.round((unit < 0 ? 0 : unit > 1 ? 1 : unit) * 255);
    }
  }
  return { data, width, height };
}
