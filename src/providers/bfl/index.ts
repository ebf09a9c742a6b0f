// Black Forest Labs FLUX models: FLUX.2, FLUX.1 Kontext, FLUX1.1 [pro] and Ultra, FLUX.1 [dev].
export { bfl, bflApiKeyVariable, bflProviderInfo, createBfl, type BflProvider, type BflProviderSettings } from './bfl-provider.js';
export { BflImageModel, type BflImageModelId } from './bfl-image-model.js';
export { bflImageOptionsSchema, type BflImageOptions } from './bfl-image-options.js';
