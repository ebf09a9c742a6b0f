// The upscale step of finishing: the bundled esrgan-slim models, loaded once per scale and kept for
// the life of the server (each is about a megabyte of weights), one image at a time.
import type { OnnxUpscaler } from '../../engine/upscale/upscaler.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { UpscaleOperation } from '../image-service-types.js';
import { keepPngText, type EncodedImage } from '../provenance/image-finishing.js';
import { upscaleTooLarge } from './upscale-plan.js';
import { upscaleImage } from './upscale-image.js';

/** Upscales one finished-to-be image by `scale`; the result keeps the source PNG's text chunks. */
export interface ImageUpscaling {
  upscale(image: EncodedImage, scale: number, size: { width: number; height: number }): Promise<{ image: EncodedImage; operation: UpscaleOperation }>;
}

export interface BundledUpscalingOptions {
  /** The largest upscaled image, in pixels; larger ones are refused before the model runs. */
  maxOutputPixels: number;
  /** ONNX Runtime's intra-op threads for the upscaler; its default when absent. */
  threads?: number;
}

/** Upscaling with the weights that ship in `@upscalerjs/esrgan-slim`. */
export function bundledUpscaling({ maxOutputPixels, threads }: BundledUpscalingOptions): ImageUpscaling {
  const loaded = new Map<number, Promise<OnnxUpscaler>>();
  const load = (scale: number) => {
    let upscaler = loaded.get(scale);
    if (!upscaler) {
      upscaler = import('../../engine/upscale/esrgan-slim.js').then(({ loadEsrganSlim }) => loadEsrganSlim(scale, threads === undefined ? {} : { threads }));
      // A failed load is tried again by the next image rather than remembered.
      upscaler.catch(() => loaded.delete(scale));
      loaded.set(scale, upscaler);
    }
    return upscaler;
  };
  // One image at a time: each run already uses every thread ONNX Runtime has.
  let queue: Promise<unknown> = Promise.resolve();
  return {
    async upscale(image, scale, { width, height }) {
      const tooLarge = upscaleTooLarge(width, height, scale, maxOutputPixels);
      if (tooLarge) throw new InvalidArgumentError({ argument: 'upscale.scale', value: scale, message: `\`upscale\` x${scale} ${tooLarge}` });
      const run = queue.then(async () => {
        const upscaler = await load(scale);
        const done = await upscaleImage(upscaler, image.bytes, { maxInputPixels: width * height });
        const operation: UpscaleOperation = { model: upscaler.name, ...(upscaler.hash ? { hash: upscaler.hash } : {}), scale, tile: done.tile, overlap: done.overlap };
        return { image: { bytes: keepPngText(image, done.png), mediaType: 'image/png' }, operation };
      });
      queue = run.catch(() => undefined);
      return await run;
    },
  };
}
