// Provider options only Stability AI's Stable Image models understand (`providerOptions.stability`).
import { z } from 'zod';

/** The style presets of the v2beta API (components.schemas.StylePreset). */
export const stabilityStylePresets = [
  'enhance', 'anime', 'photographic', 'digital-art', 'comic-book', 'fantasy-art', 'line-art', 'analog-film', 'neon-punk',
  'isometric', 'low-poly', 'origami', 'modeling-compound', 'cinematic', '3d-model', 'pixel-art', 'tile-texture',
] as const;

/**
 * Request fields of the v2beta Stable Image endpoints (https://platform.stability.ai/docs/api-reference#tag/Generate,
 * #tag/Edit) that have no generic call option, in camelCase. Unknown keys are refused so a typo shows.
 */
export const stabilityImageOptionsSchema = z
  .object({
    /** Guides the image towards a style (`style_preset`), e.g. `photographic`; every endpoint pixelpipe uses takes it. */
    stylePreset: z.enum(stabilityStylePresets).optional(),
    /** `png` (the API's default), `jpeg` or `webp` (`output_format`). */
    outputFormat: z.enum(['png', 'jpeg', 'webp']).optional(),
    /** Inpainting: pixels (0–100, API default 5) by which the mask's edge is grown and blurred (`grow_mask`). */
    growMask: z.number().min(0).max(100).optional(),
    /** Outpainting: 0–1 (API default 0.5), how freely the new area is invented (`creativity`). */
    creativity: z.number().min(0).max(1).optional(),
  })
  .strict();

export type StabilityImageOptions = z.infer<typeof stabilityImageOptionsSchema>;
