// Outpainting canvas: grows an image on the sides asked for and marks the new area for the inpainting pipeline.
import sharp from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { checkDimension, checkRgbImage } from './image-input.js';
import type { RgbImage } from './rgb-image.js';

/** Pixels to add on each side of the image. */
export interface Extension {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

const sides: readonly (keyof Extension)[] = ['left', 'right', 'top', 'bottom'];

/**
 * Pads the canvas for outpainting. New pixels repeat the nearest edge (sharp `extendWith: 'copy'`),
 * which gives the model colours that continue the picture rather than a flat border to preserve.
 * If the result is not a multiple of `multiple` on a side, the right (or bottom) extension grows,
 * or the left (top) one when that is the only side asked on that axis; `adjusted` then says so and
 * `extension` holds what was really added. The mask is 255 over new pixels, 0 over the original,
 * which lands byte for byte at (left, top).
 */
export async function extendCanvas(
  image: RgbImage,
  extension: Extension,
  multiple: number,
): Promise<{ image: RgbImage; mask: Uint8Array; extension: Extension; adjusted: boolean }> {
  checkRgbImage(image, 'image');
  checkDimension(multiple, 'multiple');
  for (const side of sides) {
    const value = extension[side];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError({
        argument: 'extend',
        value: extension,
        message: `\`extend\` ${side} must be a whole number of pixels, 0 or more, got ${String(value)}`,
      });
    }
  }
  if (sides.every((side) => extension[side] === 0)) {
    throw new InvalidArgumentError({
      argument: 'extend',
      value: extension,
      message: '`extend` adds no pixels; give at least one side above 0, e.g. right=256',
    });
  }

  const used: Extension = { ...extension };
  const widthShortfall = shortfall(image.width + used.left + used.right, multiple);
  if (used.left > 0 && used.right === 0) used.left += widthShortfall;
  else used.right += widthShortfall;
  const heightShortfall = shortfall(image.height + used.top + used.bottom, multiple);
  if (used.top > 0 && used.bottom === 0) used.top += heightShortfall;
  else used.bottom += heightShortfall;

  const { data, info } = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  })
    .extend({ ...used, extendWith: 'copy' })
    .raw()
    .toBuffer({ resolveWithObject: true });

  const mask = new Uint8Array(info.width * info.height).fill(255);
  for (let y = used.top; y < used.top + image.height; y++) mask.fill(0, y * info.width + used.left, y * info.width + used.left + image.width);
  return {
    image: { data: new Uint8Array(data), width: info.width, height: info.height },
    mask,
    extension: used,
    adjusted: widthShortfall > 0 || heightShortfall > 0,
  };
}

function shortfall(size: number, multiple: number): number {
  return (multiple - (size % multiple)) % multiple;
}
