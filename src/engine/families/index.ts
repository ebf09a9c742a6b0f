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

/** The family a folder's facts describe. */
export function detectFamily(facts: FolderFacts): ModelFamily {
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
