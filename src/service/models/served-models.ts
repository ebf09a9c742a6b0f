// The models a service serves, as its jobs name them: the catalog (configured, cached and hosted models) and the names a request may use.
import { NotFoundError } from '../errors/not-found-error.js';
import { localLane } from '../jobs/job-claim.js';
import type { ProviderStatus } from '../../providers/registry.js';
import type { Pixelpipe } from '../pixelpipe.js';
import { hostedCatalogModels } from './catalog-listing.js';
import { createModelCatalog, type ModelCatalog } from './model-catalog.js';
import { defaultModelId } from './model-registry.js';

/** What a request's `model` comes to. */
export interface ServedModel {
  /** The catalog's names, comma-joined: what the job keeps, so every worker makes the same image. */
  names: string;
  /** What the engine or the providers load, comma-joined. */
  reference: string;
  /** The job's lane: its provider's when every model it names only waits on a network, else `local`. */
  lane: string;
}

/** The served models, and the way from a request's `model` to them. */
export interface ServedModels {
  catalog: ModelCatalog;
  /** A request's `model` (the default when it names none) as the catalog names it; a 404 `model_not_found` for a model not served here. */
  resolve(name: string | undefined): Promise<ServedModel>;
}

/** The catalog of a service: its default and extra models, the model cache, and the hosted models it has keys for. */
export function createServedModels({ pixelpipe, defaultModel, models = [] }: { pixelpipe: Pixelpipe; defaultModel?: string; models?: string[] }): ServedModels {
  const catalog = createModelCatalog({
    configured: async () => {
      // Hosted ones are not local models; one that is no valid reference is not here (serve names it at start).
      const locate = async (configured: string) => ((await pixelpipe.isHosted(configured)) ? undefined : await pixelpipe.locate(configured).catch(() => undefined));
      const located = await Promise.all([defaultModel, ...models].filter((reference) => reference !== undefined).map(async (configured) => ({ configured, found: await locate(configured) })));
      return located.flatMap(({ configured, found }) => (found ? [{ configured, folder: found.folder!, ...(found.source === 'cache' && { repoId: found.id, revision: found.revision }) }] : []));
    },
    cached: async () => (await pixelpipe.listModels()).cached,
    hosted: () => hostedCatalogModels(pixelpipe),
  });

  async function notServed(name: string): Promise<NotFoundError> {
    const local = (await catalog.list()).filter((model) => model.ownedBy === 'local').map((model) => model.id);
    const served = local.length > 0 ? `the local models here are ${local.slice(0, 10).join(', ')}${local.length > 10 ? ', …' : ''}` : 'no local model is here';
    const message = `\`model\` names ${JSON.stringify(name)}, which is not served here: ${served} (GET /v1/models lists them, with hosted ones as PROVIDER:MODEL); the operator adds one with \`pixelpipe models pull ID\``;
    return new NotFoundError({ resource: 'model', id: name, message });
  }

  function unconfigured(name: string, provider: ProviderStatus): NotFoundError {
    const missing = provider.variables.filter((variable) => !variable.set).map((variable) => variable.name);
    const message = `\`model\` names ${JSON.stringify(name)}, which is not served here: this server has no ${provider.name} API key (the operator sets ${missing.join(' and ')}); GET /v1/models lists the models it serves`;
    return new NotFoundError({ resource: 'model', id: name, message });
  }

  // Which providers have their keys is settled when the service starts (settings are read once), and
  // reading them is a walk of the environment for every provider: once, not at every submit.
  let providerStatuses: ProviderStatus[] | undefined;
  const providerNamed = (name: string) => (providerStatuses ??= pixelpipe.listProviders()).find((status) => status.name === name);

  return {
    catalog,
    // Hosted models are taken as they are and local ones from the catalog alone: nothing a client
    // sends is looked up elsewhere on this machine or downloaded.
    async resolve(name) {
      const names: string[] = [];
      const references: string[] = [];
      const remote: string[] = [];
      for (const part of (name ?? defaultModel ?? defaultModelId).split(',').map((each) => each.trim())) {
        if (await pixelpipe.isHosted(part)) {
          // A built-in provider without its API key here would fail every job on it: not served here.
          const provider = providerNamed(part.slice(0, part.indexOf(':')));
          if (provider && !provider.configured) throw unconfigured(part, provider);
          names.push(part);
          references.push(part);
          if (await pixelpipe.isRemote(part)) remote.push(part.slice(0, part.indexOf(':')));
          continue;
        }
        const model = await catalog.find(part);
        if (!model) throw await notServed(part);
        names.push(model.id);
        references.push(model.reference);
      }
      return { names: names.join(','), reference: references.join(','), lane: remote.length === names.length ? remote[0]! : localLane };
    },
  };
}
