// The spec contract: everything a provider implements and everything a caller receives.
export type { ImageModel } from './image-model.js';
export type { CanvasExtension, ImageInput, ImageModelCallOptions, ImageModelPreview, ImageModelProgress } from './image-model-call-options.js';
export type { EditSettings, ImageModelResult, GeneratedImage, ImageSettings, ImageModelResponseInfo } from './image-model-result.js';
export type { ImageModelWarning } from './warning.js';
export { PixelpipeError } from './errors/pixelpipe-error.js';
export { InvalidArgumentError } from './errors/invalid-argument-error.js';
export { InvalidModelError } from './errors/invalid-model-error.js';
export { ExecutionProviderError } from './errors/execution-provider-error.js';
export { AbortedError } from './errors/aborted-error.js';
