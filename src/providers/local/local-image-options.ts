// Provider options only the local engine understands (`providerOptions.local`).
import { z } from 'zod';

const fraction = z.number().min(0).max(1);

/** One ControlNet of a call (see docs/controlnet.md). */
export const localControlSchema = z
  .object({
    /** The ControlNet: its `model.onnx`, or a folder holding `controlnet/model.onnx` (or `model.onnx`). */
    model: z.string().min(1),
    /** The control image: a file path or encoded bytes (PNG, JPEG, WebP); resized to the output size with a warning when it differs. */
    image: z.union([z.string().min(1), z.instanceof(Uint8Array)]),
    /** `canny` and `scribble` run the weight-free preprocessor on it; `image` passes a ready control image through as is. */
    type: z.enum(['canny', 'scribble', 'image']).default('image'),
    /** Conditioning scale (diffusers' `controlnet_conditioning_scale`, A1111's weight); default 1. */
    scale: z.number().finite().min(0).max(10).default(1),
    /** The fraction of the steps where the ControlNet starts and stops acting (diffusers' `control_guidance_start`/`end`); default 0 and 1. */
    start: fraction.default(0),
    end: fraction.default(1),
    /** Canny's hysteresis thresholds on the gradient magnitude (default 100 and 200). */
    low: z.number().min(0).optional(),
    high: z.number().min(0).optional(),
    /** Scribble's luma threshold, 0–255 (default 128). */
    threshold: z.number().min(0).max(255).optional(),
  })
  .strict()
  .refine((control) => control.start < control.end, { message: '`start` must be below `end`' });

/**
 * Per-call local options. Runtime choices (execution provider, threads) belong to the provider,
 * because sessions are created once and shared across calls. Unknown keys are refused so a typo shows.
 */
export const localImageOptionsSchema = z
  .object({
    /** ControlNets for this call (SD 1.x/2.x models whose UNet takes residual inputs); several sum their residuals. */
    controls: z.array(localControlSchema).optional(),
  })
  .strict();

export type LocalImageOptions = z.infer<typeof localImageOptionsSchema>;
export type LocalControl = z.infer<typeof localControlSchema>;
/** A control as callers write it, before defaults. */
export type LocalControlInput = z.input<typeof localControlSchema>;
