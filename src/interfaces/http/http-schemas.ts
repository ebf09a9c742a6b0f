// The zod schemas of the native HTTP API: what routes check, and what /openapi.json is generated from.
import { z } from '@hono/zod-openapi';
import { blobReferenceSchema, controlSchema, jobRequestSchema, type RequestLimits } from '../../service/generation/job-request.js';

/** The one error body (see http-error.ts). */
export const errorSchema = z
  .object({
    error: z.object({
      message: z.string(),
      type: z.string().openapi({ example: 'invalid_request_error' }),
      param: z.string().nullable().openapi({ example: 'width' }),
      code: z.string().openapi({ example: 'invalid_argument' }),
    }),
  })
  .openapi('Error');

/** An input image in a request body: new bytes as base64, or a blob stored before. */
export const inputImageSchema = z
  .strictObject({
    b64_json: z.string().min(1).optional().openapi({ description: 'The image file (PNG, JPEG, WebP) as base64.' }),
    blobKey: blobReferenceSchema.shape.blobKey.optional().openapi({ description: 'A blob already stored, e.g. from an earlier upload or record.' }),
  })
  .refine((image) => (image.b64_json === undefined) !== (image.blobKey === undefined), { message: 'must have exactly one of `b64_json` or `blobKey`' })
  .openapi('InputImage');

/**
 * The body of `POST /v1/jobs`: the job request's own fields, with input images that may be inline,
 * and the queue priority. The service checks the whole request again (pixel limits, edits needing
 * an image) once the images are stored.
 */
export function jobSubmitSchema(limits: RequestLimits) {
  return z
    .strictObject({
      ...jobRequestSchema(limits).shape,
      images: z.array(inputImageSchema).min(1).max(16).optional(),
      mask: inputImageSchema.optional(),
      controls: z.array(controlSchema(inputImageSchema)).min(1).max(4).optional(),
      priority: z.number().int().min(-1_000_000).max(1_000_000).optional().openapi({ description: 'Higher runs first; default 0.' }),
    })
    .openapi('JobSubmit');
}

const warningSchema = z.object({ type: z.string(), setting: z.string().optional(), details: z.string().optional(), message: z.string().optional() });

/** A stored image and how it was made. */
export const imageRecordSchema = z
  .object({
    id: z.string(),
    jobId: z.string().optional(),
    imageIndex: z.number().int(),
    parentId: z.string().optional(),
    apiKeyId: z.string().optional(),
    createdAt: z.string(),
    request: jobRequestSchema(),
    settings: z.record(z.string(), z.unknown()),
    provider: z.string(),
    modelId: z.string(),
    modelHash: z.string().optional(),
    seed: z.string().optional(),
    revisedPrompt: z.string().optional(),
    warnings: z.array(warningSchema),
    timings: z.record(z.string(), z.number()),
    cost: z.record(z.string(), z.unknown()).optional(),
    blobKey: z.string(),
    sha256: z.string().openapi({ description: 'SHA-256 of the stored file.' }),
    pixelSha256: z.string().optional().openapi({ description: 'SHA-256 of the pixels the model made, before watermark, record chunk and signature: the same request and seed on the same weights give the same value, which is what reproducing compares.' }),
    mediaType: z.string(),
    width: z.number().int(),
    height: z.number().int(),
    provenance: z
      .object({
        c2pa: z.enum(['signed', 'unsigned']),
        signer: z.string().optional(),
        watermark: z.string().optional().openapi({ description: 'The invisible watermark\'s payload (hex); `POST /v1/verify` reads it back from the image.' }),
        moderation: z.record(z.string(), z.unknown()).optional(),
      })
      .optional()
      .openapi({ description: 'What the stored image carries: C2PA credentials, watermark, and the screening of its prompt and pixels.' }),
    ranking: z
      .object({
        ranker: z.string(),
        score: z.number().openapi({ description: 'Higher is better.' }),
        rank: z.number().int().openapi({ description: '1 for the best; equal scores go to the lower `imageIndex`.' }),
        chosen: z.boolean().openapi({ description: 'Among the `n` the job answered with; false for a rejected candidate.' }),
        candidates: z.number().int().openapi({ description: 'How many were ranked (`bestOf`).' }),
        reason: z.string().optional(),
        detail: z.record(z.string(), z.number()).optional(),
        rankedOn: z.literal('fast').optional().openapi({ description: 'The candidates were ranked on fast decodes (`rankDecoder`); a chosen one was then made again with the full VAE.' }),
      })
      .optional()
      .openapi({ description: 'A best-of-N candidate\'s score and place among its job\'s candidates; absent when the job was not ranked.' }),
  })
  .openapi('ImageRecord');

/** Why a job or attempt failed; `code` is `worker_crashed` when its worker process died on each attempt allowed. */
const jobErrorSchema = z.object({ name: z.string(), message: z.string(), isRetryable: z.boolean().optional(), code: z.string().optional() });

/** A job as clients see it. */
export const jobViewSchema = z
  .object({
    id: z.string(),
    state: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled']),
    position: z.number().int().optional(),
    priority: z.number().int(),
    createdAt: z.string(),
    startedAt: z.string().optional(),
    finishedAt: z.string().optional(),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    request: jobRequestSchema(),
    error: jobErrorSchema.optional(),
    attemptHistory: z
      .array(z.object({ attempt: z.number().int(), outcome: z.enum(['running', 'succeeded', 'failed', 'crashed', 'expired', 'stopped', 'cancelled', 'lost']), startedAt: z.string(), finishedAt: z.string().optional(), worker: z.string().optional(), error: jobErrorSchema.optional() }))
      .optional()
      .openapi({ description: 'Each attempt of a job tried more than once: its worker process (host:pid) and how it ended; `crashed` when the worker died under it (killed, out of memory).' }),
    progress: z.object({ imageIndex: z.number().int(), step: z.number().int(), steps: z.number().int() }).optional(),
    records: z.array(imageRecordSchema).openapi({ description: 'The images, once it succeeded; of a best-of-N job, the chosen `n`, best first.' }),
    rejected: z.array(imageRecordSchema).optional().openapi({ description: 'A best-of-N job\'s candidates that were not chosen, best first.' }),
  })
  .openapi('Job');

/** Path parameter of the job and record routes. */
export const idParamsSchema = z.object({ id: z.string().min(1).max(100).openapi({ param: { name: 'id', in: 'path' } }) });

const dateSchema = z
  .string()
  .refine((text) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(text) && !Number.isNaN(Date.parse(text)), 'must be an ISO 8601 date or time such as 2030-01-31 or 2030-01-31T12:00:00Z');

/** Query of `GET /v1/records`. */
export const recordQuerySchema = z.strictObject({
  job_id: z.string().min(1).optional(),
  provider: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  prompt: z.string().min(1).max(1000).optional().openapi({ description: 'Text the prompt contains (case-insensitive).' }),
  since: dateSchema.optional().openapi({ description: 'ISO 8601 date or time; records made at or after it.' }),
  until: dateSchema.optional().openapi({ description: 'ISO 8601 date or time; records made at or before it.' }),
  limit: z.coerce.number().int().min(1).max(100).optional().openapi({ type: 'integer', description: '1 to 100; default 20.' }),
  cursor: z.string().min(1).max(500).optional().openapi({ description: '`next_cursor` of the previous page.' }),
});

/** One page of records. */
export const recordPageSchema = z.object({ data: z.array(imageRecordSchema), next_cursor: z.string().nullable() }).openapi('RecordPage');

/** JSON error answers, for a route's `responses`. */
export function errorResponses(...statuses: number[]) {
  const descriptions: Record<number, string> = {
    400: 'The request is malformed; `param` names the field.',
    401: 'No API key, or an unknown one.',
    403: 'The API key was revoked, or a signed URL is invalid or expired.',
    404: 'No such job, record or blob (or another key owns it).',
    409: 'The job has already ended.',
    413: 'The body is larger than the service allows.',
    416: 'The range lies outside the blob.',
    429: 'Too many requests for this key, or its daily quota is spent; see `Retry-After`.',
    503: 'The database or blob store does not answer.',
  };
  return Object.fromEntries(statuses.map((status) => [status, { description: descriptions[status] ?? 'Error', content: { 'application/json': { schema: errorSchema } } }]));
}
