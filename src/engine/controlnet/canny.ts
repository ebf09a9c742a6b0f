// Weight-free control preprocessors on 8-bit RGB: canny edges (as OpenCV's Canny after a Gaussian blur) and a scribble/lineart binarisation.
import type { RgbImage } from '../image/rgb-image.js';

export interface CannyOptions {
  /** Gradient magnitude below which no pixel is an edge (default 100, as A1111's and ComfyUI's canny). */
  low?: number;
  /** Gradient magnitude at which a pixel is surely an edge; weaker ones count when connected to one (default 200). */
  high?: number;
  /** Standard deviation of the Gaussian blur before the gradients, in pixels (default 1.4); 0 blurs nothing. */
  sigma?: number;
}

/** Luma (ITU-R BT.601, as OpenCV's RGB2GRAY) of each pixel. */
function luma({ data, width, height }: RgbImage): Float32Array {
  const gray = new Float32Array(width * height);
  for (let i = 0; i < gray.length; i++) gray[i] = 0.299 * data[3 * i]! + 0.587 * data[3 * i + 1]! + 0.114 * data[3 * i + 2]!;
  return gray;
}

/** Separable Gaussian blur with edge pixels repeated, radius ⌈3σ⌉. */
function gaussianBlur(values: Float32Array, width: number, height: number, sigma: number): Float32Array {
  if (sigma <= 0) return values;
  const radius = Math.ceil(3 * sigma);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const total = kernel.reduce((a, b) => a + b, 0);
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= total;
  const clamp = (value: number, size: number) => Math.min(size - 1, Math.max(0, value));
  const across = new Float32Array(values.length);
  const result = new Float32Array(values.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = -radius; k <= radius; k++) sum += kernel[k + radius]! * values[y * width + clamp(x + k, width)]!;
      across[y * width + x] = sum;
    }
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let k = -radius; k <= radius; k++) sum += kernel[k + radius]! * across[clamp(y + k, height) * width + x]!;
      result[y * width + x] = sum;
    }
  }
  return result;
}

/** White edges on black, the control image canny ControlNets are trained on: blur, Sobel, non-maximum suppression, hysteresis. */
export function canny(image: RgbImage, options: CannyOptions = {}): RgbImage {
  const { low = 100, high = 200, sigma = 1.4 } = options;
  const { width, height } = image;
  const gray = gaussianBlur(luma(image), width, height, sigma);
  const at = (x: number, y: number) => gray[Math.min(height - 1, Math.max(0, y)) * width + Math.min(width - 1, Math.max(0, x))]!;
  // Sobel gradients (3×3), magnitude as L2.
  const magnitude = new Float32Array(width * height);
  const direction = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const gx = at(x + 1, y - 1) + 2 * at(x + 1, y) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x - 1, y) - at(x - 1, y + 1);
      const gy = at(x - 1, y + 1) + 2 * at(x, y + 1) + at(x + 1, y + 1) - at(x - 1, y - 1) - 2 * at(x, y - 1) - at(x + 1, y - 1);
      magnitude[y * width + x] = Math.hypot(gx, gy);
      // Quantised to 0°, 45°, 90°, 135°: the neighbours across the edge that suppression compares with.
      const angle = ((Math.atan2(gy, gx) * 180) / Math.PI + 180) % 180;
      direction[y * width + x] = angle < 22.5 || angle >= 157.5 ? 0 : angle < 67.5 ? 1 : angle < 112.5 ? 2 : 3;
    }
  }
  const offsets: Array<[number, number]> = [[1, 0], [1, 1], [0, 1], [-1, 1]];
  const mag = (x: number, y: number) => (x < 0 || y < 0 || x >= width || y >= height ? 0 : magnitude[y * width + x]!);
  // Non-maximum suppression: a pixel stays if it beats the neighbour before it across the edge and is not beaten by
  // the one after (OpenCV's > / >=), so a step edge between two pixels of equal gradient gives a one-pixel line.
  const strength = new Uint8Array(width * height); // 0 none, 1 weak, 2 strong
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = magnitude[y * width + x]!;
      if (value < low) continue;
      const [dx, dy] = offsets[direction[y * width + x]!]!;
      if (!(value > mag(x - dx, y - dy) && value >= mag(x + dx, y + dy))) continue;
      strength[y * width + x] = value >= high ? 2 : 1;
    }
  }
  // Hysteresis: weak pixels 8-connected to a strong one are edges too.
  const edges = new Uint8Array(width * height);
  const stack: number[] = [];
  for (let i = 0; i < strength.length; i++) if (strength[i] === 2) { edges[i] = 1; stack.push(i); }
  while (stack.length > 0) {
    const i = stack.pop()!;
    const x = i % width;
    const y = (i - x) / width;
    for (let ny = Math.max(0, y - 1); ny <= Math.min(height - 1, y + 1); ny++) {
      for (let nx = Math.max(0, x - 1); nx <= Math.min(width - 1, x + 1); nx++) {
        const j = ny * width + nx;
        if (strength[j] === 1 && !edges[j]) { edges[j] = 1; stack.push(j); }
      }
    }
  }
  return fromMask(edges, width, height);
}

export interface ScribbleOptions {
  /** Luma (0–255) splitting line from background (default 128). */
  threshold?: number;
  /** Whether lines are the dark pixels (ink on paper) or the light ones; `auto` (default): the minority side is the lines. */
  lines?: 'dark' | 'light' | 'auto';
}

/** A scribble or line drawing binarised to white lines on black, the form scribble and lineart ControlNets take. */
export function scribble(image: RgbImage, options: ScribbleOptions = {}): RgbImage {
  const { threshold = 128, lines = 'auto' } = options;
  const gray = luma(image);
  let dark = 0;
  for (const value of gray) if (value < threshold) dark++;
  const darkLines = lines === 'dark' || (lines === 'auto' && dark <= gray.length / 2);
  const mask = new Uint8Array(gray.length);
  for (let i = 0; i < gray.length; i++) mask[i] = (gray[i]! < threshold) === darkLines ? 1 : 0;
  return fromMask(mask, image.width, image.height);
}

function fromMask(mask: Uint8Array, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < mask.length; i++) if (mask[i]) data.fill(255, 3 * i, 3 * i + 3);
  return { data, width, height };
}
