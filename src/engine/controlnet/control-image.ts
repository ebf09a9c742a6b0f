// A control image made ready for a ControlNet: decoded, resized to the output size (with a warning), preprocessed, and as [3, H, W] floats in [0, 1].
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { RgbImage } from '../image/rgb-image.js';
import { canny, scribble, type CannyOptions, type ScribbleOptions } from './canny.js';

/** How a control image is turned into the ControlNet's input: `image` passes a ready one (depth, pose, edges) through as is. */
export type ControlType = 'canny' | 'scribble' | 'image';
export const controlTypes: readonly ControlType[] = ['canny', 'scribble', 'image'];

export interface PreparedControlImage {
  /** [3, H, W] in [0, 1], as diffusers' control image processor gives it (no normalisation to [-1, 1]). */
  image: { data: Float32Array; width: number; height: number };
  /** The preprocessed image as RGB bytes, e.g. to save beside the output. */
  rgb: RgbImage;
  /** sha256 (hex) of the control image as given (the file's bytes), before any preprocessing. */
  sha256: string;
  /** Set when the image was resized to the output size. */
  warning?: string;
}

export interface ControlImageOptions {
  type: ControlType;
  width: number;
  height: number;
  canny?: CannyOptions;
  scribble?: ScribbleOptions;
  /** Largest image, in pixels, decoded (refused beyond, before decoding). */
  maxInputPixels?: number;
}

/**
 * Reads a control image (a path or encoded bytes), resizes it to the output size when it differs
 * (Lanczos, stretched; the warning names both sizes), then runs the preprocessor at that size.
 */
export async function prepareControlImage(source: string | Uint8Array, options: ControlImageOptions): Promise<PreparedControlImage> {
  const { type, width, height, maxInputPixels = 4096 * 4096 } = options;
  if (!controlTypes.includes(type)) {
    throw new InvalidArgumentError({ argument: 'controls.type', value: type, message: `control \`type\` must be one of ${controlTypes.join(', ')}, got ${JSON.stringify(type)}` });
  }
  const label = typeof source === 'string' ? source : 'the control image';
  let bytes: Uint8Array;
  try {
    bytes = typeof source === 'string' ? await readFile(source) : source;
  } catch (error) {
    throw new InvalidArgumentError({ argument: 'controls.image', value: source, message: `control image ${label} cannot be read: ${(error as Error).message}`, cause: error });
  }
  let info: { width?: number; height?: number };
  try {
    info = await sharp(bytes).metadata();
  } catch (error) {
    throw new InvalidArgumentError({ argument: 'controls.image', value: label, message: `control image ${label} is not an image sharp can decode (PNG, JPEG, WebP): ${(error as Error).message}`, cause: error });
  }
  if ((info.width ?? 0) * (info.height ?? 0) > maxInputPixels) {
    throw new InvalidArgumentError({ argument: 'controls.image', value: label, message: `control image ${label} is ${info.width}×${info.height}, more than ${maxInputPixels} pixels; give a smaller one` });
  }
  let pipeline = sharp(bytes).flatten({ background: '#000000' }).toColourspace('srgb');
  let warning: string | undefined;
  if (info.width !== width || info.height !== height) {
    pipeline = pipeline.resize(width, height, { fit: 'fill', kernel: 'lanczos3' });
    warning = `the control image ${label} is ${info.width}×${info.height}; it was resized to the output size ${width}×${height}`;
  }
  const { data } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const decoded: RgbImage = { data: new Uint8Array(data), width, height };
  const rgb = type === 'canny' ? canny(decoded, options.canny) : type === 'scribble' ? scribble(decoded, options.scribble) : decoded;
  const planes = new Float32Array(3 * width * height);
  const cells = width * height;
  for (let i = 0; i < cells; i++) for (let c = 0; c < 3; c++) planes[c * cells + i] = rgb.data[3 * i + c]! / 255;
  return { image: { data: planes, width, height }, rgb, sha256: createHash('sha256').update(bytes).digest('hex'), ...(warning ? { warning } : {}) };
}
