// Ideogram 3.0 API response and error shapes, holding only the fields pixelpipe reads.
import { z } from 'zod';

/**
 * The answer of POST /v1/ideogram-v3/generate, /edit and /remix (ImageGenerationResponseV3): one entry per image
 * with a short-lived URL, the prompt actually used (rewritten when magic prompt was on), the safety verdict and
 * the seed. An image that failed the safety check has no URL.
 * Source: https://developer.ideogram.ai/api-reference/api-reference/generate-v3 and Ideogram's OpenAPI document
 * (components.schemas.ImageGenerationResponseV3, ImageGenerationObjectV3).
 */
export const ideogramImageResponseSchema = z.object({
  data: z.array(
    z.object({
      url: z.string().nullish(),
      prompt: z.string().optional(),
      resolution: z.string().optional(),
      is_image_safe: z.boolean(),
      seed: z.number().int().nonnegative().optional(),
      style_type: z.string().nullish(),
    }),
  ),
});

export type IdeogramImageResponse = z.infer<typeof ideogramImageResponseSchema>;

/**
 * HTTP 422 when the prompt or an input image fails the safety check: `{error: "..."}` (GenerateImageSafetyError).
 * Source: https://developer.ideogram.ai/api-reference/api-reference/generate-v3 (responses, 422).
 */
export const ideogramSafetyErrorSchema = z.object({ error: z.string() });
