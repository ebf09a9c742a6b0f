// Models pulled at a client's request (`POST /v1/models/pull` on a server started with --allow-pull): hub repos only, one download per model at a time, in the catalog at once.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { PulledModel } from '../image-service-types.js';
import type { ModelCatalog } from './model-catalog.js';
import { parseModelRef } from './model-cache.js';
import { findRegistryEntry, modelRegistry } from './model-registry.js';
import type { PullResult } from './pull-model.js';

export interface ModelPullerOptions {
  /** Downloads into the cache the catalog reads (the service generator's `pullModel`). */
  pull: (reference: string) => Promise<PullResult>;
  /** Read again after each pull, so the model is usable by its id when the answer comes. */
  catalog: ModelCatalog;
}

/** A hub reference a client may ask for: a registry alias or `owner/name[@revision]`, never a path or a hosted model. */
function hubReference(model: unknown): string {
  const text = typeof model === 'string' ? model.trim() : '';
  if (findRegistryEntry(text.split('@')[0]!)) return text;
  const fix = `give a hub repo id such as "owner/name" or "owner/name@revision", or a known-good alias (${modelRegistry.map((entry) => entry.alias).join(', ')})`;
  if (!text.includes('/') || /^[.~]/.test(text)) {
    throw new InvalidArgumentError({ argument: 'model', value: model, message: `\`model\` must name a model on the hub to pull, got ${JSON.stringify(model)}; ${fix}` });
  }
  try {
    parseModelRef(text);
  } catch (error) {
    throw new InvalidArgumentError({ argument: 'model', value: model, message: `\`model\` must name a model on the hub to pull, got ${JSON.stringify(model)}; ${fix}`, cause: error });
  }
  return text;
}

/** `pull(model)`: checks the reference, pulls it (joining a pull of the same reference under way) and gives its catalog entry. */
export function createModelPuller({ pull, catalog }: ModelPullerOptions): (model: string) => Promise<PulledModel> {
  const running = new Map<string, Promise<PulledModel>>();

  async function pullOnce(reference: string): Promise<PulledModel> {
    let result: PullResult;
    try {
      result = await pull(reference);
    } catch (error) {
      // The pull names the repo as `repoId` (not an ONNX export, say); the client's field is `model`.
      if (InvalidArgumentError.isInstance(error) && error.argument === 'repoId') {
        throw new InvalidArgumentError({ argument: 'model', value: reference, message: `\`model\` ${JSON.stringify(reference)} cannot be served: ${error.message}`, cause: error });
      }
      throw error;
    }
    catalog.refresh();
    const listed = await catalog.find(result.repoId);
    return {
      id: listed?.id ?? result.repoId,
      repoId: result.repoId,
      revision: result.revision,
      ...(result.license !== undefined && { license: result.license }),
      ...(result.licenseLink !== undefined && { licenseLink: result.licenseLink }),
      downloadedBytes: result.downloadedBytes,
    };
  }

  return (model) => {
    const reference = hubReference(model);
    let pulling = running.get(reference);
    if (!pulling) {
      pulling = pullOnce(reference).finally(() => running.delete(reference));
      running.set(reference, pulling);
    }
    return pulling;
  };
}
