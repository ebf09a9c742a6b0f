// The model families pixelpipe runs, and which one a folder holds.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import type { FolderFacts, ModelFamily } from './family.js';
import { flux } from './flux.js';
import { sd15 } from './sd15.js';
import { sd3 } from './sd3.js';
import { sdxl } from './sdxl.js';

export type { EncodedPrompts, FolderFacts, LatentFormat, LoadContext, ModelFamily, PromptEncoder, SizeRule } from './family.js';
export { flux } from './flux.js';
export { sd15 } from './sd15.js';
export { sd3 } from './sd3.js';
export { sdxl } from './sdxl.js';

/**
 * Most specific first: detection returns the first family that claims a folder, and SD 1.x/2.x, whose
 * layout the others extend, claims any. SD3 and FLUX go before SDXL, whose test (a second text encoder)
 * their folders pass too. A new family is one module and one entry here.
 */
export const modelFamilies: readonly ModelFamily[] = [sd3, flux, sdxl, sd15];

/**
 * Pipelines whose folders look like a family's but are not runnable by it: refused by name rather than
 * run as the family they resemble (SD 1.x would otherwise claim them, and give noise or a shape error).
 */
const unsupportedPipelines: { match: RegExp; why: string }[] = [
  {
    match: /^Flux2/,
    why: 'FLUX.2 is a new architecture, not FLUX.1 with other weights: one decoder-only text encoder (Mistral Small 3.1 for dev, Qwen3 for klein) read at three hidden layers, no pooled embedding, 32-channel latents patchified 2×2, a 4-axis RoPE transformer. pixelpipe has no reference run of it to check an implementation against, so it does not run it yet',
  },
  {
    match: /^Flux(Fill|Kontext|Control|PriorRedux|Controlnet|ControlNet)/,
    why: 'this FLUX.1 variant takes image inputs (a mask, a reference or a control image) that pixelpipe does not feed its transformer yet; FLUX.1 [dev] and [schnell] (FluxPipeline) run',
  },
];

/** The family a folder's facts describe; a pipeline known not to run is an InvalidModelError naming it. */
export function detectFamily(facts: FolderFacts): ModelFamily {
  const pipeline = String(facts.modelIndex._class_name ?? '');
  const unsupported = unsupportedPipelines.find(({ match }) => match.test(pipeline));
  if (unsupported) throw new InvalidModelError({ model: facts.folder, file: 'model_index.json', message: `${facts.folder} holds a ${pipeline}: ${unsupported.why}` });
  return modelFamilies.find((family) => family.detect(facts)) ?? sd15;
}

/** The family records name by `id` (e.g. `stable-diffusion-xl`). */
export function familyById(id: string): ModelFamily {
  const family = modelFamilies.find((candidate) => candidate.id === id);
  if (!family) throw new Error(`unknown model family ${JSON.stringify(id)}; known families: ${modelFamilies.map((known) => known.id).join(', ')}`);
  return family;
}

/** What detection sees of a folder: its model_index.json (empty when absent, so the missing-file check names it) and which files exist. */
export function folderFacts(folder: string): FolderFacts {
  const indexPath = join(folder, 'model_index.json');
  let modelIndex: Record<string, unknown> = {};
  if (existsSync(indexPath)) {
    try {
      modelIndex = JSON.parse(readFileSync(indexPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new InvalidModelError({ model: folder, file: 'model_index.json', message: `${indexPath} is not valid JSON: ${(error as Error).message}`, cause: error });
    }
  }
  return { folder, modelIndex, has: (file) => existsSync(join(folder, file)) };
}
