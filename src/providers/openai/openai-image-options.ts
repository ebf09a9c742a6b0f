// Provider options only OpenAI's image models understand (`providerOptions.openai`).
import { z } from 'zod';

/**
 * Request fields of POST /v1/images/generations and /v1/images/edits
 * (https://platform.openai.com/docs/api-reference/images/create), in camelCase.
 * Unknown keys are refused so a typo shows.
 */
export const openaiImageOptionsSchema = z
  .object({
    /** gpt-image-1: low, medium, high, auto; dall-e-3: standard, hd. */
    quality: z.enum(['low', 'medium', 'high', 'auto', 'standard', 'hd']).optional(),
    /** dall-e-3 only: vivid (default) or natural. */
    style: z.enum(['vivid', 'natural']).optional(),
    /** gpt-image-1: transparent needs png or webp output. */
    background: z.enum(['transparent', 'opaque', 'auto']).optional(),
    /** gpt-image-1: png (default), jpeg or webp. */
    outputFormat: z.enum(['png', 'jpeg', 'webp']).optional(),
    /** gpt-image-1 with jpeg or webp: 0–100. */
    outputCompression: z.number().int().min(0).max(100).optional(),
    /** gpt-image-1: low or auto (default). */
    moderation: z.enum(['low', 'auto']).optional(),
    /** gpt-image-1 edits: how closely to keep the input's features. */
    inputFidelity: z.enum(['high', 'low']).optional(),
    /** An id for the end user, for OpenAI's abuse monitoring. */
    user: z.string().min(1).optional(),
  })
  .strict();

export type OpenAIImageOptions = z.infer<typeof openaiImageOptionsSchema>;
