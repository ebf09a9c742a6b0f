// Inpainting masks: reading them in either convention, feathering, binarising and compositing the result back.
import sharp from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { checkRgbImage, decodeImageWithAlpha } from './image-input.js';
import type { RgbImage } from './rgb-image.js';

/**
 * How a mask file marks the pixels to change. `luminance`: white (255) edits, black keeps
 * (A1111, diffusers). `alpha`: transparent edits, opaque keeps (OpenAI images/edits).
 */
export type MaskConvention = 'luminance' | 'alpha';

export const maskConventions: readonly MaskConvention[] = ['luminance', 'alpha'];

/** A mask value at or above this is "edit": diffusers' `mask >= 0.5` on values/255. */
const editThreshold = 128;

/** Colour channels count as a black-and-white drawing when every channel sits this close to 0 or 255. */
const twoToneTolerance = 32;

/**
 * Luminance and alpha readings that share at least this fraction of their combined edit area agree,
 * so a few anti-aliased edge pixels do not make a mask ambiguous.
 */
const agreementThreshold = 0.9;

const conventionHelp =
  "'luminance' (white = change, the A1111/diffusers convention) or 'alpha' (transparent = change, the OpenAI images/edits convention)";

/**
 * Reads a mask as one byte a pixel, 255 = edit. Without an explicit `convention`, a file with an
 * alpha channel that is not fully opaque is read by its alpha, anything else by its luminance
 * (sharp's sRGB → b-w conversion); a file whose alpha and black-and-white colours disagree is refused
 * rather than guessed.
 */
export async function readMask(
  source: Uint8Array | string,
  options: { width: number; height: number; convention?: MaskConvention; maxPixels: number },
): Promise<{ mask: Uint8Array; convention: MaskConvention; detected: boolean }> {
  const { width, height, convention, maxPixels } = options;
  if (convention !== undefined && !maskConventions.includes(convention)) {
    throw new InvalidArgumentError({
      argument: 'maskConvention',
      value: convention,
      message: `\`maskConvention\` must be ${conventionHelp}, got ${JSON.stringify(convention)}`,
    });
  }
  const decoded = await decodeImageWithAlpha(source, { field: 'mask', maxPixels });
  const described = typeof source === 'string' ? source : `<${source.byteLength} bytes>`;
  if (decoded.width !== width || decoded.height !== height) {
    throw new InvalidArgumentError({
      argument: 'mask',
      value: described,
      message: `\`mask\` is ${decoded.width}x${decoded.height} but \`image\` is ${width}x${height}; give a mask the size of the image`,
    });
  }
  const { alpha } = decoded;

  if (convention === 'alpha') {
    if (alpha === undefined) {
      throw new InvalidArgumentError({
        argument: 'maskConvention',
        value: convention,
        message:
          `\`maskConvention\` is 'alpha' but \`mask\` (${described}) has no alpha channel; ` +
          `give a mask that is transparent where the image should change, or set \`maskConvention\` to 'luminance' (white = change)`,
      });
    }
    return { mask: invert(alpha), convention, detected: false };
  }
  if (convention === 'luminance') return { mask: await luminance(decoded), convention, detected: false };

  if (alpha === undefined || alpha.every((value) => value === 255)) {
    return { mask: await luminance(decoded), convention: 'luminance', detected: true };
  }
  const alphaMask = invert(alpha);
  if (isTwoTone(decoded.data) && !readingsAgree(await luminance(decoded), alphaMask)) {
    throw new InvalidArgumentError({
      argument: 'maskConvention',
      value: undefined,
      message:
        `\`mask\` (${described}) is a black-and-white drawing with a transparency channel, and the two disagree about which pixels to change; ` +
        `set \`maskConvention\` to ${conventionHelp}`,
    });
  }
  return { mask: alphaMask, convention: 'alpha', detected: true };
}

/** Fraction of pixels that would be edited (value ≥ 128); 0 for an all-black mask, 1 for all-white. */
export function maskCoverage(mask: Uint8Array): number {
  if (mask.length === 0) return 0;
  let edited = 0;
  for (const value of mask) if (value >= editThreshold) edited++;
  return edited / mask.length;
}

/**
 * Feathers a mask with a Gaussian whose sigma equals `radius`, the meaning diffusers' `blur_factor`
 * (PIL GaussianBlur) and A1111's "mask blur" give it, so settings carry over; the visible fade spans
 * about ±2·radius. (sharp's own docs suggest sigma = 1 + radius/2, which would feather half as far.)
 * Radius 0 returns an unchanged copy, as does a radius under sharp's minimum sigma of 0.3, where the
 * kernel would move no value by more than about 1/255.
 */
export async function blurMask(mask: Uint8Array, width: number, height: number, radius: number): Promise<Uint8Array> {
  checkMask(mask, width, height);
  if (!Number.isFinite(radius) || radius < 0 || radius > 1000) {
    throw new InvalidArgumentError({
      argument: 'radius',
      value: radius,
      message: `\`radius\` must be between 0 and 1000 pixels, got ${String(radius)}; 0 keeps the mask's hard edges`,
    });
  }
  if (radius < 0.3) return mask.slice();
  const blurred = await sharp(Buffer.from(mask.buffer, mask.byteOffset, mask.byteLength), { raw: { width, height, channels: 1 } })
    // minAmplitude 0.01 keeps the kernel out to ~3 sigma (sharp's default 0.2 cuts it at ~1.8 sigma);
    // the integer kernel does not sum to one (a flat 255 comes back 247 at sigma 0.5), hence float.
    .blur({ sigma: radius, minAmplitude: 0.01, precision: 'float' })
    .toColourspace('b-w')
    // Float out and rounding here, because libvips truncates when casting back to bytes, darkening the feather.
    .raw({ depth: 'float' })
    .toBuffer();
  // A Float32Array view needs a 4-byte-aligned offset; a fresh copy starts at 0.
  const aligned = blurred.byteOffset % 4 === 0 ? blurred : new Uint8Array(blurred);
  const values = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
  const feathered = new Uint8Array(values.length);
  for (let index = 0; index < values.length; index++) feathered[index] = Math.min(255, Math.max(0, Math.round(values[index])));
  return feathered;
}

/** diffusers' rule on values/255: below 0.5 → 0 (keep), 0.5 and above → 1 (edit). */
export function binarizeMask(mask: Uint8Array): Float32Array {
  const binary = new Float32Array(mask.length);
  for (let index = 0; index < mask.length; index++) binary[index] = mask[index] >= editThreshold ? 1 : 0;
  return binary;
}

/**
 * Puts the generated pixels back into the original through the mask: where the mask is 0 the
 * original bytes come back exactly (the VAE round trip would otherwise soften untouched areas),
 * where it is 255 the generated ones, and in between round((m·g + (255−m)·o) / 255).
 */
export function compositeImages(original: RgbImage, generated: RgbImage, mask: Uint8Array): RgbImage {
  checkRgbImage(original, 'original');
  checkRgbImage(generated, 'generated');
  if (generated.width !== original.width || generated.height !== original.height) {
    throw new InvalidArgumentError({
      argument: 'generated',
      value: `${generated.width}x${generated.height}`,
      message: `\`generated\` is ${generated.width}x${generated.height} but \`original\` is ${original.width}x${original.height}; give images of the same size`,
    });
  }
  checkMask(mask, original.width, original.height);
  const data = new Uint8Array(original.data.length);
  for (let pixel = 0; pixel < mask.length; pixel++) {
    const weight = mask[pixel];
    for (let channel = pixel * 3; channel < pixel * 3 + 3; channel++) {
      const kept = original.data[channel];
      if (weight === 0) data[channel] = kept;
      else if (weight === 255) data[channel] = generated.data[channel];
      // The numerator is an integer and 255 is odd, so the quotient never ends in exactly .5: no tie rule needed.
      else data[channel] = Math.round((weight * generated.data[channel] + (255 - weight) * kept) / 255);
    }
  }
  return { data, width: original.width, height: original.height };
}

function checkMask(mask: Uint8Array, width: number, height: number): void {
  if (mask.length === width * height) return;
  throw new InvalidArgumentError({
    argument: 'mask',
    value: `${mask.length} bytes`,
    message: `\`mask\` has ${mask.length} values but the image is ${width}x${height} (${width * height} pixels); give one byte a pixel`,
  });
}

async function luminance(image: RgbImage): Promise<Uint8Array> {
  // sharp's b-w conversion returns grey pixels unchanged, so grayscale masks read back byte for byte.
  const grey = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .toColourspace('b-w')
    .raw()
    .toBuffer();
  return new Uint8Array(grey);
}

function invert(alpha: Uint8Array): Uint8Array {
  const mask = new Uint8Array(alpha.length);
  for (let index = 0; index < alpha.length; index++) mask[index] = 255 - alpha[index];
  return mask;
}

/** True when every pixel is black or white (within tolerance) and both appear. */
function isTwoTone(rgb: Uint8Array): boolean {
  let black = false;
  let white = false;
  for (let channel = 0; channel < rgb.length; channel += 3) {
    const low = Math.min(rgb[channel], rgb[channel + 1], rgb[channel + 2]);
    const high = Math.max(rgb[channel], rgb[channel + 1], rgb[channel + 2]);
    if (high <= twoToneTolerance) black = true;
    else if (low >= 255 - twoToneTolerance) white = true;
    else return false;
  }
  return black && white;
}

/** Compares the edit areas of two readings: overlap over union, so small masks count as much as large ones. */
function readingsAgree(first: Uint8Array, second: Uint8Array): boolean {
  let union = 0;
  let both = 0;
  for (let index = 0; index < first.length; index++) {
    const inFirst = first[index] >= editThreshold;
    const inSecond = second[index] >= editThreshold;
    if (inFirst || inSecond) union++;
    if (inFirst && inSecond) both++;
  }
  return union === 0 || both / union >= agreementThreshold;
}
