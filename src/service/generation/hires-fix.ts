// A1111's hires fix on a finished first pass: the image is upscaled, then made again by image-to-image over
// the upscale with the same seed, at low strength, so the model adds detail at the larger size.
import type { GeneratedImage } from '../../spec/image-model-result.js';
import type { GenerateResult } from '../pixelpipe.js';
import type { ImageUpscaling } from '../upscaling/image-upscaling.js';
import { defaultHiresScale } from '../upscaling/upscale-plan.js';
import type { JobRequest } from './job-request.js';

/** A1111's default denoising strength for the hires pass. */
export const defaultHiresStrength = 0.35;

/** What the second pass asks of the model, beside the first pass's call. */
export interface HiresTask {
  n: 1;
  seed?: string;
  images: Uint8Array[];
  strength: number;
  steps?: number;
  width: undefined;
  height: undefined;
}

/**
 * Upscales `first` and runs the image-to-image pass over it; gives the second pass's image, its settings
 * carrying the first pass and the upscale (`settings.hiresFix`), with the call that made it.
 */
export async function hiresPass(first: GeneratedImage, hiresFix: NonNullable<JobRequest['hiresFix']>, { upscaling, generate }: { upscaling: ImageUpscaling; generate: (task: HiresTask) => Promise<GenerateResult> }): Promise<{ image: GeneratedImage; result: GenerateResult }> {
  const { width, height, steps, guidance, sampler, seed } = first.settings;
  const scale = hiresFix.scale ?? defaultHiresScale;
  const strength = hiresFix.strength ?? defaultHiresStrength;
  const upscaled = await upscaling.upscale({ bytes: first.bytes, mediaType: first.mediaType }, scale, { width, height });
  // The size comes from the input image; the seed is the first pass's own (A1111 keeps it).
  const result = await generate({ n: 1, seed, images: [upscaled.image.bytes], strength, steps: hiresFix.steps ?? steps, width: undefined, height: undefined });
  const image = result.images[0]!;
  const { model, hash } = upscaled.operation;
  const hires = { firstPass: { steps, guidance, sampler, width, height }, upscale: { model, ...(hash ? { hash } : {}), scale }, strength, ...(hiresFix.steps === undefined ? {} : { steps: hiresFix.steps }) };
  return { image: { ...image, settings: { ...image.settings, hiresFix: hires } }, result };
}
