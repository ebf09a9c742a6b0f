// Ideogram 3.0 image models: text to image (strong at rendered text), remix and masked edits.
export { createIdeogram, ideogram, ideogramApiKeyVariable, ideogramProviderInfo, type IdeogramProvider, type IdeogramProviderSettings } from './ideogram-provider.js';
export { IdeogramImageModel, type IdeogramImageModelId } from './ideogram-image-model.js';
export { ideogramImageOptionsSchema, ideogramRenderingSpeeds, type IdeogramImageOptions } from './ideogram-image-options.js';
