// Output sizes as spec files write them: `1200x628` (exact pixels) or `16:9` (an aspect ratio for the build to fill).
import type { Complaint } from './templates.js';

/** One value of a spec's `size`. */
export type SizeTarget =
  | { kind: 'pixels'; text: string; width: number; height: number }
  | { kind: 'aspect'; text: string; aspectRatio: string };

export const minimumSide = 8;
export const maximumSide = 8192;

const pixelsPattern = /^(\d+)x(\d+)$/;
const aspectPattern = /^(\d+):(\d+)$/;
const sizeFix = 'write WxH such as 1200x628, or an aspect ratio such as 16:9';

/** Why `text` is not a size, or undefined when it is one. */
export function sizeComplaint(text: string): Complaint | undefined {
  const pixels = pixelsPattern.exec(text);
  if (pixels) {
    const [width, height] = [Number(pixels[1]), Number(pixels[2])];
    for (const [side, value] of [['width', width], ['height', height]] as const) {
      if (value < minimumSide || value > maximumSide) {
        return { problem: `${JSON.stringify(text)} has a ${side} of ${value}, outside ${minimumSide} to ${maximumSide}`, fix: `use whole numbers from ${minimumSide} to ${maximumSide} for width and height` };
      }
    }
    return undefined;
  }
  const aspect = aspectPattern.exec(text);
  if (aspect) {
    if (Number(aspect[1]) === 0 || Number(aspect[2]) === 0) return { problem: `${JSON.stringify(text)} has a zero side`, fix: 'write an aspect ratio of two whole numbers from 1, such as 16:9' };
    return undefined;
  }
  return { problem: `${JSON.stringify(text)} is not a size`, fix: sizeFix };
}

/** Why `text` cannot be asked of a model (`generationSize`), or undefined when it can. */
export function generationSizeComplaint(text: string): Complaint | undefined {
  const complaint = sizeComplaint(text);
  if (complaint) return complaint;
  const size = parseSize(text);
  if (size.kind === 'aspect') return { problem: `${JSON.stringify(text)} is an aspect ratio, not pixels`, fix: 'write WxH such as 512x512, in multiples of 8' };
  if (size.width % 8 !== 0 || size.height % 8 !== 0) {
    const nearest = `${Math.max(8, Math.round(size.width / 8) * 8)}x${Math.max(8, Math.round(size.height / 8) * 8)}`;
    return { problem: `${JSON.stringify(text)} is not a multiple of 8 in both sides`, fix: `use multiples of 8, such as ${nearest}` };
  }
  return undefined;
}

/** Parses a size that `sizeComplaint` accepted. */
export function parseSize(text: string): SizeTarget {
  const pixels = pixelsPattern.exec(text);
  if (pixels) return { kind: 'pixels', text, width: Number(pixels[1]), height: Number(pixels[2]) };
  return { kind: 'aspect', text, aspectRatio: text };
}
