// Tiled upscaling: the image is cut into tiles, each read with a margin of context around it, upscaled,
// and only its core kept, so memory is bounded by the tile size whatever the image size.
// Cropping rather than blending: with the overlap at least the model's receptive margin, each kept pixel
// saw exactly the context it would in a whole-image run, so there is no seam to blend away. For models
// whose reach is wider than the overlap (Real-ESRGAN's is), this is what Real-ESRGAN's own tiling does.
import type { PlanarImage, Upscaler } from './upscaler.js';

/** 8-bit RGB, interleaved, row by row. */
export interface RgbImage {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface TileOptions {
  /** Core side of a tile in input pixels; 0 runs the whole image at once. Default: `defaultTileFor(scale)`. */
  tile?: number;
  /** Context read around each tile, in input pixels. Default: the model's receptive margin, else 16. */
  overlap?: number;
  /** Called after each tile. */
  onTile?: (done: number, total: number) => void;
}

/**
 * Tiles whose upscaled side is about 512 px (256 at x2, 128 at x4): the high-resolution activations,
 * the largest tensors of an ESRGAN-class model, stay near the same size at every scale, while the
 * overlap costs ×1.16 (x2) to ×1.34 (x4) in pixels read. Timings: docs/upscaling.md.
 */
export function defaultTileFor(scale: number): number {
  return Math.max(32, Math.round(512 / scale));
}
export const defaultOverlap = 16;

/** The overlap used when none is given: enough for seamless tiles when the model's reach is known. */
export function overlapFor(upscaler: Pick<Upscaler, 'receptiveMargin'>): number {
  return upscaler.receptiveMargin ?? defaultOverlap;
}

export async function upscaleTiled(upscaler: Upscaler, image: RgbImage, { tile = defaultTileFor(upscaler.scale), overlap = overlapFor(upscaler), onTile }: TileOptions = {}): Promise<RgbImage> {
  const { width, height } = image;
  const { scale, sizeMultiple } = upscaler;
  // On the model's grid: a pixel-unshuffling model then groups the same pixels in a tile as in the whole image.
  tile = Math.ceil(tile / sizeMultiple) * sizeMultiple;
  overlap = Math.ceil(overlap / sizeMultiple) * sizeMultiple;
  const tileWidth = tile > 0 ? Math.min(tile, width) : width;
  const tileHeight = tile > 0 ? Math.min(tile, height) : height;
  const output = new Uint8Array(width * scale * height * scale * 3);
  const columns = Math.ceil(width / tileWidth);
  const rows = Math.ceil(height / tileHeight);
  let done = 0;
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      // Core [x0, x1) × [y0, y1); the model reads it with `overlap` pixels of context on each side the image has.
      const x0 = column * tileWidth;
      const y0 = row * tileHeight;
      const x1 = Math.min(x0 + tileWidth, width);
      const y1 = Math.min(y0 + tileHeight, height);
      const left = Math.max(0, x0 - overlap);
      const top = Math.max(0, y0 - overlap);
      const right = Math.min(width, x1 + overlap);
      const bottom = Math.min(height, y1 + overlap);
      const upscaled = await upscaler.upscale(readTile(image, left, top, right - left, bottom - top, upscaler.sizeMultiple));
      writeCore(upscaled, output, width * scale, { x: (x0 - left) * scale, y: (y0 - top) * scale }, { x: x0 * scale, y: y0 * scale }, (x1 - x0) * scale, (y1 - y0) * scale);
      onTile?.(++done, rows * columns);
    }
  }
  return { data: output, width: width * scale, height: height * scale };
}

/** The region as planar floats in [0, 1], its sides padded up to `multiple` by repeating the last row and column. */
function readTile({ data, width }: RgbImage, left: number, top: number, tileWidth: number, tileHeight: number, multiple: number): PlanarImage {
  const paddedWidth = Math.ceil(tileWidth / multiple) * multiple;
  const paddedHeight = Math.ceil(tileHeight / multiple) * multiple;
  const plane = paddedWidth * paddedHeight;
  const planar = new Float32Array(3 * plane);
  for (let y = 0; y < paddedHeight; y++) {
    const sourceRow = (top + Math.min(y, tileHeight - 1)) * width;
    for (let x = 0; x < paddedWidth; x++) {
      const source = (sourceRow + left + Math.min(x, tileWidth - 1)) * 3;
      const target = y * paddedWidth + x;
      planar[target] = data[source]! / 255;
      planar[plane + target] = data[source + 1]! / 255;
      planar[2 * plane + target] = data[source + 2]! / 255;
    }
  }
  return { data: planar, width: paddedWidth, height: paddedHeight };
}

/** Copies a width × height block of the upscaled tile into the output, clipped to [0, 1] and rounded to 8 bits. */
function writeCore(tile: PlanarImage, output: Uint8Array, outputWidth: number, from: { x: number; y: number }, to: { x: number; y: number }, width: number, height: number): void {
  const plane = tile.width * tile.height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const source = (from.y + y) * tile.width + from.x + x;
      const target = ((to.y + y) * outputWidth + to.x + x) * 3;
      for (let channel = 0; channel < 3; channel++) {
        const value = tile.data[channel * plane + source]!;
        output[target + channel] = Math.round(Math.min(1, Math.max(0, value)) * 255);
      }
    }
  }
}
