// Request and response shapes of the OpenAI-compatible routes, in OpenAI's field names, and how a refused field becomes a 400.
import { z } from '@hono/zod-openapi';
import { HttpError } from './http-error.js';

/** What each field must be, said once so every refusal names the field, the value and the fix. */
const fieldRules: Record<string, string> = {
  prompt: 'is required and must be a non-empty string describing the image',
  model: 'must be a model id such as `local:sd-turbo` or `openai:gpt-image-1` (GET /v1/models lists them); leave it out for the server default',
  n: 'must be a whole number of at least 1',
  size: 'must be `WIDTHxHEIGHT` in pixels (e.g. `512x512`) or `auto`',
  response_format: 'must be `b64_json` or `url`',
  quality: 'must be one of standard, hd, low, medium, high, auto',
  style: 'must be `vivid` or `natural`',
  background: 'must be one of transparent, opaque, auto',
  output_format: 'must be one of png, jpeg, webp',
  output_compression: 'must be a whole number from 0 to 100',
  moderation: 'must be `low` or `auto`',
  input_fidelity: 'must be `high` or `low`',
  user: 'must be a string',
  stream: 'must be false or left out: this server answers with the finished images only; poll the native jobs API for progress',
  partial_images: 'must be a whole number from 0 to 3 (it only matters when streaming, which this server does not do)',
  seed: 'must be a whole number from 0 to 2^64−1, as a number or a decimal string',
  negative_prompt: 'must be a string of what to keep out of the image',
  steps: 'must be a whole number of at least 1',
  guidance: 'must be a number from 0 to 50',
  sampler: 'must be a sampler name such as `euler` or `dpmpp-2m`',
  decoder: 'must be `full` (the model\'s VAE, the default) or `fast` (the server\'s small decoder, local SD 1.x/2.x models)',
  strength: 'must be a number greater than 0 and at most 1',
  image: 'must be one image file (PNG, JPEG, WebP) or several sent as `image[]`',
  'image[]': 'must be one or more image files (PNG, JPEG, WebP)',
  mask: 'must be one PNG file whose transparent pixels mark what to edit',
  mask_convention: 'must be `alpha` (transparent pixels of the mask are repainted, the default) or `luminance` (white pixels are repainted)',
  best_of: 'must be a whole number of at least `n`: how many candidates the best `n` are chosen from',
  rank_by: 'must be the name of a ranker of this server (GET /v1/rankers lists them)',
  rank_rubric: 'must be a non-empty string saying what the `vlm` ranker judges by',
  rank_decoder: 'must be `full` (the default) or `fast` (rank fast decodes of the candidates, answer with the chosen ones decoded by the full VAE)',
};

const quality = z.enum(['standard', 'hd', 'low', 'medium', 'high', 'auto']);
const outputFormat = z.enum(['png', 'jpeg', 'webp']);
const seedString = z.string().regex(/^\d{1,20}$/);

/** Numbers and flags arrive as numbers in JSON and as strings in a form; `kind` picks which. */
function fields(kind: 'json' | 'form') {
  const number = kind === 'json' ? z.number() : z.coerce.number();
  const noStream = kind === 'json' ? z.literal(false) : z.literal('false');
  return {
    prompt: z.string().min(1).openapi({ description: 'What to draw.', example: 'a lighthouse at dusk, oil painting' }),
    model: z.string().min(1).nullish().openapi({ description: 'A model id from GET /v1/models; `dall-e-2`, `dall-e-3`, `gpt-image-*` mean `openai:<name>`. The server default when absent.' }),
    n: number.int().min(1).nullish().openapi({ description: 'How many images (the server caps it, 8 by default).' }),
    size: z.string().regex(/^(auto|\d{1,5}x\d{1,5})$/).nullish().openapi({ description: '`WIDTHxHEIGHT` or `auto` (the model default).', example: '512x512' }),
    response_format: z.enum(['b64_json', 'url']).nullish().openapi({ description: '`b64_json` (default) or `url`: a signed link to the stored image.' }),
    quality: quality.nullish().openapi({ description: 'Passed on to OpenAI models; ignored by others.' }),
    background: z.enum(['transparent', 'opaque', 'auto']).nullish().openapi({ description: 'Passed on to OpenAI models; ignored by others.' }),
    output_format: outputFormat.nullish().openapi({ description: 'Passed on to OpenAI models; other models answer PNG.' }),
    output_compression: number.int().min(0).max(100).nullish().openapi({ description: 'Passed on to OpenAI models; ignored by others.' }),
    user: z.string().nullish().openapi({ description: 'Passed on to OpenAI models; ignored by others.' }),
    stream: noStream.nullish().openapi({ description: 'Only false: streaming is not offered here.' }),
    partial_images: number.int().min(0).max(3).nullish().openapi({ description: 'Accepted and ignored (streaming only).' }),
    seed: (kind === 'json' ? z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), seedString]) : seedString).nullish().openapi({ description: 'pixelpipe: seed of the first image; image i uses seed + i.' }),
    negative_prompt: z.string().nullish().openapi({ description: 'pixelpipe: what to keep out of the image.' }),
    steps: number.int().min(1).nullish().openapi({ description: 'pixelpipe: denoising steps.' }),
    guidance: number.min(0).max(50).nullish().openapi({ description: 'pixelpipe: classifier-free guidance scale.' }),
    sampler: z.string().min(1).nullish().openapi({ description: 'pixelpipe: sampler name, e.g. `euler`.' }),
    decoder: z.enum(['full', 'fast']).nullish().openapi({ description: 'pixelpipe: `full` (default) decodes with the model\'s VAE; `fast` with the server\'s small decoder (PIXELPIPE_FAST_DECODER; local SD 1.x/2.x models): approximate, for drafts and candidates.' }),
    best_of: number.int().min(1).nullish().openapi({ description: 'pixelpipe: generate this many candidates (consecutive seeds) and answer with the best `n`, as `rank_by` scores them; the others stay in history as rejected.' }),
    rank_by: z.string().min(1).nullish().openapi({ description: 'pixelpipe: the ranker that picks the best (`clip`, `aesthetic`, `vlm` or a custom one; GET /v1/rankers lists them). Needed with `best_of` above `n`.' }),
    rank_rubric: z.string().min(1).nullish().openapi({ description: 'pixelpipe: what the `vlm` ranker judges by.' }),
    rank_decoder: z.enum(['full', 'fast']).nullish().openapi({ description: 'pixelpipe: `fast` ranks fast decodes of the `best_of` candidates (see `decoder`), then makes the chosen ones again with the full VAE from their seeds; `full` (default) ranks what `decoder` makes.' }),
  };
}

/** Body of POST /v1/images/generations. */
export const generationRequestSchema = z
  .strictObject({
    ...fields('json'),
    style: z.enum(['vivid', 'natural']).nullish().openapi({ description: 'Passed on to OpenAI models; ignored by others.' }),
    moderation: z.enum(['low', 'auto']).nullish().openapi({ description: 'Passed on to OpenAI models; ignored by others.' }),
  })
  .openapi('OpenAiImageGenerationRequest');

export type GenerationRequest = z.output<typeof generationRequestSchema>;

const file = z.instanceof(File).openapi({ type: 'string', format: 'binary' });
const files = z.union([file, z.array(file).min(1)]);

/** Fields of the multipart body of POST /v1/images/edits; `image[]` is how the openai client sends several images. */
export const editRequestSchema = z
  .strictObject({
    ...fields('form'),
    image: files.optional().openapi({ description: 'The image to edit (or several, repeated).' }),
    'image[]': files.optional().openapi({ description: 'Several images, as the openai client sends an array.' }),
    mask: file.optional().openapi({ description: 'PNG, same size as the first image; transparent pixels are edited.' }),
    mask_convention: z.enum(['alpha', 'luminance']).nullish().openapi({ description: 'pixelpipe: how `mask` marks what to repaint: `alpha` (transparent, OpenAI’s way; the default) or `luminance` (white, as A1111 and diffusers).' }),
    input_fidelity: z.enum(['high', 'low']).nullish().openapi({ description: 'Passed on to OpenAI models; ignored by others.' }),
    strength: z.coerce.number().gt(0).max(1).nullish().openapi({ description: 'pixelpipe: how far to move from the input image (1 = repaint fully).' }),
  })
  .openapi('OpenAiImageEditRequest');

export type EditRequest = z.output<typeof editRequestSchema>;

/** The fields both endpoints share after parsing. */
export type ImageFields = GenerationRequest | Omit<EditRequest, 'image' | 'image[]' | 'mask'>;

/** The answer of both image endpoints. */
export const imagesResponseSchema = z
  .object({
    created: z.number().int().openapi({ description: 'Unix seconds.' }),
    data: z.array(
      z.object({
        b64_json: z.string().optional(),
        url: z.string().optional().openapi({ description: 'Signed; valid for the server’s URL expiry (1 hour by default).' }),
        revised_prompt: z.string().optional(),
      }),
    ).openapi({ description: 'One entry per image, in order; with `best_of`, the chosen ones, best first.' }),
    output_format: outputFormat.optional(),
    size: z.string().optional(),
  })
  .openapi('OpenAiImagesResponse');

export type ImagesResponse = z.infer<typeof imagesResponseSchema>;

export const modelSchema = z
  .object({
    id: z.string(),
    object: z.literal('model'),
    created: z.number().int().openapi({ description: 'Always 0: not known.' }),
    owned_by: z.string(),
    pixelpipe: z
      .object({
        capabilities: z.object({
          family: z.object({ id: z.string(), name: z.string() }).openapi({ description: 'The model family: `stable-diffusion` (SD 1.x/2.x), `stable-diffusion-xl`, `stable-diffusion-3` or `flux`, and its name.' }),
          controls: z.boolean().openapi({ description: 'Whether `controls` (ControlNets) can guide it: an SD 1.x/2.x model whose UNet was exported with residual inputs.' }),
          operations: z.array(z.enum(['text-to-image', 'image-to-image', 'inpaint', 'outpaint'])),
          sizeMultiple: z.number().int(),
          defaultSize: z.object({ width: z.number().int(), height: z.number().int() }),
          defaultSteps: z.number().int(),
          defaultGuidance: z.number(),
          samplers: z.array(z.string()),
          decoders: z.array(z.enum(['full', 'fast'])).openapi({ description: '`fast` where the server has a fast decoder for this model\'s latents (the `decoder` field).' }),
        }),
      })
      .optional()
      .openapi({ description: 'Local models: what they can do, read from their configs.' }),
  })
  .openapi('OpenAiModel');

export const modelListSchema = z.object({ object: z.literal('list'), data: z.array(modelSchema) }).openapi('OpenAiModelList');

/** Parses `input` with `schema`, or throws a 400 naming the first refused field, its value and what it must be. */
export function parseFields<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const known = schema instanceof z.ZodObject ? Object.keys(schema.shape).join(', ') : '';
    const names = issue.keys.map((key) => `\`${key}\``).join(', ');
    throw new HttpError(400, {
      message: `unknown field${issue.keys.length > 1 ? 's' : ''} ${names}; remove ${issue.keys.length > 1 ? 'them' : 'it'} (this endpoint takes ${known})`,
      type: 'invalid_request_error',
      param: issue.keys[0]!,
      code: 'invalid_argument',
    });
  }
  const param = issue.path.length > 0 ? String(issue.path[0]) : undefined;
  if (param === undefined) {
    throw new HttpError(400, { message: `the request body must be an object of fields, got ${describeValue(input)}`, type: 'invalid_request_error', code: 'invalid_argument' });
  }
  const value = (input as Record<string, unknown>)[param];
  const rule = fieldRules[param] ?? issue.message;
  const message = value === undefined ? `\`${param}\` is missing: it ${rule}` : `\`${param}\` ${rule}, got ${describeValue(value)}`;
  throw new HttpError(400, { message, type: 'invalid_request_error', param, code: 'invalid_argument' });
}

function describeValue(value: unknown): string {
  if (value instanceof File) return `a file (${value.name || 'unnamed'}, ${value.size} bytes)`;
  if (Array.isArray(value)) return `a list of ${value.length}`;
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
