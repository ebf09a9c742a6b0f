// The library's front door: resolve a model (local folder, cache or hub; or a hosted PROVIDER:MODEL), keep sessions warm, generate.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, isAbsolute, join, resolve } from 'node:path';
import { loadSettings, overrideSettings, type Settings } from '../config/settings.js';
import { parseSeed } from '../providers/shared/call-validation.js';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../spec/errors/invalid-model-error.js';
import { createLocal } from '../providers/local/local-provider.js';
import { createProviderRegistry, loadProviderModules, type ProviderRegistry, type ProviderRegistrySettings, type ProviderStatus } from '../providers/registry.js';
import type { MemoryEstimate } from '../engine/families/memory-estimate.js';
import type { LocalImageModel, LocalModelCapabilities } from '../providers/local/local-image-model.js';
import type { LocalControlInput } from '../providers/local/local-image-options.js';
import { defaultMemoryBudget } from './memory-budget.js';
import type { ImageModelCallOptions } from '../spec/image-model-call-options.js';
import type { ImageModelResult } from '../spec/image-model-result.js';
import { listCachedModels, parseModelRef, resolveCachedModel, type CachedModel } from './models/model-cache.js';
import { createWeightHashCache } from '../engine/runtime/weight-hash.js';
import type { WarmUpReport } from '../engine/pipelines/warm-up.js';
import type { GraphCacheOutcome } from '../engine/runtime/graph-cache.js';
import { defaultModelId, findRegistryEntry, modelRegistry, type RegistryEntry } from './models/model-registry.js';
import { pullModel, type PullProgress, type PullResult } from './models/pull-model.js';

export interface PixelpipeOptions extends Partial<Settings> {
  /** Settings the process already loaded (`loadSettings`), which the other fields override; without them the environment is read once, on first use. */
  settings?: Settings;
  /** Injected fetch for hub and hosted-provider requests (proxies, tests). */
  fetch?: typeof fetch;
  /** Settings per hosted provider (API keys, base URLs, retries, timeouts); keys and URLs otherwise come from the environment. */
  providers?: ProviderRegistrySettings['providers'];
  /** Messages worth telling a person, e.g. "pulling the default model". */
  onNotice?: (message: string) => void;
  /** Download progress while a model is pulled. */
  onDownloadProgress?: (progress: PullProgress) => void;
  /**
   * Modules (paths or file: URLs) whose default export is a provider `{ name, imageModel(modelId) }`,
   * reached as `NAME:MODEL`; worker processes import them too.
   */
  providerModules?: string[];
}

export interface GenerateOptions extends Omit<ImageModelCallOptions, 'n' | 'seed'> {
  /**
   * Local: a model folder, hub repo id (`owner/name[@revision]`) or registry alias, optionally as `local:…`.
   * Hosted: `PROVIDER:MODEL`, e.g. `openai:gpt-image-1`. Several, comma-separated: tried in order until one succeeds.
   * The default local model when omitted.
   */
  model?: string;
  /** Number of images (default 1). */
  n?: number;
  /** Seed of the first image: 0 to 2^64−1 as number, bigint or decimal string. */
  seed?: number | bigint | string;
  /** A VAE decoder to use when the model's own returns NaN/∞ (fp16 SDXL VAEs): a model.onnx or a folder holding one. */
  vaeDecoderFallback?: string;
  /** LoRA `.safetensors` files merged into a local SD 1.x/2.x or SDXL model, each at its scale (1 = as trained). */
  loras?: ReadonlyArray<{ path: string; scale: number }>;
  /**
   * ControlNets for a local SD 1.x/2.x model whose UNet takes residual inputs (see docs/controlnet.md):
   * each with its control image, preprocessor, scale and guidance window; several sum their residuals.
   * Passed to the local provider as `providerOptions.local.controls`.
   */
  controls?: readonly LocalControlInput[];
}

export interface ResolvedModel {
  /** The model as the caller named it: the repo id or folder path (local), or `PROVIDER:MODEL` (hosted). Records call a folder by its name instead (see `recordedModelId`). */
  id: string;
  /** The local model's folder; absent for hosted models. */
  folder?: string;
  /** Commit sha for hub models. */
  revision?: string;
  source: 'folder' | 'cache' | 'pulled' | 'hosted';
}

export interface GenerateResult extends ImageModelResult {
  model: ResolvedModel;
}

/** What `Pixelpipe.optimize` did: each session of the model, built into the graph cache or found there. */
export interface OptimizeReport {
  model: string;
  /** The graph cache's folder. */
  graphCache: string;
  sessions: Array<{ name: string; outcome: GraphCacheOutcome | 'not cached'; milliseconds: number }>;
}

export interface Pixelpipe {
  generate(options: GenerateOptions): Promise<GenerateResult>;
  /** Finds a model locally, pulling it from the hub when it is not cached yet. */
  resolveModel(reference?: string): Promise<ResolvedModel>;
  /**
   * Checks, without loading or downloading anything, all of a local generation that can be known
   * before it runs: the settings' ranges, the sampler, the model's size rule, what an inpainting
   * model needs, and the estimated peak memory against the budget. Throws `InvalidArgumentError`
   * as the generation would; gives the memory estimate. Undefined for local models not on this
   * machine. `inputSize`: an edit's input image, whose size the output takes (plus `extend`);
   * `masked`: the edit has a mask. A hosted model (not a fallback list) runs its provider's own
   * up-front check (`doCheck`), the one its generation runs first, with no network call: what the
   * provider would refuse is refused; what it would only warn about passes. Gives undefined then.
   */
  check(options: Pick<GenerateOptions, 'model' | 'n' | 'seed' | 'steps' | 'guidance' | 'strength' | 'sampler' | 'width' | 'height' | 'aspectRatio' | 'extend' | 'providerOptions' | 'vaeDecoderFallback' | 'decoder'> & { prompt?: string; inputSize?: { width: number; height: number }; masked?: boolean }): Promise<MemoryEstimate | undefined>;
  /** Finds a local model on this machine (a folder, or a complete copy in the cache) without downloading; undefined when it is not here. */
  locate(reference: string): Promise<ResolvedModel | undefined>;
  /** What the local model `reference` can do, from its configs, when it is on this machine and readable. */
  capabilities(reference: string): Promise<LocalModelCapabilities | undefined>;
  /**
   * What identifies the weights `reference` names, for build keys: `sha256:<hex>` of a local model's
   * UNet (remembered by path, size and mtime, so only the first call reads the files; a model not
   * cached yet is pulled first, as a generation would), or undefined for a hosted model, whose id is all there is.
   */
  modelHash(reference?: string): Promise<string | undefined>;
  /** Whether `reference` names a hosted model (`PROVIDER:MODEL`, custom providers included) rather than a local one. */
  isHosted(reference: string): Promise<boolean>;
  /** Does the one model `reference` only wait on a network (see `CustomProvider.remote`), so its jobs may run many at once in the server process? */
  isRemote(reference: string): Promise<boolean>;
  pullModel(reference: string): Promise<PullResult>;
  listModels(): Promise<{ cached: CachedModel[]; registry: readonly RegistryEntry[] }>;
  /** Hosted providers and whether each is configured (its API key variables set). */
  listProviders(): ProviderStatus[];
  /**
   * Loads the local model `reference` names (when it is on this machine; nothing is downloaded) and
   * runs one throwaway image through its sessions, so the first generation runs at full speed. Gives
   * the warm-up's report; undefined for a hosted model, one not here, or one already warm.
   */
  warm(reference?: string): Promise<WarmUpReport | undefined>;
  /**
   * Loads the local model `reference` names (a folder, or a model in the cache; nothing is downloaded)
   * with the graph cache, so its optimised graphs are built now rather than on first use. Says, per
   * session, whether it was built or found, and how long that took; undefined when the model is not here.
   */
  optimize(reference: string): Promise<OptimizeReport | undefined>;
  /** Releases loaded sessions. */
  close(): Promise<void>;
}

/**
 * What a local model's records (the PNG's `pixelpipe` chunk, A1111's `Model:`) and `response.modelId`
 * call it: the repo id for a hub model, the folder's name for a folder, never a path on the machine
 * that made the image. The weights are identified by the record's UNet hash either way.
 */
export function recordedModelId(model: ResolvedModel): string {
  if (model.source !== 'folder' || model.folder === undefined) return model.id;
  return basename(model.folder) || model.id;
}

/** Longest side a local model is asked for; what fits below it depends on the model and is checked against the memory budget. */
const maxLocalSide = 16_384;

// A side no machine could make is refused before a model is resolved (and perhaps downloaded) for it.
function checkSide(argument: 'width' | 'height', value: number | undefined): void {
  if (value !== undefined && value > maxLocalSide) {
    throw new InvalidArgumentError({ argument, value, message: `\`${argument}\` must be at most ${maxLocalSide} pixels for a local model, got ${value} (what fits below that depends on the model and the memory budget)` });
  }
}

/** A path the user clearly meant as one: absolute, ./, ../ or ~/. */
function looksLikePath(reference: string): boolean {
  return isAbsolute(reference) || /^(\.{1,2}|~)([\\/]|$)/.test(reference);
}

export function createPixelpipe(options: PixelpipeOptions = {}): Pixelpipe {
  const { settings: given, fetch, providers, onNotice = () => {}, onDownloadProgress, providerModules = [], ...overrides } = options;
  let settings: Settings | undefined;
  const currentSettings = () => (settings ??= given ? overrideSettings(given, overrides) : loadSettings(overrides));
  let local: ReturnType<typeof createLocal> | undefined;
  const localProvider = () => {
    const { executionProvider, threads, cacheDir, maxInputPixels, previewDecoder, fastDecoder, memoryBudget, graphCache, offloadTextEncoders } = currentSettings();
    const memoryBudgetBytes = memoryBudget ?? defaultMemoryBudget();
    return (local ??= createLocal({
      executionProvider, threads, maxInputPixels, previewDecoder, fastDecoder, memoryBudgetBytes, offloadTextEncoders,
      hashCache: createWeightHashCache(join(cacheDir, 'weight-hashes.json')),
      ...(graphCache === 'off' ? {} : { graphCache }),
    }));
  };

  async function pull(reference: string): Promise<PullResult> {
    const { cacheDir, hubUrl, hubToken } = currentSettings();
    return pullModel({ repoId: reference, cacheDir, hubUrl, accessToken: hubToken, fetch, onProgress: onDownloadProgress });
  }

  // A local reference as a folder, or as a hub repo with the revision the registry pins, and its cached copy when complete.
  // `ref` is set whenever `found` is not: a reference that is no folder is a hub reference.
  async function findLocalModel(reference: string | undefined): Promise<{ found?: ResolvedModel; ref?: ReturnType<typeof parseModelRef> }> {
    const wanted = (reference ?? defaultModelId).replace(/^local:/, '');
    const expanded = wanted.startsWith('~/') ? resolve(homedir(), wanted.slice(2)) : wanted;
    if (existsSync(expanded) || looksLikePath(wanted)) return { found: { id: wanted, folder: resolve(expanded), source: 'folder' } };
    // A registry alias or id stands for its repo at the pinned commit unless a revision is given.
    const [name, revision] = wanted.split('@') as [string, string | undefined];
    const entry = findRegistryEntry(name);
    const ref = parseModelRef(entry ? `${entry.repoId}@${revision ?? entry.revision}` : wanted);
    const cached = await resolveCachedModel(currentSettings().cacheDir, ref);
    return { found: cached?.complete ? { id: ref.repoId, folder: cached.folder, revision: cached.revision, source: 'cache' } : undefined, ref };
  }

  async function resolveModel(reference?: string): Promise<ResolvedModel> {
    if (reference === undefined) onNotice(`no model given: using the default model ${defaultModelId}`);
    const { found, ref } = await findLocalModel(reference);
    if (found || !ref) return found!;
    onNotice(`${ref.repoId} is not in the model cache (${currentSettings().cacheDir}): downloading it from ${currentSettings().hubUrl} now (first use)`);
    const pulled = await pull(ref.revision ? `${ref.repoId}@${ref.revision}` : ref.repoId);
    if (pulled.license) onNotice(`licence of ${ref.repoId}: ${pulled.license}`);
    return { id: ref.repoId, folder: pulled.folder, revision: pulled.revision, source: 'pulled' };
  }

  // A local model on this machine, found without downloading; undefined when it is not here.
  async function locate(reference: string | undefined): Promise<ResolvedModel | undefined> {
    const { found } = await findLocalModel(reference);
    return found && (found.source !== 'folder' || existsSync(found.folder!)) ? found : undefined;
  }

  // `use` on the local model `reference` names, when it is on this machine; undefined otherwise, or
  // when its folder is no model (a job on it fails when it runs, naming what is missing).
  async function withLocalModel<T>(reference: string | undefined, vaeDecoderFallback: string | undefined, use: (model: LocalImageModel) => Promise<T>): Promise<T | undefined> {
    const found = await locate(reference);
    if (!found) return undefined;
    try {
      return await use(localProvider().imageModel(recordedModelId(found), { folder: found.folder!, vaeDecoderFallback }));
    } catch (error) {
      if (InvalidModelError.isInstance(error)) return undefined;
      throw error;
    }
  }

  const registrySettings: ProviderRegistrySettings = {
    providers,
    defaults: { fetch },
    local: async (reference, { vaeDecoderFallback, loras }) => {
      const model = await resolveModel(reference);
      return localProvider().imageModel(recordedModelId(model), { folder: model.folder!, vaeDecoderFallback, loras });
    },
  };
  // Built-in providers answer at once; provider modules are imported on first use.
  const builtIn: ProviderRegistry = createProviderRegistry(registrySettings);
  let withModules: Promise<ProviderRegistry> | undefined;
  const registry = (): Promise<ProviderRegistry> =>
    providerModules.length === 0 ? Promise.resolve(builtIn) : (withModules ??= loadProviderModules(providerModules).then((custom) => createProviderRegistry({ ...registrySettings, custom })));

  return {
    resolveModel,
    locate,
    async modelHash(reference) {
      if (reference !== undefined && (await registry()).isHosted(reference)) return undefined;
      const model = await resolveModel(reference);
      return await localProvider().weightHash(model.folder!);
    },
    capabilities: (reference) => withLocalModel(reference, undefined, (model) => model.capabilities()),
    async isHosted(reference) {
      return !reference.includes(',') && (await registry()).isHosted(reference);
    },
    async isRemote(reference) {
      return !reference.includes(',') && (await registry()).isRemote(reference);
    },
    pullModel: pull,
    async generate({ model: reference, n = 1, seed, vaeDecoderFallback, loras, controls, ...callOptions }) {
      // The library's edge: the seed is parsed here, once, before a model is resolved or pulled for it.
      const call = { ...callOptions, n, seed: seed === undefined ? undefined : parseSeed(seed), ...withControls(callOptions.providerOptions, controls) };
      const providers = await registry();
      if (reference !== undefined && providers.isHosted(reference)) {
        if (controls?.length) throw new InvalidArgumentError({ argument: 'controls', value: reference, message: `ControlNets run on local models only; ${reference} is hosted: leave out \`controls\` or choose a local SD 1.x/2.x model` });
        if (!reference.includes(',')) refuseHostedFastDecoder(reference, callOptions.decoder);
        const result = await (await providers.imageModel(reference, { vaeDecoderFallback, loras })).doGenerate(call);
        return { ...result, model: { id: reference, source: 'hosted' } };
      }
      checkSide('width', callOptions.width);
      checkSide('height', callOptions.height);
      const model = await resolveModel(reference);
      const imageModel = localProvider().imageModel(recordedModelId(model), { folder: model.folder!, vaeDecoderFallback, loras });
      return { ...(await imageModel.doGenerate(call)), model };
    },
    async check({ model: reference, vaeDecoderFallback, inputSize, masked = false, extend, prompt, seed: given, aspectRatio, ...call }) {
      const seed = given === undefined ? undefined : parseSeed(given);
      const providers = await registry();
      if (reference !== undefined && providers.isHosted(reference)) {
        // A fallback list is left to its candidates when it runs: the next one may take what one refuses.
        if (reference.includes(',')) return undefined;
        refuseHostedFastDecoder(reference, call.decoder);
        const model = await providers.imageModel(reference);
        await model.doCheck?.({ ...call, n: call.n ?? 1, extend, prompt, aspectRatio, seed, images: inputSize ? 1 : 0, mask: masked });
        return undefined;
      }
      const edit = inputSize && {
        width: inputSize.width + (extend?.left ?? 0) + (extend?.right ?? 0),
        height: inputSize.height + (extend?.top ?? 0) + (extend?.bottom ?? 0),
        masked: masked || extend !== undefined,
      };
      return await withLocalModel(reference, vaeDecoderFallback, (model) => model.check({ ...call, n: call.n ?? 1, edit }));
    },
    async optimize(reference) {
      const { graphCache } = currentSettings();
      if (graphCache === 'off') throw new InvalidArgumentError({ argument: 'graphCache', value: graphCache, message: 'the graph cache is off (PIXELPIPE_GRAPH_CACHE=off), so there is nowhere to keep optimised graphs: unset it, or set it to a folder' });
      const found = await locate(reference);
      if (!found) return undefined;
      const loaded = await localProvider().imageModel(recordedModelId(found), { folder: found.folder! }).load();
      return {
        model: recordedModelId(found),
        graphCache,
        sessions: loaded.sessions.map((session) => ({ name: session.name, outcome: session.graphCacheOutcome ?? 'not cached', milliseconds: loaded.loadTimings[session.name] ?? 0 })),
      };
    },
    async warm(reference) {
      if (reference !== undefined && (reference.includes(',') || (await registry()).isHosted(reference))) return undefined;
      return await withLocalModel(reference, undefined, (model) => model.warm());
    },
    listProviders: () => builtIn.providers(),
    async listModels() {
      return { cached: await listCachedModels(currentSettings().cacheDir), registry: modelRegistry };
    },
    async close() {
      await local?.close();
      local = undefined;
    },
  };
}

/** A hosted model returns finished images: there are no latents for a fast decoder, so asking for one is refused, as ControlNets are. */
function refuseHostedFastDecoder(reference: string, decoder: GenerateOptions['decoder']): void {
  if (decoder !== 'fast') return;
  throw new InvalidArgumentError({ argument: 'decoder', value: decoder, message: `\`decoder\` "fast" runs on local SD 1.x/2.x models only; ${reference} is hosted and returns finished images: leave out \`decoder\` (or give "full"), or choose a local model` });
}

/** `controls` as the local provider takes them, in `providerOptions.local`. */
function withControls(providerOptions: GenerateOptions['providerOptions'], controls: GenerateOptions['controls']): Pick<GenerateOptions, 'providerOptions'> {
  if (!controls?.length) return providerOptions ? { providerOptions } : {};
  return { providerOptions: { ...providerOptions, local: { ...providerOptions?.local, controls } } };
}

/** One-off generation with a default instance; prefer `createPixelpipe()` to keep sessions between calls. */
export async function generate(options: GenerateOptions & PixelpipeOptions): Promise<GenerateResult> {
  const { cacheDir, hubUrl, hubToken, executionProvider, threads, maxInputPixels, previewDecoder, fastDecoder, fetch, providers, onNotice, onDownloadProgress, ...generateOptions } = options;
  const pixelpipe = createPixelpipe({ cacheDir, hubUrl, hubToken, executionProvider, threads, maxInputPixels, previewDecoder, fastDecoder, fetch, providers, onNotice, onDownloadProgress });
  try {
    return await pixelpipe.generate(generateOptions);
  } finally {
    await pixelpipe.close();
  }
}
