// The plan of a build: for each output its final request and key, and whether it is cached or must be generated (and why).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { minimatch } from 'minimatch';
import { estimateCost } from '../../providers/shared/cost.js';
import { minRequestSide } from '../generation/job-request.js';
import { outputKey } from '../specs/output-key.js';
import type { BuildModel } from './build-backend.js';
import type { LockEntry, Lockfile, ResolvedOutput } from './build-types.js';

/** The pixelpipe version, part of every key: a new engine may make other pixels from the same request. */
export const engineVersion: string = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

export type PlanReason = 'new' | 'changed' | 'forced' | 'missing' | 'modified';

/** One output of the plan. */
export interface PlannedOutput {
  output: ResolvedOutput;
  model: BuildModel;
  /** What is submitted: a native job request. */
  request: Record<string, unknown>;
  key: string;
  /** `cached`: key and file match the lockfile; `generate`: why not. */
  status: 'cached' | 'generate';
  reason?: PlanReason;
  /** The lockfile's entry for this path, if any. */
  entry?: LockEntry;
}

/** Why an output is generated, in words for the plan and the logs. */
export const reasonText: Record<PlanReason, string> = {
  new: 'not in the lockfile',
  changed: 'its spec, model or engine changed',
  forced: 'matched --force',
  missing: 'the file is missing',
  modified: 'the file differs from the lockfile',
};

/**
 * The size asked of the model: the spec's `generate` size when it gave one; otherwise, for a local
 * model, its native area at the target's aspect ratio on its size grid (a 1200x628 banner from a 512²
 * model is generated at 704x368, then resized); a hosted model is given the aspect ratio.
 */
export function generationSize(output: ResolvedOutput, model: BuildModel): { width?: number; height?: number; aspectRatio?: string } {
  const { request, finish } = output;
  if (request.width !== undefined && request.height !== undefined) return { width: request.width, height: request.height };
  const ratio = finish.width !== undefined && finish.height !== undefined ? finish.width / finish.height : request.aspectRatio ? aspectValue(request.aspectRatio) : undefined;
  if (ratio === undefined) return {};
  if (model.hosted || !model.defaultSize || !model.sizeMultiple) {
    return { aspectRatio: request.aspectRatio ?? reducedRatio(finish.width!, finish.height!) };
  }
  const area = model.defaultSize.width * model.defaultSize.height;
  // A small native area at a wide ratio would give a side below what a request may ask for: grow both sides.
  const grow = Math.max(1, minRequestSide / Math.min(Math.sqrt(area * ratio), Math.sqrt(area / ratio)));
  const step = model.sizeMultiple;
  const snap = (value: number) => Math.max(Math.ceil(minRequestSide / step) * step, Math.round((value * grow) / step) * step);
  return { width: snap(Math.sqrt(area * ratio)), height: snap(Math.sqrt(area / ratio)) };
}

function aspectValue(aspectRatio: string): number {
  const [width, height] = aspectRatio.split(':').map(Number);
  return width! / height!;
}

/** `1200x628` → `300:157`; sides above 999 (what providers accept) are approximated. */
function reducedRatio(width: number, height: number): string {
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const divisor = gcd(width, height);
  let [w, h] = [width / divisor, height / divisor];
  while (w > 999 || h > 999) [w, h] = [Math.round(w / 2), Math.round(h / 2)];
  return `${w}:${h}`;
}

// A matrix or a data file may give many outputs the same control image: it is read once while it is unchanged.
const controlImages = new Map<string, { stamp: string; base64: string }>();
function controlImageBase64(path: string): string {
  const { mtimeMs, size } = statSync(path);
  const stamp = `${mtimeMs}:${size}`;
  const cached = controlImages.get(path);
  if (cached?.stamp === stamp) return cached.base64;
  const base64 = readFileSync(path).toString('base64');
  controlImages.set(path, { stamp, base64 });
  return base64;
}

/** The native job request for an output on its model. */
export function jobRequestOf(output: ResolvedOutput, model: BuildModel): Record<string, unknown> {
  const { request, candidates, ranker, finish } = output;
  const size = generationSize(output, model);
  const fields: Record<string, unknown> = {
    model: model.reference || undefined,
    prompt: request.prompt,
    negativePrompt: request.negativePrompt,
    ...size,
    steps: request.steps,
    guidance: request.guidance,
    sampler: request.sampler,
    decoder: request.decoder,
    seed: request.seed,
    n: 1,
    ...(candidates > 1 ? { bestOf: candidates, rankBy: ranker!.type, rankRubric: ranker?.rubric, rankDecoder: ranker?.decoder } : {}),
    ...(finish.width !== undefined && finish.height !== undefined ? { resize: { width: finish.width, height: finish.height, fit: finish.fit } } : {}),
    // The service picks the scale from the image the model made; an output with no pixel size has nothing to reach.
    ...(finish.upscale === 'esrgan' && finish.width !== undefined && finish.height !== undefined ? { upscale: {} } : {}),
    outputFormat: finish.format,
    outputQuality: finish.quality,
    providerOptions: request.providerOptions,
    loras: request.loras,
    // Control images go inline: the server needs their bytes, and the key then covers them.
    hiresFix: request.hiresFix,
    controls: request.controls?.map(({ image, ...control }) => ({ ...control, image: { b64_json: controlImageBase64(image) } })),
  };
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

export async function fileSha256(path: string): Promise<string | undefined> {
  const bytes = await readFile(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  return bytes && `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** Does `--force PATTERN` pick this output? A glob on its path (`out/de-*\/**`), or a spec's name. */
export function forced(output: ResolvedOutput, patterns: readonly string[]): boolean {
  return patterns.some((pattern) => pattern === output.spec || minimatch(output.path, pattern, { dot: true }));
}

/** Plans every output: its request and key, and whether its file and lockfile entry let it be skipped. */
export async function planOutputs(outputs: ResolvedOutput[], { root, lock, models, force = [], loraHashes = {}, controlNetHashes = {} }: { root: string; lock?: Lockfile; models: Map<string, BuildModel>; force?: readonly string[]; loraHashes?: Record<string, string>; controlNetHashes?: Record<string, string> }): Promise<PlannedOutput[]> {
  const entries = new Map((lock?.outputs ?? []).map((entry) => [entry.path, entry]));
  return await Promise.all(
    outputs.map(async (output): Promise<PlannedOutput> => {
      const model = models.get(output.request.model ?? '')!;
      const request = jobRequestOf(output, model);
      const loras = output.request.loras?.map(({ name }) => [name, loraHashes[name]!] as const);
      const controlNets = output.request.controls?.flatMap(({ controlnet }) => (controlnet === undefined ? [] : [[controlnet, controlNetHashes[controlnet]!] as const]));
      const key = outputKey(output, { model: model.reference, modelHash: model.hash, engineVersion, request, ...(loras && { loraHashes: Object.fromEntries(loras) }), ...(controlNets?.length && { controlNetHashes: Object.fromEntries(controlNets) }) });
      const entry = entries.get(output.path);
      const planned = { output, model, request, key, ...(entry && { entry }) };
      if (forced(output, force)) return { ...planned, status: 'generate', reason: 'forced' };
      if (!entry) return { ...planned, status: 'generate', reason: 'new' };
      if (entry.key !== key) return { ...planned, status: 'generate', reason: 'changed' };
      const sha256 = await fileSha256(join(root, output.path));
      if (sha256 === undefined) return { ...planned, status: 'generate', reason: 'missing' };
      if (sha256 !== entry.sha256) return { ...planned, status: 'generate', reason: 'modified' };
      return { ...planned, status: 'cached' };
    }),
  );
}

/** What the outputs to generate would cost at list prices; local models cost nothing, hosted ones without a price are counted apart. */
export function estimateBuildCost(planned: PlannedOutput[]): { amountUsd: number; local: number; priced: number; unpriced: string[] } {
  let amountUsd = 0;
  let local = 0;
  let priced = 0;
  const unpriced = new Set<string>();
  for (const { model, output, request, status } of planned) {
    if (status !== 'generate') continue;
    if (!model.hosted) {
      local += 1;
      continue;
    }
    // A fallback list is priced at its first model: the one that runs unless it fails.
    const first = model.reference.split(',')[0]!.trim();
    const colon = first.indexOf(':');
    const cost = estimateCost({ provider: first.slice(0, colon), modelId: first.slice(colon + 1), images: output.candidates, width: request.width as number | undefined, height: request.height as number | undefined });
    if (cost) {
      amountUsd += cost.amountUsd;
      priced += 1;
    } else unpriced.add(first);
  }
  return { amountUsd: Math.round(amountUsd * 1e6) / 1e6, local, priced, unpriced: [...unpriced] };
}
