// The contract every image model implements: the local engine and each hosted API alike.
import type { ImageModelCallOptions } from './image-model-call-options.js';
import type { ImageModelResult } from './image-model-result.js';

/** What of a call is known before it runs (a service checks it when a job is submitted): its settings, and how many inputs come with it. */
export interface ImageModelCheckOptions extends Omit<ImageModelCallOptions, 'prompt' | 'images' | 'mask' | 'abortSignal' | 'onProgress'> {
  /** What the image should show, when known. */
  prompt?: string;
  /** How many input images the call will carry; 0 or absent: none (text to image). */
  images?: number;
  /** Whether a mask comes with them. */
  mask?: boolean;
}

export interface ImageModel {
  /** Provider name, e.g. `local`, `openai`. */
  readonly provider: string;
  /** Model id within the provider. */
  readonly modelId: string;
  /** Most images one call can return; larger `n` is split into several calls. Undefined: no limit. */
  readonly maxImagesPerCall: number | undefined;
  /** Makes images. Rejects with a PixelpipeError subclass; never resolves with a partial result. */
  doGenerate(options: ImageModelCallOptions): Promise<ImageModelResult>;
  /**
   * Refuses, with the `InvalidArgumentError` `doGenerate` would throw, what the call's settings alone
   * show it cannot do; no network call, no input read. Settings it would only warn about pass. Optional.
   */
  doCheck?(options: ImageModelCheckOptions): Promise<void>;
}
