// A record's settings as a form preset, a `pixelpipe generate` command and a curl call of POST /v1/jobs.
import type { ImageRecord, JobSubmit } from './api-types.js';

/** What the generate form can be filled with: the submit body's fields it has, the seed as the text field holds it. */
export type FormSettings = Pick<JobSubmit, 'model' | 'prompt' | 'negativePrompt' | 'width' | 'height' | 'steps' | 'guidance' | 'sampler' | 'decoder' | 'n'> & { seed?: string };

/** The settings of a record as the generate form takes them; the seed is the record's own, so the same image comes back. */
export function recordSettings(record: ImageRecord): FormSettings {
  const { request, settings } = record;
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  return {
    model: request.model ?? record.modelId,
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    width: record.width,
    height: record.height,
    steps: request.steps ?? number(settings.steps),
    guidance: request.guidance ?? number(settings.guidance),
    sampler: request.sampler ?? (typeof settings.sampler === 'string' ? settings.sampler : undefined),
    seed: record.seed,
    // The decoder that made the pixels: a fast decode is made again fast (a best-of winner ranked on fast decodes was not).
    ...((settings.decoder as { type?: string } | undefined)?.type === 'fast' ? { decoder: 'fast' as const } : {}),
    n: 1,
  };
}

/** The POST /v1/jobs body that makes this record's image again. */
export function recordRequest(record: ImageRecord): JobSubmit {
  const form = recordSettings(record);
  const body: JobSubmit = { prompt: form.prompt };
  if (form.model) body.model = form.model;
  if (form.negativePrompt) body.negativePrompt = form.negativePrompt;
  if (form.width) body.width = form.width;
  if (form.height) body.height = form.height;
  if (form.steps !== undefined) body.steps = form.steps;
  if (form.guidance !== undefined) body.guidance = form.guidance;
  if (form.sampler) body.sampler = form.sampler;
  if (form.decoder) body.decoder = form.decoder;
  if (form.seed !== undefined) body.seed = form.seed;
  return body;
}

/** Quotes for a POSIX shell. */
export function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

export function cliCommand(record: ImageRecord): string {
  const body = recordRequest(record);
  const parts = ['pixelpipe', 'generate', shellQuote(body.prompt)];
  const flag = (name: string, value: string | number | undefined) => {
    if (value !== undefined) parts.push(`--${name}`, shellQuote(String(value)));
  };
  flag('model', body.model);
  flag('negative', body.negativePrompt);
  flag('width', body.width);
  flag('height', body.height);
  flag('steps', body.steps);
  flag('guidance', body.guidance);
  flag('sampler', body.sampler);
  flag('decoder', body.decoder);
  flag('seed', body.seed === undefined ? undefined : String(body.seed));
  return parts.join(' ');
}

export function curlCommand(record: ImageRecord, origin: string): string {
  return [`curl -sS ${shellQuote(`${origin}/v1/jobs`)}`, '-H "Authorization: Bearer $PIXELPIPE_API_KEY"', "-H 'Content-Type: application/json'", `-d ${shellQuote(JSON.stringify(recordRequest(record)))}`].join(' \\\n  ');
}

/** A spec-file entry (docs/build.md) that makes this record's image with `pixelpipe build`; strings as JSON, which YAML reads too. */
export function specSnippet(record: ImageRecord): string {
  const body = recordRequest(record);
  const name = `image-${record.id.slice(0, 8)}`;
  const text = (value: string) => JSON.stringify(value);
  // Spec prompts are templates: a literal brace is written twice.
  const template = (value: string) => text(value.replace(/[{}]/g, (brace) => brace + brace));
  const size = `${record.width}x${record.height}`;
  const lines = [`- name: ${name}`];
  if (body.model) lines.push(`  model: ${text(body.model)}`);
  lines.push(`  prompt: ${template(body.prompt)}`);
  if (body.negativePrompt) lines.push(`  negativePrompt: ${template(body.negativePrompt)}`);
  // The record's own size, asked of the model as it is, not the build's pick for the aspect ratio.
  lines.push(`  size: ${size}`, `  generationSize: ${size}`);
  if (body.steps !== undefined) lines.push(`  steps: ${body.steps}`);
  if (body.guidance !== undefined) lines.push(`  guidance: ${body.guidance}`);
  if (body.sampler) lines.push(`  sampler: ${text(body.sampler)}`);
  if (body.decoder) lines.push(`  decoder: ${body.decoder}`);
  // A string, since seeds go up to 2^64 − 1, past what a YAML number keeps exactly.
  if (body.seed !== undefined) lines.push(`  seed: ${text(String(body.seed))}`);
  const loras = record.request.loras ?? [];
  if (loras.length > 0) lines.push(`  loras: [${loras.map((lora) => text(lora.scale === undefined ? lora.name : `${lora.name}:${lora.scale}`)).join(', ')}]`);
  const extension = record.mediaType === 'image/jpeg' ? 'jpg' : (record.mediaType.split('/')[1] ?? 'png');
  lines.push(`  output: { path: ${text(`out/${name}.${extension}`)} }`);
  return lines.join('\n');
}
