// Provider options only Black Forest Labs' FLUX models understand (`providerOptions.bfl`).
import { z } from 'zod';

/**
 * Request fields of POST /v1/{model} (https://docs.bfl.ai/api-reference/models/generate-or-edit-an-image-with-flux2-%5Bpro%5D.md
 * and the FLUX1.1 [pro], [ultra], [dev] and Kontext pages beside it), in camelCase.
 * Unknown keys are refused so a typo shows.
 */
export const bflImageOptionsSchema = z
  .object({
    /** Moderation of input and output: 0 is strictest; up to 6 on FLUX.1 models, 5 on FLUX.2. API default 2. */
    safetyTolerance: z.number().int().min(0).max(6).optional(),
    /** Output file format: jpeg (the API's default on most models) or png. */
    outputFormat: z.enum(['jpeg', 'png']).optional(),
    /** Let BFL rewrite the prompt for more creative results; the prompt as run is kept as `revisedPrompt`. */
    promptUpsampling: z.boolean().optional(),
    /** FLUX1.1 [pro] Ultra: less processed, more natural-looking images. */
    raw: z.boolean().optional(),
    /** A URL BFL calls when the task finishes (polling still fetches the result). */
    webhookUrl: z.string().url().optional(),
    /** Secret BFL signs webhook calls with. */
    webhookSecret: z.string().min(1).optional(),
  })
  .strict();

export type BflImageOptions = z.infer<typeof bflImageOptionsSchema>;
