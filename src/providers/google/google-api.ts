// Gemini API response and error shapes for Imagen (:predict) and Gemini image models (:generateContent), holding only the fields pixelpipe reads.
import { z } from 'zod';

/**
 * Imagen's answer to POST /models/{model}:predict: one prediction per image that passed the safety
 * filters; a filtered one is dropped or carries `raiFilteredReason`.
 * Source: https://ai.google.dev/gemini-api/docs/imagen (REST tab) and https://ai.google.dev/api/models#method:-models.predict.
 */
export const imagenPredictResponseSchema = z.object({
  predictions: z
    .array(
      z.object({
        bytesBase64Encoded: z.string().optional(),
        mimeType: z.string().optional(),
        raiFilteredReason: z.string().optional(),
      }),
    )
    .optional(),
});

/**
 * A Gemini model's answer to POST /models/{model}:generateContent: images come back as `inlineData`
 * parts beside text parts. Source: https://ai.google.dev/api/generate-content#generatecontentresponse
 * and https://ai.google.dev/gemini-api/docs/image-generation.
 */
export const geminiGenerateContentResponseSchema = z.object({
  candidates: z
    .array(
      z.object({
        content: z
          .object({
            parts: z
              .array(
                z.object({
                  text: z.string().optional(),
                  inlineData: z.object({ mimeType: z.string().optional(), data: z.string() }).optional(),
                  /** Thinking models show interim images; only the final ones are results. */
                  thought: z.boolean().optional(),
                }),
              )
              .optional(),
          })
          .optional(),
        finishReason: z.string().optional(),
        finishMessage: z.string().optional(),
      }),
    )
    .optional(),
  promptFeedback: z.object({ blockReason: z.string().optional(), blockReasonMessage: z.string().optional() }).optional(),
  usageMetadata: z.object({ promptTokenCount: z.number().optional(), candidatesTokenCount: z.number().optional() }).optional(),
  modelVersion: z.string().optional(),
  responseId: z.string().optional(),
});

export type GeminiGenerateContentResponse = z.infer<typeof geminiGenerateContentResponseSchema>;

/**
 * Finish reasons that mean the output was withheld under Google's policies
 * (https://ai.google.dev/api/generate-content#FinishReason).
 */
export const contentPolicyFinishReasons = new Set(['SAFETY', 'PROHIBITED_CONTENT', 'IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII', 'RECITATION', 'IMAGE_RECITATION']);

/**
 * `{error: {code, message, status, details}}`; `details` may hold a RetryInfo (`retryDelay: "30s"`),
 * an ErrorInfo (`reason: "API_KEY_INVALID"`) or a BadRequest (`fieldViolations`).
 * Source: https://ai.google.dev/gemini-api/docs/troubleshooting and https://cloud.google.com/apis/design/errors.
 */
export const googleErrorSchema = z.object({
  error: z.object({
    code: z.number().optional(),
    message: z.string().optional(),
    status: z.string().optional(),
    details: z
      .array(
        z.object({
          '@type': z.string().optional(),
          retryDelay: z.string().optional(),
          reason: z.string().optional(),
          fieldViolations: z.array(z.object({ field: z.string().optional() })).optional(),
        }),
      )
      .optional(),
  }),
});
