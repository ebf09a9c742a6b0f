// fal image models through its queue: FLUX schnell, dev and pro 1.1, and any other model id.
export { createFal, fal, falApiKeyVariable, falProviderInfo, type FalProvider, type FalProviderSettings } from './fal-provider.js';
export { FalImageModel, type FalImageModelId } from './fal-image-model.js';
export { falImageOptionsSchema, type FalImageOptions } from './fal-image-options.js';
