// Compatibility names for the model loader (model-loader.ts), from before families became modules (families/index.ts).
import { sdxlFiles } from './sdxl.js';
import { stableDiffusionFiles } from './sd15.js';
import { loadModel, type LoadedModel } from './model-loader.js';

export { checkModelFolder, hashUnet, type LoadOptions, type WeightHashCache } from './model-loader.js';

/** A loaded model of any family; the name predates SD3 and FLUX. */
export type StableDiffusionModel = LoadedModel;

/** Loads a model folder of any family (see families/index.ts). */
export const loadStableDiffusion = loadModel;

/** Files an SD-layout folder needs for text-to-image (the SD 1.x/2.x family's `requiredFiles`). */
export const requiredFiles = stableDiffusionFiles;

/** What SDXL needs besides those. */
export const requiredXlFiles = sdxlFiles;
