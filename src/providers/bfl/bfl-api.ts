// Black Forest Labs API response and error shapes, holding only the fields pixelpipe reads.
import { z } from 'zod';

/**
 * The answer to a submission (POST /v1/{model}): the task id and the URL to poll it at, which may
 * name another region's host. Source: https://docs.bfl.ai/api-reference/models/generate-or-edit-an-image-with-flux2-%5Bpro%5D.md
 * (AsyncResponse) and https://docs.bfl.ai/api-reference/utility/get-result.md.
 */
export const bflSubmitResponseSchema = z.object({
  id: z.string(),
  polling_url: z.string().optional(),
});

/** Status values of a task (https://docs.bfl.ai/api_integration/errors.md, "Response Types"). */
export const bflStatuses = ['Task not found', 'Pending', 'Request Moderated', 'Content Moderated', 'Ready', 'Error'] as const;

/**
 * One poll of a task (GET polling_url, or /v1/get_result?id=): `result.sample` is a signed URL that
 * expires within minutes. Source: https://docs.bfl.ai/api-reference/utility/get-result.md (ResultResponse).
 */
export const bflResultResponseSchema = z.object({
  id: z.string().optional(),
  /** A string rather than an enum: a status added later must not break polling; unknown ones are read as pending. */
  status: z.string(),
  result: z
    .object({
      sample: z.string().optional(),
      /** The seed the task ran with. */
      seed: z.number().int().optional(),
      /** The prompt as run, after prompt upsampling. */
      prompt: z.string().optional(),
    })
    .nullish(),
  /** 0 to 1 while the task runs, when the API reports it. */
  progress: z.number().nullish(),
  /** Why a task failed or was moderated, when the API says. */
  details: z.record(z.string(), z.unknown()).nullish(),
});

export type BflResultResponse = z.infer<typeof bflResultResponseSchema>;

/**
 * Validation failures: `{detail: [{loc: ['body', 'width'], msg, type}]}` (HTTP 422, FastAPI's shape,
 * https://docs.bfl.ai/api-reference/utility/get-result.md, HTTPValidationError).
 */
export const bflValidationErrorSchema = z.object({
  detail: z.array(z.object({ loc: z.array(z.union([z.string(), z.number()])).optional(), msg: z.string().optional() })),
});
