// What a caller asks any image model (local engine or hosted API) to do in one call.

/** A small image of the work in progress, where the model can show one. */
export interface ImageModelPreview {
  /** Encoded image bytes. */
  bytes: Uint8Array;
  /** Media type of `bytes`, e.g. `image/png`. */
  mediaType: string;
  /** Width in pixels (often smaller than the final image). */
  width: number;
  /** Height in pixels. */
  height: number;
  /** How it was made, e.g. `latent-rgb` (a linear projection) or `preview-decoder` (a tiny VAE). */
  method: string;
}

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
  /** The image so far, when previews were asked for and the model makes them. */
  preview?: ImageModelPreview;
}

/** An input image: encoded bytes (PNG, JPEG or WebP) or a file path. */
export type ImageInput = Uint8Array | string;

/** Pixels to add on each side of the input image (outpainting). */
export interface CanvasExtension {
  /** Pixels added on the left. */
  left?: number;
  /** Pixels added on the right. */
  right?: number;
  /** Pixels added on top. */
  top?: number;
  /** Pixels added at the bottom. */
  bottom?: number;
}

export interface ImageModelCallOptions {
  /** What the image should show. */
  prompt: string;
  /** What it should not show (classifier-free guidance's unconditional text). */
  negativePrompt?: string;
  /** Number of images. Each gets its own seed: seed, seed+1, ... */
  n: number;
  /** Width in pixels; the model's default (or the input image's width) when omitted. */
  width?: number;
  /** Height in pixels; the model's default (or the input image's height) when omitted. */
  height?: number;
  /** Aspect ratio as `W:H` (e.g. `16:9`) for models sized by ratio rather than pixels; derived from width × height when omitted. */
  aspectRatio?: string;
  /**
   * Seed of the first image, 0 to 2^64-1. Random when omitted; results report the seed used. A bigint is
   * taken as the parsed seed (pixelpipe's edges parse one); a number is checked by the provider.
   */
  seed?: number | bigint;
  /** Denoising steps; the model's default when omitted. */
  steps?: number;
  /** Classifier-free guidance scale; values <= 1 skip the unconditional pass. */
  guidance?: number;
  /** Sampler name, e.g. `euler`; the model's own scheduler when omitted. */
  sampler?: string;
  /** Images to edit (image-to-image, inpainting, outpainting); models that take one use the first. */
  images?: ImageInput[];
  /** Which pixels to regenerate; see `maskConvention`. Needs `images`. */
  mask?: ImageInput;
  /** `luminance`: white regenerates, black keeps. `alpha`: transparent regenerates (OpenAI's edits API). Detected from the file when omitted, and reported. */
  maskConvention?: 'luminance' | 'alpha';
  /** How much of the input image to change, in (0, 1]; the model's default for the operation when omitted. */
  strength?: number;
  /** When the input's aspect ratio differs from width × height: `cover` crops, `contain` pads, `fill` stretches. Without it that is an error. */
  fit?: 'cover' | 'contain' | 'fill';
  /** Outpainting: grow the canvas by these many pixels and paint the new area. */
  extend?: CanvasExtension;
  /** Feathers the mask edge by this many pixels when the result is composited onto the input. */
  maskBlur?: number;
  /** Paste the kept pixels of the input back over the result so they are exactly the input's (default true). */
  composite?: boolean;
  /** Report a small preview image with each progress event. */
  previews?: boolean;
  /**
   * Which decoder turns the final latents into pixels: `full` (default), the model's own VAE; `fast`, a small
   * approximate decoder the server configures (local SD 1.x/2.x models only), for drafts, previews and candidates.
   */
  decoder?: 'full' | 'fast';
  /** Settings only one provider understands, keyed by provider name. */
  providerOptions?: Record<string, Record<string, unknown>>;
  /** Stops the call; local models stop at the next step boundary, hosted jobs are cancelled at the provider where it can. */
  abortSignal?: AbortSignal;
  /** Called after each step with the call's progress. */
  onProgress?: (progress: ImageModelProgress) => void;
}
