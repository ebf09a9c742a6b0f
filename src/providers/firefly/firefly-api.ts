// Adobe Firefly Services (IMS token, upload, v3 async jobs) response and error shapes, holding only the fields pixelpipe reads.
import { z } from 'zod';

/**
 * `POST https://ims-na1.adobelogin.com/ims/token/v3` → `{access_token, token_type, expires_in}` (seconds)
 * (https://developer.adobe.com/firefly-services/docs/firefly-api/guides/concepts/authentication/).
 */
export const fireflyTokenSchema = z.object({
  access_token: z.string().min(1),
  expires_in: z.number().nonnegative(),
});

/** IMS refuses credentials the OAuth 2.0 way: `{error, error_description}` (RFC 6749 §5.2, https://www.rfc-editor.org/rfc/rfc6749#section-5.2). */
export const imsErrorSchema = z.object({
  error: z.string(),
  error_description: z.string().optional(),
});

/**
 * `POST /v2/storage/image` (body: the image bytes) → `{images: [{id}]}`; the id is valid for 7 days
 * (https://developer.adobe.com/firefly-services/docs/firefly-api/guides/concepts/image-upload).
 */
export const fireflyUploadSchema = z.object({
  images: z.array(z.object({ id: z.string().min(1) })).min(1),
});

/**
 * `POST /v3/images/generate-async` and `/v3/images/fill-async` answer 202 `{jobId, statusUrl, cancelUrl}`
 * (AsyncAcceptResponseV3 in https://developer.adobe.com/firefly-services/docs/firefly-api/guides/api/image_generation/V3;
 * https://developer.adobe.com/firefly-services/docs/firefly-api/guides/how-tos/using-async-apis).
 */
export const fireflyJobAcceptedSchema = z.object({
  jobId: z.string(),
  statusUrl: z.string().url(),
  cancelUrl: z.string().url().optional(),
});

/**
 * `GET {statusUrl}` (`/v3/status/{jobId}`): `status` pending | running | succeeded | failed | cancelled |
 * cancel_pending | timeout, `progress` in percent while it runs, `result.outputs[]` (presigned URLs valid
 * one hour, and each image's seed) once it succeeded, `error_code` and `message` once it failed
 * (JobResponse / AsyncTaskResponseV3 in Firefly's OpenAPI description, same page as above).
 */
export const fireflyJobStatusSchema = z.object({
  status: z.string(),
  progress: z.number().optional(),
  result: z
    .object({
      outputs: z.array(z.object({ seed: z.number().int().optional(), image: z.object({ url: z.string().url() }) })),
      /** Generate only: the prompt named blocked artists or had denied words, so the image ignores part of it. */
      promptHasDeniedWords: z.boolean().optional(),
      promptHasBlockedArtists: z.boolean().optional(),
    })
    .optional(),
  error_code: z.string().optional(),
  message: z.string().optional(),
});

export type FireflyJobStatus = z.infer<typeof fireflyJobStatusSchema>;

/**
 * Errors: `{error_code, message, validation_errors: [{loc: ['body', field], msg}]}` (ApiError in the OpenAPI
 * description); 403 carries `x-access-error` (quota_exhausted, user_non_entitled, ...).
 */
export const fireflyErrorSchema = z.object({
  error_code: z.string().optional(),
  message: z.string().optional(),
  validation_errors: z.array(z.object({ loc: z.array(z.union([z.string(), z.number()])).optional(), msg: z.string().optional() })).optional(),
});

/**
 * Codes Firefly uses when it will not make or return an image under its content policy (ErrorCode in Adobe's
 * `@adobe/firefly-apis` package); uploads refused for the same reason answer HTTP 451.
 */
export const contentPolicyCodes = new Set(['prompt_unsafe', 'input_media_unsafe', 'output_media_unsafe']);
