// Replicate image models: FLUX schnell, dev and 1.1 pro, and any other model by owner/name or owner/name:version.
export { createReplicate, replicate, replicateApiKeyVariable, replicateProviderInfo, type ReplicateProvider, type ReplicateProviderSettings } from './replicate-provider.js';
export { ReplicateImageModel, type ReplicateImageModelId } from './replicate-image-model.js';
export { replicateImageOptionsSchema, type ReplicateImageOptions } from './replicate-image-options.js';
