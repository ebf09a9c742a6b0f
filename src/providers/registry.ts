// Finds a model by `PROVIDER:MODEL` across every provider; a comma-separated list becomes a fallback router.
import type { ImageModel } from '../spec/image-model.js';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import { createBfl, bflProviderInfo } from './bfl/index.js';
import { createComfyUI, comfyuiProviderInfo } from './comfyui/index.js';
import { createFal, falProviderInfo } from './fal/index.js';
import { createFirefly, fireflyProviderInfo } from './firefly/index.js';
import { createGoogle, googleProviderInfo } from './google/index.js';
import { createIdeogram, ideogramProviderInfo } from './ideogram/index.js';
import { createOpenAI, openaiProviderInfo } from './openai/index.js';
import { createReplicate, replicateProviderInfo } from './replicate/index.js';
import { createRouter } from './router/index.js';
import { baseUrlVariable, resolveBaseUrl, type HostedProviderInfo, type HostedProviderSettings } from './shared/provider-settings.js';
import { createStability, stabilityProviderInfo } from './stability/index.js';

type HostedFactory = (settings: HostedProviderSettings) => (modelId: string) => ImageModel;

/** Every hosted provider: its listing and its factory. */
export const hostedProviders: readonly { info: HostedProviderInfo; create: HostedFactory }[] = [
  { info: openaiProviderInfo, create: createOpenAI },
  { info: replicateProviderInfo, create: createReplicate },
  { info: falProviderInfo, create: createFal },
  { info: stabilityProviderInfo, create: createStability },
  { info: bflProviderInfo, create: createBfl },
  { info: googleProviderInfo, create: createGoogle },
  { info: ideogramProviderInfo, create: createIdeogram },
  { info: fireflyProviderInfo, create: createFirefly },
  { info: comfyuiProviderInfo, create: createComfyUI },
];

export type HostedProviderName = 'openai' | 'replicate' | 'fal' | 'stability' | 'bfl' | 'google' | 'ideogram' | 'firefly' | 'comfyui';

/**
 * A provider from outside the package (an operator's own API, a test double): the default export of a
 * module named in `providerModules`, reached as `NAME:MODEL` like the built-in ones.
 */
export interface CustomProvider {
  /** Its prefix in model ids: lowercase letters, digits and dashes, not a built-in provider's name. */
  name: string;
  /** The model `modelId` of this provider. */
  imageModel(modelId: string): ImageModel | Promise<ImageModel>;
  /**
   * True for a provider that only calls a network API: the service then runs its jobs in the server
   * process, many at once, like the built-in hosted providers. False (the default): in the supervised
   * worker processes, one at a time per worker, like local models, since its code may crash or use
   * the machine's memory.
   */
  remote?: boolean;
}

/** Imports provider modules (paths or file: URLs) and checks that each default export is a `CustomProvider`. */
export async function loadProviderModules(locations: readonly string[]): Promise<CustomProvider[]> {
  const loaded: CustomProvider[] = [];
  for (const location of locations) {
    const url = /^file:/.test(location) ? location : pathToFileURL(resolve(location)).href;
    const provider = ((await import(url)) as { default?: Partial<CustomProvider> }).default;
    if (typeof provider?.name !== 'string' || !/^[a-z][a-z0-9-]{0,39}$/.test(provider.name) || typeof provider.imageModel !== 'function') {
      throw new InvalidArgumentError({ argument: 'providerModules', value: location, message: `provider module ${location} must export by default { name, imageModel(modelId) } with a lowercase name of letters, digits and dashes` });
    }
    if (provider.name === 'local' || hostedProviders.some(({ info }) => info.name === provider.name)) {
      throw new InvalidArgumentError({ argument: 'providerModules', value: location, message: `provider module ${location} is named ${JSON.stringify(provider.name)}, which a built-in provider already uses; give it another name` });
    }
    loaded.push(provider as CustomProvider);
  }
  return loaded;
}

/** What a local model of a fallback list is made with, as a single local model is. */
export interface LocalModelOptions {
  /** A VAE decoder to use when the model's own returns NaN/∞ (fp16 SDXL VAEs). */
  vaeDecoderFallback?: string;
  /** LoRA files merged into the local model, each at its scale (local models only). */
  loras?: ReadonlyArray<{ path: string; scale: number }>;
}

export interface ProviderRegistrySettings {
  /** Makes the local model for a reference (folder, hub id, alias); the service supplies it because it owns the model cache. */
  local: (reference: string, options: LocalModelOptions) => Promise<ImageModel>;
  /** Settings per hosted provider (keys, base URLs, retries). */
  providers?: Partial<Record<HostedProviderName, HostedProviderSettings>>;
  /** Settings every hosted provider gets unless its own say otherwise (a shared fetch, retries, timeout). */
  defaults?: HostedProviderSettings;
  /** Providers loaded from `providerModules`. */
  custom?: readonly CustomProvider[];
}

export interface ProviderStatus {
  name: string;
  /** True when every environment variable it needs is set (or the settings give the key). */
  configured: boolean;
  /** Its variables, and whether each is set. */
  variables: { name: string; set: boolean }[];
  baseUrl: string;
  /** The variable that overrides the base URL. */
  baseUrlVariable: string;
  exampleModels: string[];
  documentation: string;
}

export interface ProviderRegistry {
  /** `openai:gpt-image-1`, `local:sd-turbo` (or a bare local reference), or several joined by commas (tried in order). */
  imageModel(id: string, options?: LocalModelOptions): Promise<ImageModel>;
  /** Is `id` served by a hosted provider (or a list)? Local references are not. */
  isHosted(id: string): boolean;
  /** Does the one model `id` only wait on a network (a built-in hosted provider, or a provider module that says it is `remote`)? */
  isRemote(id: string): boolean;
  /** Every hosted provider and whether it is configured. */
  providers(environment?: NodeJS.ProcessEnv): ProviderStatus[];
}

/** Splits `PROVIDER:MODEL`; anything whose prefix is not a provider's name (a path, a hub id) is a local reference. */
export function parseModelId(id: string, custom: readonly CustomProvider[] = []): { provider: string; modelId: string } {
  const colon = id.indexOf(':');
  const prefix = colon > 0 ? id.slice(0, colon) : '';
  if (prefix === 'local' || hostedProviders.some(({ info }) => info.name === prefix) || custom.some((provider) => provider.name === prefix)) return { provider: prefix, modelId: id.slice(colon + 1) };
  return { provider: 'local', modelId: id };
}

export function createProviderRegistry({ local, providers = {}, defaults = {}, custom = [] }: ProviderRegistrySettings): ProviderRegistry {
  const factories = new Map<string, (modelId: string) => ImageModel>();
  const hosted = (name: string) => {
    let factory = factories.get(name);
    if (!factory) {
      const entry = hostedProviders.find(({ info }) => info.name === name)!;
      factory = entry.create({ ...defaults, ...providers[name as HostedProviderName] });
      factories.set(name, factory);
    }
    return factory;
  };
  const single = async (id: string, options: LocalModelOptions): Promise<ImageModel> => {
    const { provider, modelId } = parseModelId(id.trim(), custom);
    if (modelId === '') throw new InvalidArgumentError({ argument: 'model', value: id, message: `\`model\` ${JSON.stringify(id)} names no model after the provider; write PROVIDER:MODEL, e.g. openai:gpt-image-1` });
    if (provider === 'local') return local(modelId, options);
    const own = custom.find((candidate) => candidate.name === provider);
    return own ? own.imageModel(modelId) : hosted(provider)(modelId);
  };
  return {
    async imageModel(id, options = {}) {
      const parts = id.split(',').map((part) => part.trim()).filter(Boolean);
      if (parts.length <= 1) return single(parts[0] ?? id, options);
      return createRouter({ name: parts.join(','), fallback: await Promise.all(parts.map((part) => single(part, options))) });
    },
    isHosted(id) {
      return id.includes(',') || parseModelId(id, custom).provider !== 'local';
    },
    isRemote(id) {
      const { provider } = parseModelId(id.trim(), custom);
      return hostedProviders.some(({ info }) => info.name === provider) || custom.some((own) => own.name === provider && own.remote === true);
    },
    providers(environment = process.env) {
      return hostedProviders.map(({ info }) => {
        const given = providers[info.name as HostedProviderName];
        const isSet = (name: string) => Boolean(environment[name]?.trim());
        const variables = info.apiKeyVariables.map((name) => ({ name, set: isSet(name) || (info.alternateVariables?.[name] ?? []).some(isSet) }));
        return {
          name: info.name,
          configured: given?.apiKey !== undefined || variables.every((variable) => variable.set),
          variables,
          baseUrl: resolveBaseUrl(info.name, given?.baseURL, info.defaultBaseUrl, environment),
          baseUrlVariable: baseUrlVariable(info.name),
          exampleModels: info.exampleModels,
          documentation: info.documentation,
        };
      });
    },
  };
}
