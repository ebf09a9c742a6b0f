// Fitting the caller's width × height or aspect ratio to the sizes or ratios an API accepts, with a warning when it moves.
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** `16:9` → 16/9; anything else names `aspectRatio` and the form it needs. */
export function parseAspectRatio(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  const ratio = match ? Number(match[1]) / Number(match[2]) : Number.NaN;
  if (!Number.isFinite(ratio) || ratio <= 0) throw new InvalidArgumentError({ argument: 'aspectRatio', value: text, message: `\`aspectRatio\` must look like 16:9 (width:height), got ${JSON.stringify(text)}` });
  return ratio;
}

/** The ratio the caller asked for, from `aspectRatio` or width × height; undefined when they gave neither. */
export function requestedRatio(options: Pick<ImageModelCallOptions, 'width' | 'height' | 'aspectRatio'>): number | undefined {
  if (options.aspectRatio !== undefined) return parseAspectRatio(options.aspectRatio);
  if (options.width !== undefined && options.height !== undefined) return options.width / options.height;
  return undefined;
}

const describe = (options: Pick<ImageModelCallOptions, 'width' | 'height' | 'aspectRatio'>) =>
  options.aspectRatio !== undefined ? `aspect ratio ${options.aspectRatio}` : `${options.width ?? '?'}x${options.height ?? '?'}`;

/**
 * The accepted `WxH` size closest to what was asked: same ratio first (log distance), then pixel count.
 * Undefined when nothing was asked (the API's default applies).
 */
export function nearestSize(sizes: readonly string[], options: Pick<ImageModelCallOptions, 'width' | 'height' | 'aspectRatio'>, warnings: ImageModelWarning[], model: string): string | undefined {
  const ratio = requestedRatio(options);
  if (ratio === undefined && options.width === undefined && options.height === undefined) return undefined;
  const exact = `${options.width}x${options.height}`;
  if (options.aspectRatio === undefined && sizes.includes(exact)) return exact;
  const pixels = options.width !== undefined && options.height !== undefined ? options.width * options.height : undefined;
  const score = (size: string) => {
    const [width, height] = size.split('x').map(Number) as [number, number];
    const ratioDistance = ratio === undefined ? 0 : Math.abs(Math.log(width / height / ratio));
    const pixelDistance = pixels === undefined ? 0 : Math.abs(Math.log((width * height) / pixels));
    return ratioDistance * 10 + pixelDistance;
  };
  const best = [...sizes].sort((a, b) => score(a) - score(b))[0]!;
  const [bestWidth, bestHeight] = best.split('x').map(Number) as [number, number];
  const sameRatio = ratio !== undefined && Math.abs(bestWidth / bestHeight - ratio) < 0.01;
  if (!(options.aspectRatio !== undefined && sameRatio)) {
    warnings.push({ type: 'adjusted-setting', setting: options.aspectRatio !== undefined ? 'aspectRatio' : 'size', details: `${model} makes ${sizes.join(', ')}; ${describe(options)} was sent as ${best}` });
  }
  return best;
}

/** The accepted `W:H` ratio closest to what was asked; undefined when nothing was asked. */
export function nearestAspectRatio(ratios: readonly string[], options: Pick<ImageModelCallOptions, 'width' | 'height' | 'aspectRatio'>, warnings: ImageModelWarning[], model: string): string | undefined {
  const ratio = requestedRatio(options);
  if (ratio === undefined) {
    if (options.width !== undefined || options.height !== undefined) warnings.push({ type: 'adjusted-setting', setting: 'size', details: `${model} is sized by aspect ratio; give both width and height (or aspectRatio); the default ratio was used` });
    return undefined;
  }
  const best = [...ratios].sort((a, b) => Math.abs(Math.log(parseAspectRatio(a) / ratio)) - Math.abs(Math.log(parseAspectRatio(b) / ratio)))[0]!;
  const exact = Math.abs(parseAspectRatio(best) - ratio) < 0.005;
  if (!exact) {
    warnings.push({ type: 'adjusted-setting', setting: options.aspectRatio !== undefined ? 'aspectRatio' : 'size', details: `${model} is sized by aspect ratio (${ratios.join(', ')}); ${describe(options)} was sent as ${best}` });
  }
  return best;
}
