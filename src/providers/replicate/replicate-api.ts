// Replicate HTTP API response and error shapes, holding only the fields pixelpipe reads.
import { z } from 'zod';

/**
 * A prediction, as POST /v1/models/{owner}/{name}/predictions, POST /v1/predictions and
 * GET /v1/predictions/{id} return it (https://replicate.com/docs/reference/http#predictions.get,
 * https://replicate.com/docs/topics/predictions/lifecycle). `output` is whatever the model returns:
 * for the FLUX models a URL or a list of URLs (https://replicate.com/black-forest-labs/flux-schnell/api).
 */
export const replicatePredictionSchema = z.object({
  id: z.string(),
  /** starting, processing, succeeded, failed, canceled, or aborted (a deadline passed before it ran). */
  status: z.string(),
  output: z.unknown().optional(),
  error: z.unknown().optional(),
  logs: z.string().nullish(),
  metrics: z.object({ predict_time: z.number().optional() }).nullish(),
  urls: z.object({ get: z.string(), cancel: z.string() }),
});

export type ReplicatePrediction = z.infer<typeof replicatePredictionSchema>;

/** Statuses after which a prediction no longer changes. */
export const finishedStatuses = new Set(['succeeded', 'failed', 'canceled', 'aborted']);

/**
 * Error bodies are problem details: `{title, detail, status}`, with `invalid_fields` on a 422
 * (https://replicate.com/docs/reference/http, https://replicate.com/changelog/2024-05-01-improved-validation-for-api-prediction-payloads).
 */
export const replicateErrorSchema = z.object({
  title: z.string().optional(),
  detail: z.string().optional(),
  invalid_fields: z.array(z.object({ field: z.string().optional(), description: z.string().optional() })).optional(),
});

/** How a failed prediction or a refusal reads when a safety checker caught the prompt or the image. */
export const contentPolicyWording = /nsfw|safety|sensitive|content polic|flagged/i;
