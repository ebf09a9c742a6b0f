// Provider options only Adobe Firefly understands (`providerOptions.firefly`).
import { z } from 'zod';

/**
 * Request fields of POST /v3/images/generate-async and /v3/images/fill-async
 * (https://developer.adobe.com/firefly-services/docs/firefly-api/guides/api/image_generation/V3), in camelCase.
 * Unknown keys are refused so a typo shows.
 */
export const fireflyImageOptionsSchema = z
  .object({
    /** Text to image: `photo` or `art`; Firefly picks one itself when omitted. */
    contentClass: z.enum(['photo', 'art']).optional(),
    /** Text to image: intensity of contrast, shadow and hue, 2–10 (not with image4_custom). */
    visualIntensity: z.number().int().min(2).max(10).optional(),
    /** Text to image: style preset ids, e.g. `digital_art` (`style.presets`). */
    stylePresets: z.array(z.string().min(1)).min(1).optional(),
    /** Text to image: how strictly the style is followed, 1–100 (`style.strength`). */
    styleStrength: z.number().int().min(1).max(100).optional(),
    /** A locale such as `en-US` the prompt is biased towards (`promptBiasingLocaleCode`). */
    locale: z.string().regex(/^[a-z]{2}-[A-Z]{2}$/, 'must look like en-US').optional(),
    /** The custom model to use with the `image3_custom` and `image4_custom` model ids (`customModelId`). */
    customModelId: z.string().min(1).optional(),
    /** image4_custom only: `default` (upscales to 2k) or `low_creativity` (`upsamplerType`). */
    upsamplerType: z.enum(['default', 'low_creativity']).optional(),
  })
  .strict();

export type FireflyImageOptions = z.infer<typeof fireflyImageOptionsSchema>;
