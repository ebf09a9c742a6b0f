// What a generation or edit job asks for: one zod schema that checks every request, from HTTP or code, before it is queued.
import { z } from 'zod';
import { seedProblem } from '../../providers/shared/call-validation.js';
import { bundledUpscaleScales, defaultHiresScale, hiresTooLarge, upscaleScaleFor, upscaleTooLarge } from '../upscaling/upscale-plan.js';

/** An input image already in blob storage (uploads are stored first, so jobs stay small). */
export const blobReferenceSchema = z.strictObject({
  /** The blob's key, e.g. `sha256/ab/cd/<hex>.png`. */
  blobKey: z.string().regex(/^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}\.[a-z0-9]+$/, 'must be a blob key such as sha256/ab/cd/<64 hex>.png'),
});

/** Limits a service puts on requests; every one can be changed when the service is made. */
export interface RequestLimits {
  /** Most images per job. Default 8. */
  maxImages: number;
  /** Most denoising steps. Default 150. */
  maxSteps: number;
  /** Most output pixels (width × height). Default 2048 × 2048. */
  maxPixels: number;
  /** Longest prompt, in characters. Default 10 000. */
  maxPromptLength: number;
  /** Most pixels of an upscaled image (`upscale`), before any `resize`. Default 4096 × 4096 (48 MiB as RGB). */
  maxUpscalePixels: number;
}

/** The limits used when none are given. */
export const defaultRequestLimits: RequestLimits = { maxImages: 8, maxSteps: 150, maxPixels: 2048 * 2048, maxPromptLength: 10_000, maxUpscalePixels: 4096 * 4096 };

/** The smallest width or height a request may ask for. */
export const minRequestSide = 64;

/** A LoRA's name in the service's LoRA folder: a file name without `.safetensors`, as `pixelpipe lora list` shows it. */
export const loraNamePattern = /^[\w][\w.-]{0,99}$/;

/** A ControlNet's name in the service's ControlNet folder: a folder or `.onnx` file name, as `GET /v1/controlnets` lists it. */
export const controlNetNamePattern = /^[\w][\w.-]{0,99}$/;

const fraction = z.number().min(0).max(1);

/**
 * One ControlNet of a request, with its control image as `image` says (a stored blob in a job; inline or
 * stored in an HTTP body). See docs/controlnet.md.
 */
export function controlSchema<Image extends z.ZodType>(image: Image) {
  return z.strictObject({
    /** A ControlNet of the service's ControlNet folder; absent: the model folder's own `controlnet/`. */
    controlnet: z.string().regex(controlNetNamePattern, 'must be a ControlNet name as GET /v1/controlnets lists it (letters, digits, _ - .)').optional(),
    image,
    /** `canny` and `scribble` run the weight-free preprocessor on the image; `image` (default) passes a ready control image through. */
    type: z.enum(['canny', 'scribble', 'image']).optional(),
    /** Conditioning scale; default 1. */
    scale: z.number().finite().min(0).max(10).optional(),
    /** The fraction of the steps the ControlNet acts in; default 0 and 1. */
    start: fraction.optional(),
    end: fraction.optional(),
    /** Canny's hysteresis thresholds (default 100 and 200). */
    low: z.number().min(0).max(2000).optional(),
    high: z.number().min(0).max(2000).optional(),
    /** Scribble's luma threshold, 0–255 (default 128). */
    threshold: z.number().min(0).max(255).optional(),
  });
}

/** Builds the schema of a job request under `limits`. */
export function jobRequestSchema(limits: RequestLimits = defaultRequestLimits) {
  const side = z.number().int().min(minRequestSide).max(8192);
  return z
    .strictObject({
      /** `PROVIDER:MODEL`, a local model, or a comma-separated fallback list; the service's default model when absent. */
      model: z.string().min(1).max(500).optional(),
      prompt: z.string().min(1).max(limits.maxPromptLength),
      negativePrompt: z.string().max(limits.maxPromptLength).optional(),
      n: z.number().int().min(1).max(limits.maxImages).default(1),
      width: side.optional(),
      height: side.optional(),
      aspectRatio: z.string().regex(/^\d{1,3}:\d{1,3}$/, 'must look like 16:9').optional(),
      /**
       * Seed of the first image: 0 to 2^64−1, as a number or a decimal string (exact beyond 2^53). Checked by the
       * one seed parse and kept as given, since the request is stored as JSON; the library call parses it into a bigint.
       */
      seed: z.union([z.number(), z.string()]).superRefine((value, context) => {
        const problem = seedProblem(value);
        if (problem) context.addIssue({ code: 'custom', message: problem });
      }).optional(),
      steps: z.number().int().min(1).max(limits.maxSteps).optional(),
      guidance: z.number().min(0).max(50).optional(),
      sampler: z.string().min(1).max(50).optional(),
      /** Input images, stored in blob storage first. */
      images: z.array(blobReferenceSchema).min(1).max(16).optional(),
      mask: blobReferenceSchema.optional(),
      maskConvention: z.enum(['luminance', 'alpha']).optional(),
      strength: z.number().gt(0).max(1).optional(),
      fit: z.enum(['cover', 'contain', 'fill']).optional(),
      extend: z.strictObject({ left: z.number().int().min(0).max(4096).optional(), right: z.number().int().min(0).max(4096).optional(), top: z.number().int().min(0).max(4096).optional(), bottom: z.number().int().min(0).max(4096).optional() }).optional(),
      maskBlur: z.number().min(0).max(256).optional(),
      composite: z.boolean().optional(),
      /** Send step previews with progress events, where the model makes them. */
      previews: z.boolean().optional(),
      /**
       * `full` (default): the model's own VAE decodes the image. `fast`: the server's small decoder (local SD 1.x/2.x
       * models, PIXELPIPE_FAST_DECODER), approximate, for drafts and candidates; the record says which.
       */
      decoder: z.enum(['full', 'fast']).optional(),
      /** The record this edit starts from, kept as the new records' parent. */
      parentRecordId: z.uuid().optional(),
      providerOptions: z.record(z.string(), z.record(z.string(), z.unknown())).optional(),
      /**
       * LoRAs from the service's LoRA folder, merged into a local model (SD 1.x/2.x, SDXL), each with its scale
       * (default 1). A prompt's `<lora:NAME:SCALE>` tokens are moved here at submit.
       */
      loras: z.array(z.strictObject({ name: z.string().regex(loraNamePattern, 'must be a LoRA name as `pixelpipe lora list` shows it (letters, digits, _ - .)'), scale: z.number().min(-4).max(4).optional() })).max(8).optional(),
      /**
       * ControlNets for a local SD 1.x/2.x model whose UNet takes residual inputs (text-to-image); several add
       * their residuals. Named from the service's ControlNet folder, never by path.
       */
      controls: z.array(controlSchema(blobReferenceSchema)).min(1).max(4).optional(),
      /**
       * Best-of-N: generate this many candidates (consecutive seeds), rank them with `rankBy` and keep the best `n`.
       * Every candidate is recorded with its score; the rest are kept in history as rejected.
       */
      bestOf: z.number().int().min(1).max(limits.maxImages).optional(),
      /** The ranker that picks among `bestOf` candidates: `clip`, `aesthetic`, `vlm` or a custom ranker's name, as the service has them. */
      rankBy: z.string().min(1).max(100).optional(),
      /**
       * The decoder best-of-N candidates are ranked on. `fast`: every candidate is decoded with the fast decoder
       * (see `decoder`) and ranked, then the chosen `n` are made again with the full VAE from their own seeds
       * (the same latents); the others stay in history as fast decodes. `full` (default): as `decoder` says.
       */
      rankDecoder: z.enum(['full', 'fast']).optional(),
      /** What the `vlm` ranker judges by. */
      rankRubric: z.string().min(1).max(limits.maxPromptLength).optional(),
      /** Brings each stored image to this exact size (sharp, lanczos3, centred; `cover`, the default, crops the overflow, `contain` pads with black, `fill` stretches), before watermark and signature. */
      resize: z.strictObject({ width: z.number().int().min(8).max(8192), height: z.number().int().min(8).max(8192), fit: z.enum(['cover', 'contain', 'fill']).optional() }).optional(),
      /**
       * Upscales each image with the bundled ESRGAN-class model (esrgan-slim) before `resize`, the watermark
       * and the signature: by `scale` (2, 3, 4 or 8), or, without it, by the smallest of those that brings
       * the image to `resize`'s size. The record's `provenance.upscale` names the weights and the scale.
       */
      upscale: z.strictObject({ scale: z.union(bundledUpscaleScales.map((scale) => z.literal(scale))).optional() }).optional(),
      /**
       * A1111's hires fix, for text-to-image on a local model: each image is upscaled (the bundled esrgan-slim
       * model, by `scale`, default 2) and made again by image-to-image over the upscale with the same prompt,
       * seed and settings, at `strength` (default 0.35) and `steps` (default the request's). The job's images
       * are the second pass's; the record's `settings.hiresFix` keeps the first pass and the upscale.
       */
      hiresFix: z
        .strictObject({
          scale: z.union(bundledUpscaleScales.map((scale) => z.literal(scale))).optional(),
          strength: z.number().gt(0).max(1).optional(),
          steps: z.number().int().min(1).max(limits.maxSteps).optional(),
        })
        .optional(),
      /** The stored file's format; the model's own (PNG) when absent. */
      outputFormat: z.enum(['png', 'webp', 'jpeg']).optional(),
      /** 1–100, for webp and jpeg; lossless webp from a PNG when absent. */
      outputQuality: z.number().int().min(1).max(100).optional(),
      /** Where to POST the job's outcome (signed; see docs/webhooks.md). */
      webhook: z.strictObject({ url: z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' }) }).optional(),
    })
    .superRefine((request, context) => {
      const width = request.width ?? 0;
      const height = request.height ?? 0;
      if (width * height > limits.maxPixels) {
        context.addIssue({ code: 'custom', path: ['width'], message: `width × height must be at most ${limits.maxPixels} pixels, got ${width} × ${height} = ${width * height}` });
      }
      // These ControlNets name files (models, control images) on the machine that runs them: a request may not.
      const local = request.providerOptions?.local;
      if (local && 'controls' in local) {
        context.addIssue({ code: 'custom', path: ['providerOptions', 'local', 'controls'], message: 'names ControlNet models and control images by path on the server, which a request may not do; give `controls` instead, naming ControlNets of the server\'s folder (GET /v1/controlnets) with uploaded control images' });
      }
      if (request.bestOf !== undefined && request.bestOf < request.n) {
        context.addIssue({ code: 'custom', path: ['bestOf'], message: `must be at least \`n\` (${request.n}): it is how many candidates the best ${request.n} are chosen from, got ${request.bestOf}` });
      }
      if (request.bestOf !== undefined && request.bestOf > request.n && request.rankBy === undefined) {
        context.addIssue({ code: 'custom', path: ['rankBy'], message: 'is needed with `bestOf`: name the ranker that picks the best (clip, aesthetic, vlm)' });
      }
      if (request.rankDecoder === 'fast' && (request.bestOf === undefined || request.bestOf <= request.n)) {
        context.addIssue({ code: 'custom', path: ['rankDecoder'], message: `ranks best-of-N candidates: give \`bestOf\` above \`n\` (${request.n}) and \`rankBy\` with it, or leave it out` });
      }
      if (request.rankDecoder === 'fast' && request.decoder === 'fast') {
        context.addIssue({ code: 'custom', path: ['rankDecoder'], message: 'is for ranking fast decodes and answering with full ones, but `decoder` "fast" makes every image a fast decode already: leave one of them out' });
      }
      if (request.outputQuality !== undefined && request.outputFormat !== 'webp' && request.outputFormat !== 'jpeg') {
        context.addIssue({ code: 'custom', path: ['outputQuality'], message: 'is for webp and jpeg: give `outputFormat` webp or jpeg with it, or leave it out (PNG is always lossless)' });
      }
      if (request.resize && request.resize.width * request.resize.height > limits.maxPixels) {
        context.addIssue({ code: 'custom', path: ['resize'], message: `width × height must be at most ${limits.maxPixels} pixels, got ${request.resize.width} × ${request.resize.height}` });
      }
      for (const [index, control] of (request.controls ?? []).entries()) {
        if ((control.start ?? 0) >= (control.end ?? 1)) context.addIssue({ code: 'custom', path: ['controls', index, 'start'], message: `must be below \`end\` (${control.end ?? 1}), as diffusers requires, got ${control.start ?? 0}` });
        const preprocessor = control.type ?? 'image';
        if ((control.low !== undefined || control.high !== undefined) && preprocessor !== 'canny') context.addIssue({ code: 'custom', path: ['controls', index, control.low !== undefined ? 'low' : 'high'], message: `is canny's threshold, and this control's type is ${preprocessor}: give \`type\` "canny" or leave it out` });
        if (control.threshold !== undefined && preprocessor !== 'scribble') context.addIssue({ code: 'custom', path: ['controls', index, 'threshold'], message: `is scribble's threshold, and this control's type is ${preprocessor}: give \`type\` "scribble" or leave it out` });
      }
      if (request.controls && request.images) {
        context.addIssue({ code: 'custom', path: ['controls'], message: 'run with text-to-image only for now: leave out the input image (`images`), or the `controls`' });
      }
      if (request.hiresFix) {
        const conflict = request.images ? 'images' : request.controls ? 'controls' : request.bestOf !== undefined ? 'bestOf' : undefined;
        if (conflict) context.addIssue({ code: 'custom', path: ['hiresFix'], message: `finishes a text-to-image generation with image-to-image over its upscale; it does not combine with \`${conflict}\` yet: leave one of them out` });
        const { width, height } = request;
        const scale = request.hiresFix.scale ?? defaultHiresScale;
        // Checked here when the size is given; the service checks the model's default size.
        const tooLarge = width !== undefined && height !== undefined ? hiresTooLarge(width, height, scale, limits) : undefined;
        if (tooLarge) context.addIssue({ code: 'custom', path: ['hiresFix', 'scale'], message: `x${scale} ${tooLarge}` });
      }
      if (request.upscale) {
        if (request.upscale.scale === undefined && !request.resize) {
          context.addIssue({ code: 'custom', path: ['upscale', 'scale'], message: `is needed unless \`resize\` gives the size to upscale to: give one of ${bundledUpscaleScales.join(', ')}, or a \`resize\`` });
        } else if (request.width !== undefined && request.height !== undefined) {
          const scale = upscaleScaleFor(request.upscale, request.width, request.height, request.resize);
          const tooLarge = scale === undefined ? undefined : upscaleTooLarge(request.width, request.height, scale, limits.maxUpscalePixels);
          if (tooLarge) context.addIssue({ code: 'custom', path: ['upscale', 'scale'], message: `x${scale} ${tooLarge}` });
        }
      }
      if ((request.mask || request.strength !== undefined || request.extend) && !request.images) {
        context.addIssue({ code: 'custom', path: ['images'], message: 'an edit (mask, strength or extend) needs an input image in `images`' });
      }
    });
}

/** A checked job request, as queued and as kept in the records. */
export type JobRequest = z.output<ReturnType<typeof jobRequestSchema>>;
/** A job request as callers write it (`n` may be left out). */
export type JobRequestInput = z.input<ReturnType<typeof jobRequestSchema>>;
