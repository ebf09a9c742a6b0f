// The watermark's domain: luminance on a fixed 256×256 working grid, Haar DWT, 4×4 DCT blocks of its LL band.
//
// Written here rather than taken from npm: the one package that does DWT watermarking in
// JavaScript, blind-watermark, is built for browsers (Web Workers). And the transform is small,
// since only one thing is ever needed from it: each block's projection on a fixed mix of three
// LL-band DCT coefficients.

/**
 * Every image is watermarked as its 256×256 resized copy. A rescaled image, whatever its size,
 * resizes back to the same copy, so the reader needs no knowledge of the size it was made at.
 * 256 is half the engines' usual 512, so a 0.5× resize loses nothing the watermark lives in.
 */
export const workingSize = 256;
/** A 4×4 DCT block of the LL band covers 8×8 working pixels. */
const blockPixels = 8;
const blocksPerSide = workingSize / blockPixels;
export const blockCount = blocksPerSide * blocksPerSide;

/** Raw 8-bit pixels, interleaved: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels. */
export interface RawPixels {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}

/** The part of the watermarked image a read image shows: the fraction cut off each side (all 0 for the whole image). */
export interface Framing {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

const wholeImage: Framing = { left: 0, top: 0, right: 0, bottom: 0 };

/** A fixed-seed generator (mulberry32): the block patterns, dither and bit order must be the same on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** The three lowest AC coefficients (row, column) of a 4×4 block: they survive JPEG, WebP and rescaling, and leave the block's mean (brightness) alone. */
const coefficients = [[0, 1], [1, 0], [1, 1]] as const;

const dct4 = (frequency: number, sample: number) => (frequency === 0 ? 0.5 : Math.SQRT1_2) * Math.cos(((2 * sample + 1) * frequency * Math.PI) / 8);

/**
 * Each block's unit-norm direction in pixel space: a random-sign mix of the three DCT basis
 * functions, put through the inverse Haar DWT (an LL sample becomes a 2×2 square of half its
 * value). Both transforms are orthonormal, so a block's dot product with its pattern is exactly the
 * projection of its LL-band DCT coefficients on the mix (spread-transform dither modulation), and
 * adding `change × pattern` moves that projection by `change` with the least squared error.
 */
const patterns: Float32Array[] = (() => {
  const random = seededRandom(0x77a7e4);
  return Array.from({ length: blockCount }, () => {
    const signs = coefficients.map(() => (random() < 0.5 ? -1 : 1) / Math.sqrt(coefficients.length));
    return Float32Array.from({ length: blockPixels * blockPixels }, (_, index) => {
      const row = Math.floor(index / blockPixels) >> 1;
      const column = (index % blockPixels) >> 1;
      return 0.5 * coefficients.reduce((sum, [u, v], which) => sum + signs[which]! * dct4(u, row) * dct4(v, column), 0);
    });
  });
})();

/** Luminance (BT.601 Y, 0..255) of each pixel; the watermark lives there, where a change costs least PSNR per unit of signal. */
export function luminance(pixels: RawPixels): Float32Array {
  const { data, width, height, channels } = pixels;
  const luma = new Float32Array(width * height);
  if (channels >= 3) {
    for (let pixel = 0, offset = 0; pixel < luma.length; pixel++, offset += channels) luma[pixel] = 0.299 * data[offset]! + 0.587 * data[offset + 1]! + 0.114 * data[offset + 2]!;
  } else {
    for (let pixel = 0, offset = 0; pixel < luma.length; pixel++, offset += channels) luma[pixel] = data[offset]!;
  }
  return luma;
}

/**
 * Area-average weights along one axis, `taps` per output, for outputs `[from, to)`: output `index`
 * covers source `[start + index × step, start + (index + 1) × step)` and reads `taps` sources from
 * `first[index]`; `covered` says whether the source covers it completely.
 */
function areaWeights(sourceLength: number, targetLength: number, from: number, to: number, start: number, step: number) {
  const taps = Math.ceil(step) + 1;
  const first = new Int32Array(targetLength);
  const weights = new Float32Array(targetLength * taps);
  const covered = new Uint8Array(targetLength);
  for (let index = from; index < to; index++) {
    const low = start + index * step;
    const high = low + step;
    const source = Math.min(Math.max(0, Math.floor(low)), Math.max(0, sourceLength - taps));
    let total = 0;
    for (let tap = 0; tap < taps && source + tap < sourceLength; tap++) {
      total += weights[index * taps + tap] = Math.max(0, Math.min(high, source + tap + 1) - Math.max(low, source + tap));
    }
    for (let tap = 0; tap < taps && total > 0; tap++) weights[index * taps + tap]! /= total;
    first[index] = source;
    covered[index] = total >= step * 0.999 ? 1 : 0;
  }
  return { taps, first, weights, covered };
}

/** A rectangle of a grid, right and bottom exclusive. */
export interface Window {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/**
 * Area-resamples a luminance plane, or the part of the original a framing says it shows, onto
 * `window` of a `targetWidth × targetHeight` grid: the result holds that window alone, row by row,
 * and only the source rows it reads are visited.
 */
function resample(luma: Float32Array, width: number, height: number, targetWidth: number, targetHeight: number, framing: Framing, window: Window = { left: 0, top: 0, right: targetWidth, bottom: targetHeight }) {
  const shownWidth = 1 - framing.left - framing.right;
  const shownHeight = 1 - framing.top - framing.bottom;
  const columns = areaWeights(width, targetWidth, window.left, window.right, (-framing.left / shownWidth) * width, width / targetWidth / shownWidth);
  const rows = areaWeights(height, targetHeight, window.top, window.bottom, (-framing.top / shownHeight) * height, height / targetHeight / shownHeight);
  const stride = window.right - window.left;
  const sourceTop = rows.first[window.top]!;
  const sourceBottom = Math.min(height, rows.first[window.bottom - 1]! + rows.taps);
  const wide = new Float32Array((sourceBottom - sourceTop) * stride);
  const { taps, first, weights } = columns;
  for (let y = sourceTop; y < sourceBottom; y++) {
    const row = y * width;
    const target = (y - sourceTop) * stride - window.left;
    for (let x = window.left; x < window.right; x++) {
      const base = row + first[x]!;
      let sum = 0;
      for (let tap = 0; tap < taps; tap++) sum += luma[base + tap]! * weights[x * taps + tap]!;
      wide[target + x] = sum;
    }
  }
  const grid = new Float32Array((window.bottom - window.top) * stride);
  for (let y = window.top; y < window.bottom; y++) {
    const target = (y - window.top) * stride;
    for (let tap = 0; tap < rows.taps; tap++) {
      const weight = rows.weights[y * rows.taps + tap]!;
      if (weight === 0) continue;
      const source = (rows.first[y]! + tap - sourceTop) * stride;
      for (let x = 0; x < stride; x++) grid[target + x] += wide[source + x]! * weight;
    }
  }
  return { grid, columnsCovered: columns.covered, rowsCovered: rows.covered };
}

/** Area-shrinks a luminance plane so its longer side is at most `maxSide`; the crop search then works on a bounded size. */
export function shrinkLuminance(luma: Float32Array, width: number, height: number, maxSide: number): { luma: Float32Array; width: number; height: number } {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  if (scale === 1) return { luma, width, height };
  const targetWidth = Math.max(1, Math.round(width * scale));
  const targetHeight = Math.max(1, Math.round(height * scale));
  return { luma: resample(luma, width, height, targetWidth, targetHeight, wholeImage).grid, width: targetWidth, height: targetHeight };
}

const allBlocks: Window = { left: 0, top: 0, right: blocksPerSide, bottom: blocksPerSide };

/** Part of the working grid: the pixels of a window of blocks, and which of all blocks it fills completely. */
export interface WorkingGrid {
  /** The window's working pixels, row by row. */
  pixels: Float32Array;
  /** The window, in blocks. */
  blocks: Window;
  /** 1 for each block (of all `blockCount`) inside the window that the image covers completely. */
  blockShown: Uint8Array;
}

/**
 * The working grid of a luminance plane. Under a framing that says the image was cropped, the
 * blocks that fell outside it are not shown and carry nothing. Only the window `blocks` is
 * computed, which keeps the reader's search over many framings cheap.
 */
export function workingGrid(luma: Float32Array, width: number, height: number, framing: Framing = wholeImage, blocks: Window = allBlocks): WorkingGrid {
  const window = { left: blocks.left * blockPixels, top: blocks.top * blockPixels, right: blocks.right * blockPixels, bottom: blocks.bottom * blockPixels };
  const { grid, columnsCovered, rowsCovered } = resample(luma, width, height, workingSize, workingSize, framing, window);
  const full = (covered: Uint8Array, block: number) => {
    for (let pixel = block * blockPixels; pixel < (block + 1) * blockPixels; pixel++) if (covered[pixel] === 0) return false;
    return true;
  };
  const blockShown = new Uint8Array(blockCount);
  for (let row = blocks.top; row < blocks.bottom; row++) {
    if (!full(rowsCovered, row)) continue;
    for (let column = blocks.left; column < blocks.right; column++) if (full(columnsCovered, column)) blockShown[row * blocksPerSide + column] = 1;
  }
  return { pixels: grid, blocks, blockShown };
}

/** Each shown block's projection on its pattern: the value the watermark quantises; 0 for the others. */
export function projectBlocks({ pixels, blocks, blockShown }: WorkingGrid): Float32Array {
  const projections = new Float32Array(blockCount);
  const stride = (blocks.right - blocks.left) * blockPixels;
  for (let row = blocks.top; row < blocks.bottom; row++) {
    for (let column = blocks.left; column < blocks.right; column++) {
      const block = row * blocksPerSide + column;
      if (blockShown[block] === 0) continue;
      const pattern = patterns[block]!;
      const origin = (row - blocks.top) * blockPixels * stride + (column - blocks.left) * blockPixels;
      let sum = 0;
      for (let y = 0; y < blockPixels; y++) for (let x = 0; x < blockPixels; x++) sum += pattern[y * blockPixels + x]! * pixels[origin + y * stride + x]!;
      projections[block] = sum;
    }
  }
  return projections;
}

/** The working-grid change that moves each block's projection by `changes[block]`. */
export function spreadBlocks(changes: Float32Array): Float32Array {
  const grid = new Float32Array(workingSize * workingSize);
  for (let block = 0; block < blockCount; block++) {
    const pattern = patterns[block]!;
    const change = changes[block]!;
    const origin = Math.floor(block / blocksPerSide) * blockPixels * workingSize + (block % blocksPerSide) * blockPixels;
    for (let y = 0; y < blockPixels; y++) for (let x = 0; x < blockPixels; x++) grid[origin + y * workingSize + x] = change * pattern[y * blockPixels + x]!;
  }
  return grid;
}

/** Bilinear enlargement (or reduction) of a working-grid change to the image's size, pixel centres aligned. */
export function fitToImage(grid: Float32Array, width: number, height: number): Float32Array {
  const axis = (length: number) => {
    const first = new Int32Array(length);
    const fraction = new Float32Array(length);
    for (let index = 0; index < length; index++) {
      const position = Math.min(Math.max(((index + 0.5) * workingSize) / length - 0.5, 0), workingSize - 1);
      first[index] = Math.min(Math.floor(position), workingSize - 2);
      fraction[index] = position - first[index]!;
    }
    return { first, fraction };
  };
  const columns = axis(width);
  const rows = axis(height);
  const tall = new Float32Array(height * workingSize);
  for (let y = 0; y < height; y++) {
    const above = rows.first[y]! * workingSize;
    const weight = rows.fraction[y]!;
    for (let x = 0; x < workingSize; x++) tall[y * workingSize + x] = grid[above + x]! * (1 - weight) + grid[above + workingSize + x]! * weight;
  }
  const image = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const left = y * workingSize + columns.first[x]!;
      const weight = columns.fraction[x]!;
      image[y * width + x] = tall[left]! * (1 - weight) + tall[left + 1]! * weight;
    }
  }
  return image;
}
