// zod schemas of the project file (`pixelpipe.yaml`) and spec files, as written; the JSON Schema for editors is generated from them.
import { z } from 'zod';
import { seedComplaint } from './seeds.js';
import { generationSizeComplaint, sizeComplaint } from './sizes.js';
import type { Complaint } from './templates.js';

/** Adds a check whose refusal carries its own problem and fix (read back by `schema-issues.ts`). */
function checked<T extends z.ZodType>(schema: T, complain: (value: z.output<T>) => Complaint | undefined): T {
  return schema.check((context) => {
    const complaint = complain(context.value);
    if (complaint) context.issues.push({ code: 'custom', message: complaint.problem, input: context.value, params: { ...complaint } });
  });
}

const specNamePattern = /^[A-Za-z0-9._-]+$/;
const specName = checked(z.string(), (name) =>
  specNamePattern.test(name) ? undefined : { problem: `${JSON.stringify(name)} is not a spec name`, fix: 'use only letters, digits, ".", "_" and "-", such as hero-banner' },
).meta({ description: 'Unique in the project; letters, digits, ".", "_" and "-".' });

// `pattern` only reaches the JSON Schema, for editors; the check gives the message.
const sizeText = checked(z.string(), sizeComplaint).meta({ description: 'WxH in pixels (8 to 8192 each), such as 1200x628, or an aspect ratio such as 16:9.', pattern: '^([0-9]+x[0-9]+|[0-9]+:[0-9]+)$' });
const generationSizeText = checked(z.string(), generationSizeComplaint).meta({ description: 'WxH asked of the model, in multiples of 8; absent: the model\'s native size for the aspect.', pattern: '^[0-9]+x[0-9]+$' });

const seedValue = z.union([checked(z.number(), seedComplaint), checked(z.string(), seedComplaint)]);
const seedRange = checked(z.strictObject({ from: seedValue, to: seedValue }), ({ from, to }) =>
  seedComplaint(from) || seedComplaint(to) || BigInt(from) <= BigInt(to) ? undefined : { problem: `from ${from} is above to ${to}`, fix: 'write the smaller seed in from' },
);
const seedSchema = z.union([seedValue, seedRange]).meta({
  description: 'A seed for every output (0 to 2^64-1; above 2^53 as a string), or {from, to}: each output draws one by a hash of its path. Absent: derived from the path.',
});

const scalar = z.union([z.string(), z.number(), z.boolean()]);
const matrixSchema = z
  .object({
    include: z.array(z.record(z.string(), scalar)).optional().meta({ description: 'Extra combinations: each names every axis (and may name size).' }),
    exclude: z.array(z.record(z.string(), scalar)).optional().meta({ description: 'Drops the combinations that match every key of an entry.' }),
  })
  .catchall(z.array(scalar).min(1))
  .meta({ description: 'Axes (name: list of values) multiplied together, first axis slowest.' });

const rankerSchema = z
  .union([z.string().min(1), z.strictObject({ type: z.string().min(1), rubric: z.string().optional(), decoder: z.enum(['full', 'fast']).optional() })])
  .meta({ description: 'clip, aesthetic, vlm or a custom ranker name; or {type, rubric, decoder} (the rubric is templated; decoder fast ranks fast decodes of the candidates and writes the winner decoded by the full VAE).' });

const outputSchema = z.strictObject({
  path: z.string().min(1).optional().meta({ description: 'Template of the file written, relative to the project folder and inside outputDir: out/{locale}/{product}-{size}.webp' }),
  format: z.enum(['png', 'webp', 'jpeg', 'jpg']).optional().meta({ description: "Default: from the path's extension." }),
  quality: z.int().min(1).max(100).optional().meta({ description: '1-100, for webp and jpeg.' }),
  fit: z.enum(['cover', 'contain', 'fill']).optional().meta({ description: 'How the generated image is brought to the size; default cover.' }),
  upscale: z.enum(['lanczos', 'esrgan']).optional().meta({ description: 'How an image smaller than the output size grows to it: lanczos (default: the resize alone), or esrgan (the bundled esrgan-slim upscaler at the smallest of x2, x3, x4, x8 that reaches the size, then the resize).' }),
});

const specControlSchema = z
  .strictObject({
    controlnet: z.string().regex(/^[\w][\w.-]{0,99}$/, 'must be a ControlNet name of the ControlNet folder (letters, digits, _ - .; no path)').optional().meta({ description: "A ControlNet of the ControlNet folder (PIXELPIPE_CONTROLNET_DIR; with --server, the server's GET /v1/controlnets); absent: the model folder's own controlnet/." }),
    image: z.string().min(1).meta({ description: 'The control image, a file relative to this file.' }),
    type: z.enum(['canny', 'scribble', 'image']).optional().meta({ description: 'canny and scribble run the preprocessor on the image; image (default) passes it through.' }),
    scale: z.number().min(0).max(10).optional(),
    start: z.number().min(0).max(1).optional(),
    end: z.number().min(0).max(1).optional(),
    low: z.number().min(0).max(2000).optional(),
    high: z.number().min(0).max(2000).optional(),
    threshold: z.number().min(0).max(255).optional(),
  })
  .meta({ description: 'A ControlNet guiding a local SD 1.x/2.x model whose UNet takes residual inputs (docs/controlnet.md).' });

const loraName = z.string().regex(/^[\w][\w.-]{0,99}$/, 'must be a LoRA name as `pixelpipe lora list` shows it (letters, digits, _ - .; no path, no extension)');
const loraSchema = z
  .union([
    z.string().regex(/^[\w][\w.-]{0,99}(:-?\d+(\.\d+)?)?$/, 'must be NAME or NAME:SCALE, e.g. acme_style:0.8'),
    z.strictObject({ name: loraName, scale: z.number().min(-4).max(4).optional() }),
  ])
  .meta({ description: 'A LoRA of the LoRA folder: NAME, NAME:SCALE or {name, scale} (scale default 1).' });

/** Every field a spec may have; all optional here because `defaults` may supply them. */
const specFields = {
  model: z.string().min(1).optional().meta({ description: 'A model or a comma-separated fallback list: tiny-sd15, openai:gpt-image-1' }),
  prompt: z.string().min(1).optional().meta({ description: 'Templated: {variable}; {{ and }} are literal braces.' }),
  negativePrompt: z.string().optional(),
  size: z.union([sizeText, z.array(sizeText).min(1)]).optional().meta({ description: 'One size, or a list (a matrix axis named size).' }),
  generationSize: generationSizeText.optional(),
  steps: z.int().min(1).max(1000).optional(),
  guidance: z.number().min(0).max(100).optional(),
  sampler: z.string().min(1).optional(),
  decoder: z.enum(['full', 'fast']).optional().meta({ description: "full (default): the model's VAE. fast: the server's small decoder (local SD 1.x/2.x models), approximate, for drafts." }),
  seed: seedSchema.optional(),
  providerOptions: z.record(z.string(), z.record(z.string(), z.unknown())).optional().meta({ description: 'Per provider: { openai: { quality: high } }.' }),
  loras: z.array(loraSchema).max(8).optional().meta({ description: 'LoRAs merged into a local SD 1.x/2.x or SDXL model, from the project\'s LoRA folder (loraDir).' }),
  controls: z.array(specControlSchema).min(1).max(4).optional(),
  hiresFix: z
    .strictObject({ scale: z.union([z.literal(2), z.literal(3), z.literal(4), z.literal(8)]).optional(), strength: z.number().gt(0).max(1).optional(), steps: z.int().min(1).max(1000).optional() })
    .optional()
    .meta({ description: "A1111's hires fix on a local model: upscale the first pass (bundled esrgan-slim, scale default 2), then image-to-image over it at strength (default 0.35) with the same seed; the output's size is the second pass's." }),
  matrix: matrixSchema.optional(),
  data: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional().meta({ description: 'CSV, JSON or YAML files (relative to this file), one output per row; columns become variables.' }),
  candidates: z.int().min(1).max(64).optional().meta({ description: 'Images generated per output; the ranker keeps one. Default 1.' }),
  ranker: rankerSchema.optional(),
  output: outputSchema.optional(),
  moderation: z.string().min(1).optional().meta({ description: 'A moderation policy name, or a policy file relative to this file.' }),
};

export const specSchema = z.strictObject({ $schema: z.string().optional(), name: specName, ...specFields }).meta({ id: 'spec', description: 'One image spec: what to generate and where to write it.' });

export const defaultsSchema = z.strictObject(specFields).meta({ description: 'Spec fields applied to every spec; a spec\'s own values win, and output, providerOptions and matrix merge one level deep.' });

/** A spec file holds one spec or a list of them. */
export const specFileSchema = z.union([specSchema, z.array(specSchema).min(1)]);

// Where an embedded build finds its rankers' models; paths are relative to the project file. A build
// against a server (--server) uses the server's rankers instead.
const rankerSetupSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('clip'), model: z.string().min(1).meta({ description: 'A CLIP ONNX export folder.' }) }),
    z.strictObject({ type: z.literal('aesthetic'), clipModel: z.string().min(1), weights: z.string().min(1).meta({ description: 'The LAION aesthetic predictor, .safetensors.' }) }),
    z.strictObject({ type: z.literal('vlm'), baseUrl: z.url(), model: z.string().min(1), apiKeyEnv: z.string().min(1).optional().meta({ description: 'The environment variable holding the API key.' }) }),
  ])
  .meta({ description: 'A ranker the embedded build provides under this name.' });

export const projectSchema = z
  .strictObject({
    $schema: z.string().optional(),
    version: z.literal(1).meta({ description: 'The format version; 1.' }),
    outputDir: z.string().min(1).optional().meta({ description: 'Every output path must lie inside this folder (relative to the project folder). Default out.' }),
    defaults: defaultsSchema.optional(),
    concurrency: z.int().min(1).max(256).optional().meta({ description: 'Outputs in flight at once (the CLI may override).' }),
    moderation: z.string().min(1).optional().meta({ description: 'A moderation policy name or file for every spec; a spec\'s own wins.' }),
    loraDir: z.string().min(1).optional().meta({ description: 'Where specs\' LoRAs are (NAME.safetensors), relative to the project file; default loras, if that folder exists, else PIXELPIPE_LORA_DIR.' }),
    rankers: z.record(z.string().regex(/^[a-z][a-z0-9_-]*$/), rankerSetupSchema).optional().meta({ description: 'Rankers the embedded build provides, by name (clip, aesthetic, vlm or names of your own); a spec picks one with `ranker`.' }),
    specs: z.array(z.union([z.string().min(1), specSchema])).min(1).meta({ description: 'Spec files (relative paths) or inline specs.' }),
  })
  .meta({ title: 'pixelpipe project', description: 'pixelpipe.yaml: the image specs that `pixelpipe build` generates.' });

export type SpecInput = z.output<typeof specSchema>;
export type SpecFields = z.output<typeof defaultsSchema>;
export type ProjectInput = z.output<typeof projectSchema>;
export type RankerSetup = z.output<typeof rankerSetupSchema>;
