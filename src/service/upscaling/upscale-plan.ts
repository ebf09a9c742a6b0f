// What a job's `upscale` asks for, decided from sizes alone: checked at submit time where the size is
// known, and again when the image is made (a hosted model's size is known only then).

/** The bundled esrgan-slim upscaler's scales (`engine/upscale/esrgan-slim.ts` has the same list; a test keeps them equal). */
export const bundledUpscaleScales = [2, 3, 4, 8] as const;
export type BundledUpscaleScale = (typeof bundledUpscaleScales)[number];

/** A request's `upscale`: a scale, or none to reach `resize`'s size. */
export interface UpscaleRequest {
  scale?: BundledUpscaleScale;
}

/** A request's `resize`. */
export interface ResizeTarget {
  width: number;
  height: number;
  fit?: 'cover' | 'contain' | 'fill';
}

/**
 * The scale to upscale a `width`×`height` image by: the request's own, else the smallest bundled scale
 * that brings it to `resize`'s size (as `fit` measures it: `contain` needs the image to reach the size
 * on one side, `cover` and `fill` on both), else 8 and the resize does the rest. None when the image is
 * already that large: the resize alone makes it.
 */
export function upscaleScaleFor(upscale: UpscaleRequest, width: number, height: number, resize: ResizeTarget | undefined): BundledUpscaleScale | undefined {
  if (upscale.scale !== undefined) return upscale.scale;
  if (!resize) return undefined;
  const ratios = [resize.width / width, resize.height / height];
  const needed = resize.fit === 'contain' ? Math.min(...ratios) : Math.max(...ratios);
  if (needed <= 1) return undefined;
  return bundledUpscaleScales.find((scale) => scale >= needed) ?? 8;
}

/** Why a `width`×`height` image upscaled by `scale` is too large, or undefined when it fits. */
export function upscaleTooLarge(width: number, height: number, scale: number, maxPixels: number): string | undefined {
  const pixels = width * height * scale * scale;
  if (pixels <= maxPixels) return undefined;
  return `would make a ${width}×${height} image ${width * scale}×${height * scale} = ${pixels.toLocaleString('en-US')} pixels, over this server's upscale limit of ${maxPixels.toLocaleString('en-US')}; ask for a smaller scale or a smaller image`;
}

/** A hires fix's upscale when the request names none (A1111's default). */
export const defaultHiresScale = 2;

/** Why a hires fix of a `width`×`height` first pass at `scale` is too large for the server's limits (its second pass is a generation at the upscaled size), or undefined. */
export function hiresTooLarge(width: number, height: number, scale: number, { maxPixels, maxUpscalePixels }: { maxPixels: number; maxUpscalePixels: number }): string | undefined {
  const upscale = upscaleTooLarge(width, height, scale, maxUpscalePixels);
  if (upscale) return upscale;
  const pixels = width * height * scale * scale;
  if (pixels <= maxPixels) return undefined;
  return `makes the second pass ${width * scale}×${height * scale} = ${pixels.toLocaleString('en-US')} pixels, over this server's output limit of ${maxPixels.toLocaleString('en-US')}; ask for a smaller size or scale`;
}

