// The catalog as it is listed (`GET /v1/models`, `pixelpipe models list`): ids, owners, and what each local model can do; and the catalog of a machine where no server runs.
import type { LocalModelCapabilities } from '../../providers/local/local-image-model.js';
import type { Pixelpipe } from '../pixelpipe.js';
import { createModelCatalog, type ModelCatalog } from './model-catalog.js';

/** One model as listed to clients and people. */
export interface ListedModel {
  /** What requests name it by. */
  id: string;
  /** `local`, or the hosted provider's name. */
  ownedBy: string;
  /** Local models: what they can do, read from their configs (absent when they cannot be read). */
  capabilities?: LocalModelCapabilities;
}

/** Hosted models are named as requests name them (`openai:gpt-image-1`); a provider that needs no key (ComfyUI) is listed only when its server is set. */
export function hostedCatalogModels(pixelpipe: Pick<Pixelpipe, 'listProviders'>): { id: string; ownedBy: string }[] {
  return pixelpipe.listProviders().flatMap((provider) => {
    const configured = provider.variables.length > 0 ? provider.configured : process.env[provider.baseUrlVariable] !== undefined;
    return configured ? provider.exampleModels.map((example) => ({ id: `${provider.name}:${example}`, ownedBy: provider.name })) : [];
  });
}

/** The catalog's models, local ones with their capabilities; nothing is loaded or downloaded. */
export async function listCatalog(catalog: ModelCatalog, pixelpipe: Pick<Pixelpipe, 'capabilities'>): Promise<ListedModel[]> {
  return await Promise.all(
    (await catalog.list()).map(async ({ id, ownedBy, reference }) => {
      const capabilities = ownedBy === 'local' ? await pixelpipe.capabilities(reference) : undefined;
      return { id, ownedBy, ...(capabilities && { capabilities }) };
    }),
  );
}

/**
 * What a server on this machine would serve besides its `--model` and extra models: the complete
 * models in the model cache and the hosted models this environment has keys for. For listing where
 * no server runs; read again on every `list`.
 */
export function cacheCatalog(pixelpipe: Pick<Pixelpipe, 'listModels' | 'listProviders'>): ModelCatalog {
  return createModelCatalog({ configured: async () => [], cached: async () => (await pixelpipe.listModels()).cached, hosted: () => hostedCatalogModels(pixelpipe) }, { refreshMs: 0 });
}
