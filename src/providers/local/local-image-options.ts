// Provider options only the local engine understands (`providerOptions.local`).
import { z } from 'zod';

export const localImageOptionsSchema = z
  .object({
    /** ONNX Runtime execution provider. */
    executionProvider: z.enum(['cpu', 'cuda']).optional(),
    /** Intra-op threads for ONNX Runtime. */
    threads: z.number().int().positive().optional(),
  })
  .strict();

export type LocalImageOptions = z.infer<typeof localImageOptionsSchema>;
