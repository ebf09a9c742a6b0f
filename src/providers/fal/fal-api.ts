// fal queue API response and error shapes, holding only the fields pixelpipe reads.
import { z } from 'zod';

/**
 * POST https://queue.fal.run/{model_id} (https://docs.fal.ai/model-endpoints/queue). The three URLs are
 * the source of truth: for ids with a sub-path (fal-ai/flux/dev) they name the app without it.
 */
export const falSubmitSchema = z.object({
  request_id: z.string(),
  status_url: z.string(),
  response_url: z.string(),
  cancel_url: z.string(),
});

/**
 * GET {status_url}: IN_QUEUE (with `queue_position`), IN_PROGRESS, then COMPLETED, when the result (or the
 * model's error) waits at {response_url} (https://docs.fal.ai/documentation/model-apis/inference/queue).
 */
export const falStatusSchema = z.object({
  status: z.string(),
  queue_position: z.number().nullish(),
});

/**
 * GET {response_url} of a FLUX model (https://fal.ai/models/fal-ai/flux/dev/api): each image's `url` is
 * a CDN URL, or a data URI in sync mode; `has_nsfw_concepts[i]` marks an image fal replaced with black.
 */
export const falImageResultSchema = z.object({
  images: z.array(z.object({ url: z.string() })),
  seed: z.number().nullish(),
  has_nsfw_concepts: z.array(z.boolean()).nullish(),
  timings: z.object({ inference: z.number().optional() }).nullish(),
});

/**
 * Model errors carry `detail: [{loc, msg, type}]` (https://docs.fal.ai/errors); request errors a string
 * `detail` and an `error_type` (https://docs.fal.ai/documentation/model-apis/request-errors).
 */
export const falErrorSchema = z.object({
  detail: z.union([
    z.string(),
    z.array(z.object({ loc: z.array(z.union([z.string(), z.number()])).optional(), msg: z.string().optional(), type: z.string().optional() })),
  ]),
  error_type: z.string().optional(),
});

/** The model error type of a prompt or image its content checker refused (https://docs.fal.ai/errors). */
export const contentPolicyErrorType = 'content_policy_violation';

/** The image_size presets FLUX models take, by aspect ratio (https://docs.fal.ai/documentation/model-apis/model-arguments). */
export const imageSizePresets = { '1:1': 'square_hd', '4:3': 'landscape_4_3', '16:9': 'landscape_16_9', '3:4': 'portrait_4_3', '9:16': 'portrait_16_9' } as const;
