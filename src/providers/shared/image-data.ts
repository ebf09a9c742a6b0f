// Image bytes in and out of hosted APIs: media types from magic bytes, input files, masks in each API's convention.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import sharp from 'sharp';
import type { ImageInput } from '../../spec/image-model-call-options.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { decodeImageWithAlpha } from '../../engine/image/image-input.js';
import { readMask, type MaskConvention } from '../../engine/image/mask.js';

export type ImageMediaType = 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif';

/** The media type the bytes really are, whatever a header or file name claims. */
export function detectImageMediaType(bytes: Uint8Array): ImageMediaType | undefined {
  const starts = (...signature: number[]) => signature.every((value, index) => bytes[index] === value);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (starts(0x52, 0x49, 0x46, 0x46) && String.fromCharCode(...bytes.subarray(8, 12)) === 'WEBP') return 'image/webp';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'image/gif';
  return undefined;
}

export const extensionOf: Record<ImageMediaType, string> = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'image/gif': 'gif' };

export function sha256Of(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** An input image read once: its bytes for upload, and what the record and the API need to know. */
export interface InputImage {
  bytes: Uint8Array;
  mediaType: ImageMediaType;
  filename: string;
  width: number;
  height: number;
  sha256: string;
  /** True when the file has an alpha channel that is not fully opaque. */
  hasTransparency: boolean;
}

export async function readInputImage(input: ImageInput, field: string, maxPixels: number): Promise<InputImage> {
  let bytes: Uint8Array;
  try {
    bytes = typeof input === 'string' ? new Uint8Array(await readFile(input)) : input;
  } catch (cause) {
    throw new InvalidArgumentError({ argument: field, value: input, cause, message: `\`${field}\` could not be read: ${(cause as Error).message}; give a PNG, JPEG or WebP file` });
  }
  const mediaType = detectImageMediaType(bytes);
  if (mediaType === undefined || mediaType === 'image/gif') {
    throw new InvalidArgumentError({ argument: field, value: typeof input === 'string' ? input : `<${bytes.byteLength} bytes>`, message: `\`${field}\` is not a PNG, JPEG or WebP image; convert it to one of those` });
  }
  // Decoding checks the pixel limit before the pixels are read, and catches truncated files.
  const decoded = await decodeImageWithAlpha(bytes, { field, maxPixels });
  const filename = typeof input === 'string' ? basename(input) : `${field.replace(/\W+/g, '-')}.${extensionOf[mediaType]}`;
  return { bytes, mediaType, filename, width: decoded.width, height: decoded.height, sha256: sha256Of(bytes), hasTransparency: decoded.alpha !== undefined && decoded.alpha.some((value) => value < 255) };
}

/** A mask read once, as one byte a pixel with 255 = edit, re-encodable in whatever convention an API wants. */
export interface InputMask {
  /** 255 where the image is to be regenerated, 0 where it is kept. */
  edit: Uint8Array;
  width: number;
  height: number;
  sha256: string;
  convention: MaskConvention;
  detected: boolean;
}

export async function readInputMask(input: ImageInput, image: InputImage, convention: MaskConvention | undefined, maxPixels: number): Promise<InputMask> {
  const bytes = typeof input === 'string' ? new Uint8Array(await readFile(input).catch((cause: Error) => {
    throw new InvalidArgumentError({ argument: 'mask', value: input, cause, message: `\`mask\` could not be read: ${cause.message}` });
  })) : input;
  const read = await readMask(bytes, { width: image.width, height: image.height, convention, maxPixels });
  return { edit: read.mask, width: image.width, height: image.height, sha256: sha256Of(bytes), convention: read.convention, detected: read.detected };
}

/**
 * The mask as a PNG in an API's convention: `alpha` (OpenAI: transparent = edit, on the input image's
 * pixels), `white-edits` (Stability, Firefly: white = edit) or `black-edits` (Ideogram: black = edit).
 */
export async function encodeMask(mask: InputMask, convention: 'alpha' | 'white-edits' | 'black-edits', image?: InputImage): Promise<Uint8Array> {
  const { width, height, edit } = mask;
  if (convention === 'alpha') {
    const rgb = image ? (await sharp(image.bytes).rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true })).data : Buffer.alloc(width * height * 3);
    const rgba = Buffer.alloc(width * height * 4);
    for (let pixel = 0; pixel < width * height; pixel += 1) {
      rgba[pixel * 4] = rgb[pixel * 3]!;
      rgba[pixel * 4 + 1] = rgb[pixel * 3 + 1]!;
      rgba[pixel * 4 + 2] = rgb[pixel * 3 + 2]!;
      rgba[pixel * 4 + 3] = edit[pixel]! >= 128 ? 0 : 255;
    }
    return new Uint8Array(await sharp(rgba, { raw: { width, height, channels: 4 } }).png().toBuffer());
  }
  const grey = Buffer.alloc(width * height);
  for (let pixel = 0; pixel < width * height; pixel += 1) grey[pixel] = (edit[pixel]! >= 128) === (convention === 'white-edits') ? 255 : 0;
  return new Uint8Array(await sharp(grey, { raw: { width, height, channels: 1 } }).png().toBuffer());
}

/** Width and height read from the encoded bytes' header. */
export async function imageSize(bytes: Uint8Array): Promise<{ width: number; height: number }> {
  const { width, height, autoOrient } = await sharp(bytes).metadata();
  return { width: autoOrient?.width ?? width ?? 0, height: autoOrient?.height ?? height ?? 0 };
}

export function decodeBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/^data:[^,]*,/, ''), 'base64'));
}

export function toDataUri(image: { bytes: Uint8Array; mediaType: string }): string {
  return `data:${image.mediaType};base64,${Buffer.from(image.bytes).toString('base64')}`;
}
