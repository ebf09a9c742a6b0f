// Provider options only fal's models understand (`providerOptions.fal`).
import { z } from 'zod';

/**
 * Inputs of the FLUX endpoints on fal (https://fal.ai/models/fal-ai/flux/dev/api, /fal-ai/flux/schnell/api,
 * /fal-ai/flux-pro/v1.1/api), in camelCase, plus `input` for any other model. Unknown keys are refused so a typo shows.
 */
export const falImageOptionsSchema = z
  .object({
    /** A size preset (square_hd 1024², square 512², portrait_4_3 768×1024, portrait_16_9 576×1024, landscape_4_3 1024×768, landscape_16_9 1024×576); wins over width, height and aspectRatio. */
    imageSize: z.enum(['square_hd', 'square', 'portrait_4_3', 'portrait_16_9', 'landscape_4_3', 'landscape_16_9']).optional(),
    /** FLUX: jpeg (fal's default) or png. */
    outputFormat: z.enum(['jpeg', 'png']).optional(),
    /** FLUX: run fal's safety checker on the outputs (default true); flagged images come back black. */
    enableSafetyChecker: z.boolean().optional(),
    /** flux-pro/v1.1: 1 (strictest) to 6 (most permissive); default 2. */
    safetyTolerance: z.number().int().min(1).max(6).optional(),
    /** flux-pro/v1.1: let fal rewrite the prompt before generating. */
    enhancePrompt: z.boolean().optional(),
    /** flux/schnell, flux/dev: none, regular or high; faster runs trade away some quality. */
    acceleration: z.enum(['none', 'regular', 'high']).optional(),
    /** FLUX: images come back inside the result as data URIs and are kept out of fal's request history. */
    syncMode: z.boolean().optional(),
    /**
     * Model inputs sent as they are, for fields pixelpipe does not map (any model, and the only way to
     * set most inputs of models other than the FLUX three). They win over the mapped fields.
     */
    input: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type FalImageOptions = z.infer<typeof falImageOptionsSchema>;
