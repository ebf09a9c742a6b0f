// Provider options only Google's image models understand (`providerOptions.google`).
import { z } from 'zod';

/**
 * Request fields of Imagen's :predict `parameters` (https://ai.google.dev/gemini-api/docs/imagen) and of
 * Gemini's :generateContent `generationConfig` and `safetySettings`
 * (https://ai.google.dev/api/generate-content#generationconfig), in camelCase.
 * Unknown keys are refused so a typo shows; an option the chosen model family does not take becomes a warning.
 */
export const googleImageOptionsSchema = z
  .object({
    /** Imagen: whether people may appear (allow_all is refused in some regions). */
    personGeneration: z.enum(['dont_allow', 'allow_adult', 'allow_all']).optional(),
    /** Output size tier: Imagen 4 Standard and Ultra take 1K or 2K; Gemini 3 image models 1K, 2K or 4K. */
    imageSize: z.enum(['1K', '2K', '4K']).optional(),
    /** Gemini: what the answer may hold; default TEXT and IMAGE (the text is kept in the provider metadata). */
    responseModalities: z.array(z.enum(['TEXT', 'IMAGE'])).min(1).optional(),
    /** Gemini: sampling temperature, 0 to 2. */
    temperature: z.number().min(0).max(2).optional(),
    /** Gemini: blocking thresholds per harm category, e.g. `{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_ONLY_HIGH' }`. */
    safetySettings: z.array(z.object({ category: z.string().min(1), threshold: z.string().min(1) }).strict()).optional(),
  })
  .strict();

export type GoogleImageOptions = z.infer<typeof googleImageOptionsSchema>;
