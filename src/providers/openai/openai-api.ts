// OpenAI Images API response and error shapes, holding only the fields pixelpipe reads.
// Source: https://platform.openai.com/docs/api-reference/images/object (ImagesResponse) and the
// `openai` package's resources/images.d.ts.
import { z } from 'zod';

export const openaiImagesResponseSchema = z.object({
  created: z.number().optional(),
  data: z.array(
    z.object({
      b64_json: z.string().optional(),
      url: z.string().optional(),
      revised_prompt: z.string().optional(),
    }),
  ),
  /** gpt-image-1 bills by tokens. */
  usage: z.object({ input_tokens: z.number(), output_tokens: z.number() }).partial().optional(),
  /** gpt-image-1 echoes the resolved settings. */
  quality: z.string().optional(),
  size: z.string().optional(),
  output_format: z.string().optional(),
  background: z.string().optional(),
});

export type OpenAIImagesResponse = z.infer<typeof openaiImagesResponseSchema>;

/** `{ error: { message, type, param, code } }` (https://platform.openai.com/docs/guides/error-codes). */
export const openaiErrorSchema = z.object({
  error: z.object({
    message: z.string().optional(),
    type: z.string().nullish(),
    param: z.string().nullish(),
    code: z.string().nullish(),
  }),
});

/** Codes OpenAI uses when it refuses a prompt or an image under its usage policies. */
export const contentPolicyCodes = new Set(['content_policy_violation', 'moderation_blocked', 'image_generation_user_error']);
