// What any image model returns for one call: the images, their settings, warnings and timings.
import type { ImageModelAttempt, ImageModelCost, ImageModelRouting, ImageModelUsage } from './image-model-usage.js';
import type { ImageModelWarning } from './warning.js';

/** The settings an image was actually made with, after defaults were filled in. */
export interface ImageSettings {
  /** Prompt as given. */
  prompt: string;
  /** Negative prompt as given; absent when none was given (SDXL then uses zero embeddings). */
  negativePrompt?: string;
  /** The seed of this image, as a decimal string (exact up to 2^64-1), when the model uses seeds. */
  seed?: string;
  /** Denoising steps. */
  steps?: number;
  /** Classifier-free guidance scale. */
  guidance?: number;
  /** Sampler name, e.g. `euler`. */
  sampler?: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** What was done: `text-to-image`, `image-to-image`, `inpaint` or `outpaint`. */
  operation?: string;
  /** Editing inputs, for the record: content hashes and the settings that shaped them. */
  edit?: EditSettings;
  /** LoRAs merged into the model, in the order given: file name (without `.safetensors`), scale and the file's sha256 (hex). */
  loras?: Array<{ name: string; scale: number; sha256: string }>;
  /** ControlNets used, in the order given (local SD 1.x/2.x models). */
  controls?: ControlSettings[];
  /** The decoder that made the pixels, when it was not the model's own VAE (`decoder: 'fast'`); absent for the full VAE. */
  decoder?: DecoderSettings;
  /** A hires fix made this image: image-to-image over the upscale of a first pass, whose settings are kept here. */
  hiresFix?: HiresFixSettings;
}

/** How a hires-fixed image was made: the first pass, its upscale, and the image-to-image pass's strength and steps (the image's own settings are that pass's). */
export interface HiresFixSettings {
  firstPass: Pick<ImageSettings, 'steps' | 'guidance' | 'sampler' | 'width' | 'height'>;
  upscale: { model: string; hash?: string; scale: number };
  strength: number;
  steps?: number;
}

/** A decoder other than the model's VAE: its output differs from the full decode, so the record names the file. */
export interface DecoderSettings {
  /** `fast`: the server's small approximate decoder. */
  type: 'fast';
  /** The decoder's file name, e.g. `VAEpreview.onnx` (never a path on the server). */
  name: string;
  /** sha256 (hex) of the decoder file. */
  sha256: string;
}

/** One ControlNet of a generation, enough to repeat it given the same control image. */
export interface ControlSettings {
  /** The ControlNet's name (its folder) and the sha256 (hex) of its weights. */
  model: string;
  sha256: string;
  /** Preprocessor: `canny`, `scribble`, or `image` (passed through as is). */
  type: string;
  /** Conditioning scale. */
  scale: number;
  /** The guidance window, as fractions of the steps. */
  start: number;
  end: number;
  /** sha256 of the control image as given, `sha256:…`. */
  image: string;
  /** Canny's thresholds, when canny ran. */
  low?: number;
  high?: number;
  /** Scribble's luma threshold, when scribble ran. */
  threshold?: number;
}

/** How an edit was set up, enough to repeat it given the same input files. */
export interface EditSettings {
  /** sha256 of the input image file, `sha256:…`. */
  image: string;
  /** sha256 of every further input image, for models that take several (e.g. gpt-image-1 edits). */
  moreImages?: string[];
  /** sha256 of the mask file, when one was given. */
  mask?: string;
  /** The mask convention used, and whether it was detected from the file rather than given. */
  maskConvention?: 'luminance' | 'alpha';
  maskConventionDetected?: boolean;
  /** How much of the input was changed; absent when the provider has no such setting. */
  strength?: number;
  /** How the input was fitted to the output size, when it had to be. */
  fit?: string;
  /** Pixels added per side (outpainting), after rounding to the model's multiple. */
  extend?: { left: number; right: number; top: number; bottom: number };
  /** Mask feather radius in pixels. */
  maskBlur?: number;
  /** Whether kept pixels were pasted back exactly. */
  composite?: boolean;
}

/** One generated image with everything needed to trace and reproduce it. */
export interface GeneratedImage {
  /** Encoded image bytes, exactly as the model or provider returned them. */
  bytes: Uint8Array;
  /** Media type of `bytes` (`image/png`, `image/jpeg` or `image/webp`), read from the bytes themselves. */
  mediaType: string;
  /** The settings this image was made with. */
  settings: ImageSettings;
  /** The prompt the provider actually used, when it rewrote it. */
  revisedPrompt?: string;
}

/** Which model made the images and how. */
export interface ImageModelResponseInfo {
  /** Provider name, e.g. `local`. */
  provider: string;
  /** Model id as the provider knows it. */
  modelId: string;
  /** Content hash of the model's weights, when known (e.g. `sha256:...`). */
  modelHash?: string;
  /** Runtime and execution provider, e.g. `onnxruntime-node 1.30.0 (cpu)`. */
  runtime?: string;
  /** When the call finished. */
  timestamp: Date;
  /** Milliseconds spent per stage (e.g. `textEncoder`, `denoise`, `vae`; `queue`, `download` for hosted models). */
  timings: Record<string, number>;
  /** The provider's id for the request or prediction, for its support and logs. */
  requestId?: string;
  /** Anything else the provider reported that is worth keeping (finish reason, moderation result). */
  providerMetadata?: Record<string, unknown>;
}

export interface ImageModelResult {
  /** The images, in seed order. */
  images: GeneratedImage[];
  /** Settings the model could not honour as given. */
  warnings: ImageModelWarning[];
  /** Which model made them, and how long it took. */
  response: ImageModelResponseInfo;
  /** What the call consumed, where the provider says (hosted models). */
  usage?: ImageModelUsage;
  /** Estimated cost from the price table, when the model has an entry. */
  cost?: ImageModelCost;
  /** Every request tried, including retries and a router's fallbacks; absent for local models. */
  attempts?: ImageModelAttempt[];
  /** How a routing model chose the model that answered. */
  routing?: ImageModelRouting;
}
