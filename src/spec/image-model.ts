// The contract every image model implements: the local engine and each hosted API alike.
import type { ImageModelCallOptions } from './image-model-call-options.js';
import type { ImageModelResult } from './image-model-result.js';

export interface ImageModel {
  /** Provider name, e.g. `local`, `openai`. */
  readonly provider: string;
  /** Model id within the provider. */
  readonly modelId: string;
  /** Most images one call can return; larger `n` is split into several calls. Undefined: no limit. */
  readonly maxImagesPerCall: number | undefined;
  /** Makes images. Rejects with a PixelpipeError subclass; never resolves with a partial result. */
  doGenerate(options: ImageModelCallOptions): Promise<ImageModelResult>;
}
