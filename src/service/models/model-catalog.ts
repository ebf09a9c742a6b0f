// What a server serves, by names clients may use: its configured local models, the complete models in
// its cache, and its configured hosted models. Nothing outside it is ever downloaded or looked up for a client.
import { basename } from 'node:path';
import type { CachedModel } from './model-cache.js';
import { modelRegistry } from './model-registry.js';

/** One model of the catalog. */
export interface CatalogModel {
  /** The name clients use: a registry alias (`sd-turbo`), a folder's or repo's name, or `PROVIDER:MODEL`; never a path. */
  id: string;
  /** `local`, or the hosted provider's name. */
  ownedBy: string;
  /** What else reaches it: a cached model's repo id, the reference the operator configured. */
  aliases: string[];
  /** What the engine loads (a folder, or `owner/name@commit` from the cache); hosted models: their id. Never shown to clients. */
  reference: string;
}

/** A local model the operator configured, as the engine found it. */
export interface LocatedModel {
  /** The reference as configured: a folder path, hub repo id or registry alias. */
  configured: string;
  folder: string;
  /** Set for hub models: the repo and the cached commit. */
  repoId?: string;
  revision?: string;
}

export interface ModelCatalogSources {
  /** The operator's local models (the default first), located without downloading; absent when not on this machine. */
  configured: () => Promise<LocatedModel[]>;
  /** The model cache's contents, read again on every call, so pulled and removed models show without a restart. */
  cached: () => Promise<CachedModel[]>;
  /** Hosted models this server has keys or a base URL for, as `PROVIDER:MODEL`. */
  hosted: () => { id: string; ownedBy: string }[];
}

export interface ModelCatalog {
  list(): Promise<CatalogModel[]>;
  /** The model `name` (an id or an alias, optionally as `local:…`) reaches, or undefined: the caller answers model_not_found. */
  find(name: string): Promise<CatalogModel | undefined>;
  /** Reads the sources again on the next call, e.g. right after this process pulled a model. */
  refresh(): void;
}

/** A hub model's friendly name: its registry alias, else the repo's name without its owner. */
function hubName(repoId: string): string {
  return modelRegistry.find((entry) => entry.repoId === repoId)?.alias ?? repoId.slice(repoId.indexOf('/') + 1);
}

/** `refreshMs`: how long one reading of the sources answers (every submit asks); default 1 s. */
export function createModelCatalog(sources: ModelCatalogSources, { refreshMs = 1000 }: { refreshMs?: number } = {}): ModelCatalog {
  let last: { at: number; models: Promise<CatalogModel[]> } | undefined;
  function list(): Promise<CatalogModel[]> {
    if (!last || Date.now() - last.at >= refreshMs) {
      const models = read();
      last = { at: Date.now(), models };
      // A failed reading is not kept.
      models.catch(() => (last = undefined));
    }
    return last.models;
  }

  async function read(): Promise<CatalogModel[]> {
    const models: CatalogModel[] = [];
    const taken = new Set<string>();
    // A name already used goes to the later model with its repo id, or its folder's name numbered.
    const add = (wanted: string, fallback: (n: number) => string, model: Omit<CatalogModel, 'id'>) => {
      let id = wanted;
      for (let n = 2; taken.has(id); n++) id = fallback(n);
      taken.add(id);
      models.push({ id, ...model });
    };
    const repos = new Set<string>();
    for (const { configured, folder, repoId, revision } of await sources.configured()) {
      if (repoId && revision) {
        repos.add(repoId);
        add(hubName(repoId), (n) => (n === 2 ? repoId : `${repoId}-${n}`), { ownedBy: 'local', aliases: [repoId, configured], reference: `${repoId}@${revision}` });
      } else {
        const name = basename(folder);
        add(name, (n) => `${name}-${n}`, { ownedBy: 'local', aliases: [configured], reference: folder });
      }
    }
    // Several cached commits of one repo: the registry's pin, else the newest ref'd one, stands for it.
    const cached = (await sources.cached()).filter((model) => model.complete && !repos.has(model.repoId));
    for (const repoId of new Set(cached.map((model) => model.repoId))) {
      const commits = cached.filter((model) => model.repoId === repoId);
      const pinned = modelRegistry.find((entry) => entry.repoId === repoId)?.revision;
      const chosen = commits.find((model) => model.revision === pinned) ?? commits.find((model) => model.refs.includes('main')) ?? commits[0]!;
      add(hubName(repoId), (n) => (n === 2 ? repoId : `${repoId}-${n}`), { ownedBy: 'local', aliases: [repoId], reference: `${repoId}@${chosen.revision}` });
    }
    for (const { id, ownedBy } of sources.hosted()) if (!taken.has(id)) add(id, (n) => `${id}-${n}`, { ownedBy, aliases: [], reference: id });
    return models;
  }

  return {
    list,
    async find(name) {
      const wanted = name.replace(/^local:/, '');
      const models = await list();
      return models.find((model) => model.id === wanted) ?? models.find((model) => model.aliases.includes(wanted));
    },
    refresh() {
      last = undefined;
    },
  };
}
