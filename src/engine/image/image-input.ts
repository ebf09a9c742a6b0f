// Reads user-supplied images (PNG, JPEG, WebP) into RGB bytes and fits them to the size a pipeline works at.
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { RgbImage } from './rgb-image.js';

/** sharp's names: `cover` crops to fill, `contain` pads to fit, `fill` stretches. */
export type FitMode = 'cover' | 'contain' | 'fill';

export const fitModes: readonly FitMode[] = ['cover', 'contain', 'fill'];

/**
 * `contain` pads with mid-grey rather than black or copied edges: 128 maps to ~0 once pixels are
 * scaled to [-1, 1] for the VAE, so the padding pulls img2img towards no colour in particular.
 */
export const containPadding = { r: 128, g: 128, b: 128 } as const;

const readableFormats: Record<string, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP' };
const readableFormatList = 'PNG, JPEG or WebP';

/**
 * Decodes an image file or buffer to sRGB bytes, upright (EXIF orientation applied), with the alpha
 * channel only when the file has one that is not fully opaque.
 */
export async function readImage(
  source: Uint8Array | string,
  options: { field: string; maxPixels: number },
): Promise<RgbImage & { alpha?: Uint8Array }> {
  const { alpha, ...image } = await decodeImageWithAlpha(source, options);
  if (alpha === undefined || alpha.every((value) => value === 255)) return image;
  return { ...image, alpha };
}

/**
 * Like `readImage`, but keeps the alpha channel whenever the file has one, even a fully opaque one:
 * mask reading needs to tell "no alpha channel" from "opaque alpha channel".
 */
export async function decodeImageWithAlpha(
  source: Uint8Array | string,
  { field, maxPixels }: { field: string; maxPixels: number },
): Promise<RgbImage & { alpha: Uint8Array | undefined }> {
  if (!Number.isSafeInteger(maxPixels) || maxPixels <= 0) {
    // sharp reads 0 as "no limit", so a zero or negative setting must not reach it.
    throw new InvalidArgumentError({
      argument: 'maxInputPixels',
      value: maxPixels,
      message: `\`maxInputPixels\` must be a positive integer, got ${String(maxPixels)}; give a pixel count such as 16777216 (4096x4096)`,
    });
  }
  const described = describeSource(source);
  const input = typeof source === 'string' ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);

  // The header alone gives the size, so an oversized image is refused before any pixel is decoded,
  // with a message that can say how large it is.
  let metadata: Metadata;
  try {
    metadata = await sharp(input, { limitInputPixels: false }).metadata();
  } catch (error) {
    throw unreadable(field, source, described, error);
  }
  const formatName = metadata.format === undefined ? undefined : readableFormats[metadata.format];
  if (formatName === undefined) {
    throw new InvalidArgumentError({
      argument: field,
      value: described,
      message: `\`${field}\` (${described}) is ${metadata.format === undefined ? 'in an unknown format' : `a ${metadata.format.toUpperCase()} file`}; give a ${readableFormatList} file`,
    });
  }
  const width = metadata.width ?? 0;
  const height = metadata.height ?? 0;
  if (width * height > maxPixels) throw tooLarge(field, described, width, height, maxPixels);

  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // limitInputPixels repeats the check inside the decoder, which is what stops a file whose
    // header lies; failOn 'warning' (sharp's default, stated so it stays) turns truncation into an error.
    decoded = await sharp(input, { limitInputPixels: maxPixels, failOn: 'warning' })
      .rotate()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (error instanceof Error && /pixel limit/i.test(error.message)) throw tooLarge(field, described, width, height, maxPixels);
    throw unreadable(field, source, described, error);
  }
  const { data, info } = decoded;
  if (info.channels === 3) return { data: new Uint8Array(data), width: info.width, height: info.height, alpha: undefined };
  const pixelCount = info.width * info.height;
  const rgb = new Uint8Array(pixelCount * 3);
  const alpha = new Uint8Array(pixelCount);
  for (let pixel = 0; pixel < pixelCount; pixel++) {
    rgb[pixel * 3] = data[pixel * 4];
    rgb[pixel * 3 + 1] = data[pixel * 4 + 1];
    rgb[pixel * 3 + 2] = data[pixel * 4 + 2];
    alpha[pixel] = data[pixel * 4 + 3];
  }
  return { data: rgb, width: info.width, height: info.height, alpha };
}

/**
 * Resizes to `width`x`height`. The same size comes back as the very same object (no resampling);
 * the same aspect ratio, to within a pixel of rounding, is resized with lanczos3; any other ratio
 * needs `fit`, because cropping, padding and stretching all change the picture.
 */
export async function fitImage(image: RgbImage, width: number, height: number, fit?: FitMode): Promise<RgbImage> {
  checkRgbImage(image, 'image');
  checkDimension(width, 'width');
  checkDimension(height, 'height');
  if (fit !== undefined && !fitModes.includes(fit)) {
    throw new InvalidArgumentError({
      argument: 'fit',
      value: fit,
      message: `\`fit\` must be one of ${fitModes.map((mode) => `'${mode}'`).join(', ')}, got ${JSON.stringify(fit)}`,
    });
  }
  if (image.width === width && image.height === height) return image;
  const sameAspect = hasSameAspect(image.width, image.height, width, height);
  if (!sameAspect && fit === undefined) {
    throw new InvalidArgumentError({
      argument: 'fit',
      value: fit,
      message:
        `\`image\` is ${image.width}x${image.height} but the output is ${width}x${height}, a different aspect ratio; ` +
        `set \`fit\` to 'cover' (crop the centre to fill), 'contain' (pad with mid-grey to fit) or 'fill' (stretch)`,
    });
  }
  const { data, info } = await sharp(toBuffer(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize({
      width,
      height,
      fit: sameAspect ? 'fill' : fit,
      position: 'centre',
      kernel: 'lanczos3',
      background: containPadding,
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/**
 * Pads right and bottom so both sides are multiples of `multiple` (VAEs and UNets need multiples of 8).
 * Edge pixels are repeated rather than filled with a colour so the padding continues the picture
 * instead of adding an edge the model would try to respect. `crop` is the size to cut back to.
 */
export function padToMultiple(image: RgbImage, multiple: number): RgbImage & { crop: { width: number; height: number } } {
  checkRgbImage(image, 'image');
  checkDimension(multiple, 'multiple');
  const width = Math.ceil(image.width / multiple) * multiple;
  const height = Math.ceil(image.height / multiple) * multiple;
  const crop = { width: image.width, height: image.height };
  if (width === image.width && height === image.height) return { data: image.data.slice(), width, height, crop };
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sourceRow = Math.min(y, image.height - 1) * image.width * 3;
    const targetRow = y * width * 3;
    data.set(image.data.subarray(sourceRow, sourceRow + image.width * 3), targetRow);
    const last = sourceRow + (image.width - 1) * 3;
    for (let x = image.width; x < width; x++) data.set(image.data.subarray(last, last + 3), targetRow + x * 3);
  }
  return { data, width, height, crop };
}

/** Keeps the top-left `width`x`height`: undoes `padToMultiple`. */
export function cropImage(image: RgbImage, width: number, height: number): RgbImage {
  checkRgbImage(image, 'image');
  checkDimension(width, 'width');
  checkDimension(height, 'height');
  if (width > image.width || height > image.height) {
    throw new InvalidArgumentError({
      argument: 'crop',
      value: `${width}x${height}`,
      message: `\`crop\` ${width}x${height} is larger than the ${image.width}x${image.height} image; give a size no larger than the image`,
    });
  }
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sourceRow = y * image.width * 3;
    data.set(image.data.subarray(sourceRow, sourceRow + width * 3), y * width * 3);
  }
  return { data, width, height };
}

/** Throws unless `image` holds width×height×3 bytes with positive integer sides. */
export function checkRgbImage(image: RgbImage, argument: string): void {
  checkDimension(image.width, `${argument}.width`);
  checkDimension(image.height, `${argument}.height`);
  const expected = image.width * image.height * 3;
  if (image.data.length !== expected) {
    throw new InvalidArgumentError({
      argument,
      value: `${image.data.length} bytes`,
      message: `\`${argument}\` is ${image.width}x${image.height} so needs ${expected} RGB bytes, got ${image.data.length}; give interleaved RGB, 3 bytes a pixel`,
    });
  }
}

export function checkDimension(value: number, argument: string): void {
  if (Number.isSafeInteger(value) && value > 0) return;
  throw new InvalidArgumentError({
    argument,
    value,
    message: `\`${argument}\` must be a positive integer, got ${String(value)}`,
  });
}

/** True when one side, scaled by the other side's factor, lands within one pixel of the target. */
function hasSameAspect(sourceWidth: number, sourceHeight: number, width: number, height: number): boolean {
  // |height - sourceHeight·width/sourceWidth| < 1, or the same with the sides swapped, without division.
  const crossDifference = Math.abs(height * sourceWidth - sourceHeight * width);
  return crossDifference < sourceWidth || crossDifference < sourceHeight;
}

function describeSource(source: Uint8Array | string): string {
  return typeof source === 'string' ? source : `<${source.byteLength} bytes>`;
}

function toBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function tooLarge(field: string, described: string, width: number, height: number, maxPixels: number): InvalidArgumentError {
  return new InvalidArgumentError({
    argument: field,
    value: described,
    message:
      `\`${field}\` (${described}) is ${width}x${height} (${width * height} pixels), over the limit of ${maxPixels} pixels; ` +
      `give a smaller image, or raise \`maxInputPixels\` if you trust its source`,
  });
}

function unreadable(field: string, source: Uint8Array | string, described: string, cause: unknown): InvalidArgumentError {
  const reason = cause instanceof Error ? cause.message.trim().replace(/:$/, '') : String(cause);
  const what = typeof source === 'string' ? `the file ${described}` : described;
  return new InvalidArgumentError({
    argument: field,
    value: described,
    message: `\`${field}\` could not be read from ${what} (${reason}); give a complete ${readableFormatList} image`,
    cause,
  });
}
