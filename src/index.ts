// pixelpipe's library entry: the front door, the contract, and the local provider.
export { createPixelpipe, generate, type Pixelpipe, type PixelpipeOptions, type GenerateOptions, type GenerateResult, type ResolvedModel } from './service/pixelpipe.js';
export * from './spec/index.js';
export { createLocal, LocalImageModel, type LocalProvider, type LocalProviderSettings, type GenerationRecord } from './providers/local/index.js';
export { samplerNames, type SamplerName } from './engine/schedulers/index.js';
export { readPngText } from './engine/image/png.js';
