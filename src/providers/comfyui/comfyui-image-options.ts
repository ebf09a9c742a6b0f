// Provider options only ComfyUI understands (`providerOptions.comfyui`).
import { z } from 'zod';
import { workflowInputsSchema } from './comfyui-workflow.js';

/** Unknown keys are refused so a typo shows. */
export const comfyuiImageOptionsSchema = z
  .object({
    /** An API-format workflow ("Save (API Format)") to run instead of the provider's; checked when the call runs. */
    workflow: z.record(z.string(), z.unknown()).optional(),
    /** Where each setting goes in that workflow, as `nodeId.inputName` (e.g. `{ prompt: '6.text', seed: '3.seed' }`); found from the graph when omitted. */
    inputs: workflowInputsSchema.optional(),
    /** A ComfyUI scheduler name for the sampler node, e.g. `karras`, `normal`, `sgm_uniform`. */
    scheduler: z.string().min(1).optional(),
    /** Make the n images as one ComfyUI batch (batch_size = n, one seed) instead of one prompt per image with seed, seed+1, ... */
    batch: z.boolean().optional(),
  })
  .strict();

export type ComfyUIImageOptions = z.infer<typeof comfyuiImageOptionsSchema>;
