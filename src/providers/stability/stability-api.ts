// Stability AI v2beta Stable Image response and error shapes, holding only the fields pixelpipe reads.
import { z } from 'zod';

/**
 * The `accept: application/json` answer of generate/core, generate/ultra, generate/sd3, edit/inpaint and
 * edit/outpaint (ImageJSONResponse): the image as base64, why it finished, and the seed used.
 * Source: https://platform.stability.ai/docs/api-reference#tag/Generate and the v2beta OpenAPI document
 * (https://api.stability.ai/v2beta/openapi.json), components.schemas.ImageJSONResponse.
 */
export const stabilityImageResponseSchema = z.object({
  image: z.string().min(1),
  /** `SUCCESS`, or `CONTENT_FILTERED` when the output broke the content policy and came back blurred. */
  finish_reason: z.string(),
  seed: z.number().int().nonnegative().optional(),
});

export type StabilityImageResponse = z.infer<typeof stabilityImageResponseSchema>;

/**
 * Every error answer: `{id, name, errors: [...]}`; a content refusal is HTTP 403 with `name: content_moderation`.
 * Source: https://platform.stability.ai/docs/api-reference (components.schemas.Error and ContentModerationResponse).
 */
export const stabilityErrorSchema = z.object({
  id: z.string().optional(),
  name: z.string().optional(),
  errors: z.array(z.string()).optional(),
});

/**
 * Error names that refuse the content itself: the moderation system (403), and the likeness of a public
 * figure in an input image (422, ImageClassificationFailed).
 */
export const contentPolicyNames = new Set(['content_moderation', 'public_figure']);
