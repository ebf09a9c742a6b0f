// Provider options only the local engine understands (`providerOptions.local`).
import { z } from 'zod';

/**
 * Per-call local options. Runtime choices (execution provider, threads) belong to the provider,
 * because sessions are created once and shared across calls. Unknown keys are refused so a typo shows.
 */
export const localImageOptionsSchema = z
  .object({})
  .strict();

export type LocalImageOptions = z.infer<typeof localImageOptionsSchema>;
