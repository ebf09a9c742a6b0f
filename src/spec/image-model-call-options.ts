// What a caller asks any image model (local engine or hosted API) to do in one call.

/** Progress of one call, reported after each denoising step where the model can tell. */
export interface ImageModelProgress {
  /** Which image of the call (0-based) is being made. */
  imageIndex: number;
  /** Steps finished for this image. */
  step: number;
  /** Steps this image needs in all. */
  steps: number;
  /** Milliseconds since the call began. */
  elapsedMs: number;
}

export interface ImageModelCallOptions {
  /** What the image should show. */
  prompt: string;
  /** What it should not show (classifier-free guidance's unconditional text). Default empty. */
  negativePrompt?: string;
  /** Number of images. Each gets its own seed: seed, seed+1, ... */
  n: number;
  /** Width in pixels; the model's default when omitted. */
  width?: number;
  /** Height in pixels; the model's default when omitted. */
  height?: number;
  /** Seed of the first image, 0 to 2^64-1. Random when omitted; results report the seed used. */
  seed?: number | bigint;
  /** Denoising steps; the model's default when omitted. */
  steps?: number;
  /** Classifier-free guidance scale; values <= 1 skip the unconditional pass. */
  guidance?: number;
  /** Sampler name, e.g. `euler`; the model's own scheduler when omitted. */
  sampler?: string;
  /** Settings only one provider understands, keyed by provider name. */
  providerOptions?: Record<string, Record<string, unknown>>;
  /** Stops the call; local models stop at the next step boundary. */
  abortSignal?: AbortSignal;
  /** Called after each step with the call's progress. */
  onProgress?: (progress: ImageModelProgress) => void;
}
