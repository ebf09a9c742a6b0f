// The local ONNX Runtime provider.
export { createLocal, type LocalProvider, type LocalProviderSettings } from './local-provider.js';
export { LocalImageModel } from './local-image-model.js';
export { localImageOptionsSchema, type LocalImageOptions } from './local-image-options.js';
export type { GenerationRecord } from './local-record.js';
