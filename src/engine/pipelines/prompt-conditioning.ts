// Encode prompts: each family's text encoders (one CLIP for SD 1.x/2.x, two for SDXL) turn the prompts into the denoiser's context.
import type { EncodedPrompts } from '../families/family.js';
import type { LoadedModel } from '../families/model-loader.js';
import { StageTimer } from '../runtime/stage-timer.js';

export type { EncodedPrompts } from '../families/family.js';

/**
 * Encodes the prompts: [negative, positive] in one text-encoder run when guidance is on (> 1), else the
 * positive alone. `negativePrompt` undefined means none was given: SD treats that as '', SDXL models with
 * `force_zeros_for_empty_prompt` use zero embeddings instead, as diffusers does.
 */
export async function encodePrompts(model: LoadedModel, prompt: string, negativePrompt: string | undefined, guidance: number, timer = new StageTimer()): Promise<EncodedPrompts> {
  return model.prompts.encode(prompt, negativePrompt, guidance, timer);
}
