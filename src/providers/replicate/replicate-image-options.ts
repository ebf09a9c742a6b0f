// Provider options only Replicate's models understand (`providerOptions.replicate`).
import { z } from 'zod';

/**
 * Inputs of the FLUX models on Replicate (the "API" tab of
 * https://replicate.com/black-forest-labs/flux-schnell, /flux-dev and /flux-1.1-pro), in camelCase,
 * plus `input` for any other model. Unknown keys are refused so a typo shows.
 */
export const replicateImageOptionsSchema = z
  .object({
    /** FLUX: webp (Replicate's default), jpg or png. */
    outputFormat: z.enum(['webp', 'jpg', 'png']).optional(),
    /** FLUX with jpg or webp output: 0–100 (default 80). */
    outputQuality: z.number().int().min(0).max(100).optional(),
    /** flux-schnell, flux-dev: fp8-quantised fast mode (default on); off runs bf16, the only mode where a seed reproduces exactly. */
    goFast: z.boolean().optional(),
    /** flux-schnell, flux-dev: about 1 (default) or 0.25 megapixels; chosen from width × height when omitted. */
    megapixels: z.enum(['1', '0.25']).optional(),
    /** flux-schnell, flux-dev: skip Replicate's safety checker on the outputs. */
    disableSafetyChecker: z.boolean().optional(),
    /** flux-1.1-pro: 1 (strictest) to 6 (most permissive); default 2. */
    safetyTolerance: z.number().int().min(1).max(6).optional(),
    /** flux-1.1-pro: let the model rewrite the prompt for more creative results. */
    promptUpsampling: z.boolean().optional(),
    /**
     * Model inputs sent as they are, for fields pixelpipe does not map (any model, and the only way to
     * set most inputs of models other than the FLUX three). They win over the mapped fields.
     */
    input: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

export type ReplicateImageOptions = z.infer<typeof replicateImageOptionsSchema>;
