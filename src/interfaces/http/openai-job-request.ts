// Turns OpenAI image fields into a pixelpipe job request, and names the service's refusals in OpenAI's field names.
import type { JobRequestInput } from '../../service/generation/job-request.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { HttpError } from './http-error.js';
import type { ImageFields } from './openai-schemas.js';

/** OpenAI's own model names; a bare one means that model at OpenAI, not a local folder of that name. */
const openAiModelName = /^(dall-e-[23]|gpt-image-[\w.-]+|chatgpt-image-[\w.-]+)$/;

/** `dall-e-3` → `openai:dall-e-3`; anything else (`local:…`, `replicate:…`, a local model id) unchanged; absent → the service default. */
export function resolveModel(model: string | null | undefined): string | undefined {
  if (!model) return undefined;
  return openAiModelName.test(model) ? `openai:${model}` : model;
}

/** `512x768` → width 512, height 768; `auto` or absent → nothing, so the model picks. */
export function parseSize(size: string | null | undefined): { width?: number; height?: number } {
  if (!size || size === 'auto') return {};
  const [width, height] = size.split('x').map(Number) as [number, number];
  return { width, height };
}

/** Uploaded inputs of an edit, already in blob storage. */
export interface EditInputs {
  images: string[];
  mask?: string;
}

/** The job request for `fields`; an edit when `inputs` is given. OpenAI-only options travel in `providerOptions.openai`, which other providers do not read. */
export function toJobRequest(fields: ImageFields, inputs?: EditInputs): JobRequestInput {
  const openai = definedOnly({
    quality: fields.quality,
    style: 'style' in fields ? fields.style : undefined,
    background: fields.background,
    outputFormat: fields.output_format,
    outputCompression: fields.output_compression,
    moderation: 'moderation' in fields ? fields.moderation : undefined,
    inputFidelity: 'input_fidelity' in fields ? fields.input_fidelity : undefined,
    user: fields.user,
  });
  return definedOnly({
    model: resolveModel(fields.model),
    prompt: fields.prompt,
    negativePrompt: fields.negative_prompt ?? undefined,
    n: fields.n ?? undefined,
    ...parseSize(fields.size),
    seed: fields.seed ?? undefined,
    steps: fields.steps ?? undefined,
    guidance: fields.guidance ?? undefined,
    sampler: fields.sampler ?? undefined,
    decoder: fields.decoder ?? undefined,
    bestOf: fields.best_of ?? undefined,
    rankBy: fields.rank_by ?? undefined,
    rankRubric: fields.rank_rubric ?? undefined,
    rankDecoder: fields.rank_decoder ?? undefined,
    strength: 'strength' in fields ? (fields.strength ?? undefined) : undefined,
    images: inputs?.images.map((blobKey) => ({ blobKey })),
    mask: inputs?.mask === undefined ? undefined : { blobKey: inputs.mask },
    // OpenAI masks are PNGs whose transparent pixels mark what to repaint; `mask_convention` may say otherwise.
    maskConvention: inputs?.mask === undefined ? undefined : (('mask_convention' in fields ? fields.mask_convention : undefined) ?? ('alpha' as const)),
    providerOptions: Object.keys(openai).length > 0 ? { openai } : undefined,
  }) as JobRequestInput;
}

/** Job request fields (first path segment) that OpenAI clients know by another name. */
const openAiNameOf: Record<string, string> = {
  width: 'size',
  height: 'size',
  aspectRatio: 'size',
  negativePrompt: 'negative_prompt',
  images: 'image',
  mask: 'mask',
  maskConvention: 'mask_convention',
  bestOf: 'best_of',
  rankBy: 'rank_by',
  rankRubric: 'rank_rubric',
  rankDecoder: 'rank_decoder',
};

/** Job request fields that OpenAI clients send under another name, as they appear in backticks in our messages. */
const renamedInMessages: Record<string, string> = {
  maskConvention: 'mask_convention',
  negativePrompt: 'negative_prompt',
  bestOf: 'best_of',
  rankBy: 'rank_by',
  rankRubric: 'rank_rubric',
  rankDecoder: 'rank_decoder',
};

/** `message` with job request field names the client cannot send (`maskConvention`) replaced by the fields it can (`mask_convention`). */
export function inOpenAiTerms(message: string): string {
  return message.replace(/`(\w+)`/g, (quoted, name: string) => (Object.hasOwn(renamedInMessages, name) ? `\`${renamedInMessages[name]}\`` : quoted));
}

/** The OpenAI field a job request argument (`width`, `images.0.blobKey`, `providerOptions.openai.outputFormat`) came from. */
export function openAiParam(argument: string): string {
  const segments = argument.split(/[.[\]]+/).filter(Boolean);
  if (segments[0] === 'providerOptions' && segments.length >= 3) return snakeCase(segments[2]!);
  const first = segments[0] ?? argument;
  return openAiNameOf[first] ?? first;
}

/** Rethrows the service's `InvalidArgumentError` as a 400 whose `param` is the OpenAI field; other errors unchanged. */
export function renameArgumentError(error: unknown): never {
  if (InvalidArgumentError.isInstance(error)) {
    throw new HttpError(400, { message: inOpenAiTerms(error.message), type: 'invalid_request_error', param: openAiParam(error.argument), code: 'invalid_argument' });
  }
  throw error;
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

function definedOnly<T extends Record<string, unknown>>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined && value !== null)) as Partial<T>;
}
