// Turns a call's editing options (images, mask, extend, fit) into the pixels the engine's edit pipelines take.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { RgbImage } from '../../engine/image/rgb-image.js';
import { cropImage, fitImage, padToMultiple, readImage } from '../../engine/image/image-input.js';
import { blurMask, compositeImages, maskCoverage, readMask } from '../../engine/image/mask.js';
import { extendCanvas } from '../../engine/image/outpaint.js';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { EditSettings } from '../../spec/image-model-result.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { checkDimension } from './local-call-validation.js';

export type EditOperation = 'image-to-image' | 'inpaint' | 'outpaint';

export interface PreparedEdit {
  operation: EditOperation;
  /** The input at the size the model works at (multiples of the VAE scale). */
  image: RgbImage;
  /** One byte per pixel of `image`, 255 = regenerate (inpainting and outpainting). */
  mask?: Uint8Array;
  /** The mask to paste the result back with (feathered when `maskBlur` is set); absent when not compositing. */
  compositeMask?: Uint8Array;
  /** The size to crop the result to when the input was padded to a multiple of the VAE scale. */
  crop?: { width: number; height: number };
  /** The mask selects nothing: the input is the result. */
  nothingToEdit: boolean;
  /** For the record; `strength` is filled in by the caller. */
  settings: Omit<EditSettings, 'strength'>;
  warnings: ImageModelWarning[];
}

async function sha256Of(source: Uint8Array | string): Promise<string> {
  const bytes = typeof source === 'string' ? await readFile(source).catch(() => undefined) : source;
  return bytes ? `sha256:${createHash('sha256').update(bytes).digest('hex')}` : 'unreadable';
}

/** A one-channel mask as an RgbImage (grey in every channel), so the image operations apply to it unchanged. */
const maskAsImage = (mask: Uint8Array, width: number, height: number): RgbImage => ({ data: Uint8Array.from({ length: mask.length * 3 }, (_, i) => mask[Math.floor(i / 3)]!), width, height });
const imageAsMask = (image: RgbImage): Uint8Array => Uint8Array.from({ length: image.width * image.height }, (_, i) => image.data[i * 3]!);

/**
 * Reads and shapes the editing inputs; undefined for plain text-to-image. The output size is the
 * input's (grown by `extend`) unless width/height are given; inputs whose sides are not multiples of
 * `multiple` are padded by repeating their edges and the result cropped back, so the output keeps the
 * input's exact size and pixels.
 */
export async function prepareEdit(options: ImageModelCallOptions, limits: { maxInputPixels: number; multiple: number }): Promise<PreparedEdit | undefined> {
  const source = options.images?.[0];
  if (source === undefined) {
    for (const setting of ['mask', 'extend', 'strength', 'fit'] as const) {
      if (options[setting] !== undefined) throw new InvalidArgumentError({ argument: setting, value: options[setting], message: `\`${setting}\` edits an input image: pass the image as \`images\` (CLI: --image PATH)` });
    }
    return undefined;
  }
  if (options.mask !== undefined && options.extend !== undefined) {
    throw new InvalidArgumentError({ argument: 'extend', value: options.extend, message: '`extend` builds its own mask from the new area; give either `mask` (inpainting) or `extend` (outpainting), not both' });
  }
  const warnings: ImageModelWarning[] = [];
  if ((options.images?.length ?? 0) > 1) warnings.push({ type: 'unsupported-setting', setting: 'images', details: `the local engine edits one image; used the first of ${options.images!.length}` });
  const { maxInputPixels, multiple } = limits;
  const input = await readImage(source, { field: 'images[0]', maxPixels: maxInputPixels });
  let image: RgbImage = { data: input.data, width: input.width, height: input.height };
  if (input.alpha && options.mask === undefined) {
    warnings.push({ type: 'other', message: 'the input image has transparent pixels; its transparency was ignored (to repaint the transparent area, pass the same file as `mask` with maskConvention `alpha`)' });
  }
  const settings: Omit<EditSettings, 'strength'> = { image: await sha256Of(source) };

  // Mask: read in its convention (detected and reported, or given), at the input's size.
  let mask: Uint8Array | undefined;
  let operation: EditOperation = 'image-to-image';
  if (options.mask !== undefined) {
    const read = await readMask(options.mask, { width: image.width, height: image.height, convention: options.maskConvention, maxPixels: maxInputPixels });
    mask = read.mask;
    operation = 'inpaint';
    Object.assign(settings, { mask: await sha256Of(options.mask), maskConvention: read.convention, maskConventionDetected: read.detected });
    if (read.detected) warnings.push({ type: 'other', message: `mask convention detected from the file: ${read.convention === 'alpha' ? 'alpha (transparent = regenerate)' : 'luminance (white = regenerate)'}; set maskConvention to choose it explicitly` });
  }

  // Outpainting: grow the canvas (edges repeated into the new area) and mask the new area.
  if (options.extend !== undefined) {
    if (options.width !== undefined || options.height !== undefined) {
      throw new InvalidArgumentError({ argument: 'extend', value: options.extend, message: '`extend` sets the output size (input plus the added sides); leave out `width` and `height`' });
    }
    const extension = { left: options.extend.left ?? 0, right: options.extend.right ?? 0, top: options.extend.top ?? 0, bottom: options.extend.bottom ?? 0 };
    for (const [side, value] of Object.entries(extension)) {
      if (!Number.isInteger(value) || value < 0) throw new InvalidArgumentError({ argument: `extend.${side}`, value, message: `\`extend.${side}\` must be a whole number of pixels ≥ 0, got ${value}` });
    }
    if (Object.values(extension).every((value) => value === 0)) throw new InvalidArgumentError({ argument: 'extend', value: options.extend, message: '`extend` adds nothing: give at least one side, e.g. {"right": 128}' });
    const grownPixels = (image.width + extension.left + extension.right) * (image.height + extension.top + extension.bottom);
    if (grownPixels > maxInputPixels) {
      throw new InvalidArgumentError({ argument: 'extend', value: options.extend, message: `\`extend\` makes a ${image.width + extension.left + extension.right}x${image.height + extension.top + extension.bottom} canvas, over the ${maxInputPixels}-pixel limit (\`maxInputPixels\`, PIXELPIPE_MAX_INPUT_PIXELS); extend by less or raise the limit` });
    }
    const extended = await extendCanvas(image, extension, multiple);
    if (extended.adjusted) warnings.push({ type: 'adjusted-setting', setting: 'extend', details: `grew to ${JSON.stringify(extended.extension)} so the canvas is a multiple of ${multiple} pixels` });
    image = extended.image;
    mask = extended.mask;
    operation = 'outpaint';
    settings.extend = extended.extension;
  }

  // Size: fit to the asked width/height, or keep the input's size (padding to the model's multiple, cropped back later).
  const width = options.width ?? image.width;
  const height = options.height ?? image.height;
  if (width !== image.width || height !== image.height) {
    checkDimension('width', width, multiple);
    checkDimension('height', height, multiple);
    const before = image;
    image = await fitImage(before, width, height, options.fit);
    // `contain` pads the mask with grey 128, which counts as "regenerate": the padding is painted, not left grey.
    if (mask) mask = imageAsMask(await fitImage(maskAsImage(mask, before.width, before.height), width, height, options.fit));
    settings.fit = `${options.fit ?? 'resize'} ${before.width}x${before.height} → ${width}x${height}`;
  }
  let crop: { width: number; height: number } | undefined;
  if (image.width % multiple !== 0 || image.height % multiple !== 0) {
    const padded = padToMultiple(image, multiple);
    crop = padded.crop;
    if (mask) mask = imageAsMask(padToMultiple(maskAsImage(mask, crop.width, crop.height), multiple));
    image = { data: padded.data, width: padded.width, height: padded.height };
  }

  // What the mask asks for: nothing (return the input), everything (a whole-image repaint), or a region.
  let nothingToEdit = false;
  if (mask) {
    const coverage = maskCoverage(mask);
    if (coverage === 0) {
      nothingToEdit = true;
      warnings.push({ type: 'other', message: 'the mask selects no pixel (all black / fully opaque): nothing to edit, the input image is returned unchanged' });
    } else if (coverage === 1 && operation === 'inpaint') {
      warnings.push({ type: 'other', message: 'the mask selects every pixel (all white / fully transparent): the whole image is repainted, as image-to-image at this strength' });
    }
  }
  const composite = (operation !== 'image-to-image') && options.composite !== false;
  let compositeMask: Uint8Array | undefined;
  if (mask && composite) {
    const blur = options.maskBlur ?? 0;
    if (!Number.isFinite(blur) || blur < 0 || blur > 256) throw new InvalidArgumentError({ argument: 'maskBlur', value: blur, message: `\`maskBlur\` must be a number of pixels from 0 to 256, got ${blur}` });
    // The feather fades inward only (blurred ∧ mask): pixels the mask keeps stay exactly the input's.
    compositeMask = blur > 0 ? (await blurMask(mask, image.width, image.height, blur)).map((value, i) => Math.min(value, mask![i]!)) : mask;
    if (blur > 0) settings.maskBlur = blur;
  }
  if (mask) settings.composite = composite;
  return { operation, image, mask, compositeMask, crop, nothingToEdit, settings, warnings };
}

/** The generated image finished as the edit asks: kept pixels pasted back exactly, padding cropped away. */
export function finishEdit(edit: PreparedEdit, generated: RgbImage): RgbImage {
  const composited = edit.compositeMask ? compositeImages(edit.image, generated, edit.compositeMask) : generated;
  return edit.crop ? cropImage(composited, edit.crop.width, edit.crop.height) : composited;
}
