// Step previews for the local engine: a tiny decoder when one is configured, else the linear latent→RGB projection.
import type { LatentShape } from '../../engine/denoisers/denoiser.js';
import type { LoadedModel } from '../../engine/families/model-loader.js';
import { latentToRgb } from '../../engine/preview/latent-rgb.js';
import type { PreviewDecoder } from '../../engine/preview/preview-decoder.js';
import { encodePreviewPng } from '../../engine/preview/preview-image.js';
import type { ImageModelPreview } from '../../spec/image-model-call-options.js';

export type PreviewMaker = (latents: Float32Array, shape: LatentShape) => Promise<ImageModelPreview>;

/**
 * The tiny decoder knows SD 1.x/2.x latents only, so other families (SDXL, SD3, FLUX.1) always get the projection,
 * with their own coefficients. The projection gives one pixel per latent cell (1/8 size): enough to watch composition.
 */
export function previewMaker(model: LoadedModel, decoder: (() => Promise<PreviewDecoder>) | undefined): PreviewMaker {
  const { rgbFactors, tinyDecoder } = model.modelFamily.latent.preview;
  return async (latents, shape) => {
    const useDecoder = decoder !== undefined && tinyDecoder;
    const image = useDecoder ? await (await decoder()).decode(latents, shape) : latentToRgb(latents, shape, rgbFactors);
    return { bytes: await encodePreviewPng(image), mediaType: 'image/png', width: image.width, height: image.height, method: useDecoder ? 'preview-decoder' : 'latent-rgb' };
  };
}
