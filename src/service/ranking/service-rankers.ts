// The rankers a service offers for best-of-N, by name: from its settings and its config, made on first use, closed with it.
import type { Settings } from '../../config/settings.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { createRanker, type RankerConfig } from './create-ranker.js';
import type { Ranker } from './ranker.js';

type RankerSettings = Pick<Settings, 'clipModel' | 'aestheticWeights' | 'vlmUrl' | 'vlmModel' | 'vlmApiKey'>;

/**
 * The rankers the settings describe: `clip` (PIXELPIPE_CLIP_MODEL), `aesthetic` (PIXELPIPE_AESTHETIC_WEIGHTS
 * on that CLIP model) and `vlm` (PIXELPIPE_VLM_URL and PIXELPIPE_VLM_MODEL). A half-given one stops the
 * start, naming what is missing, rather than failing the first job that asks for it.
 */
export function rankerConfigsFromSettings(settings: RankerSettings): Record<string, RankerConfig> {
  const configs: Record<string, RankerConfig> = {};
  if (settings.clipModel !== undefined) configs.clip = { type: 'clip', model: settings.clipModel };
  if (settings.aestheticWeights !== undefined) {
    if (settings.clipModel === undefined) {
      throw new InvalidArgumentError({ argument: 'PIXELPIPE_CLIP_MODEL', value: undefined, message: 'PIXELPIPE_AESTHETIC_WEIGHTS is set but PIXELPIPE_CLIP_MODEL is not: the aesthetic ranker scores CLIP image embeddings; set PIXELPIPE_CLIP_MODEL to a CLIP ONNX export folder' });
    }
    configs.aesthetic = { type: 'aesthetic', clipModel: settings.clipModel, weights: settings.aestheticWeights };
  }
  if ((settings.vlmUrl === undefined) !== (settings.vlmModel === undefined)) {
    const missing = settings.vlmUrl === undefined ? 'PIXELPIPE_VLM_URL' : 'PIXELPIPE_VLM_MODEL';
    const given = missing === 'PIXELPIPE_VLM_URL' ? 'PIXELPIPE_VLM_MODEL' : 'PIXELPIPE_VLM_URL';
    throw new InvalidArgumentError({ argument: missing, value: undefined, message: `${given} is set but ${missing} is not: the vlm ranker needs both the endpoint and the model; set ${missing}, or neither` });
  }
  if (settings.vlmUrl !== undefined && settings.vlmModel !== undefined) {
    configs.vlm = { type: 'vlm', baseUrl: settings.vlmUrl, model: settings.vlmModel, ...(settings.vlmApiKey ? { apiKey: settings.vlmApiKey } : {}) };
  }
  return configs;
}

/** A service's rankers by name; each is made when a job first asks for it (loading a CLIP model costs seconds and memory). */
export class RankerRegistry {
  readonly #configs: Record<string, RankerConfig>;
  readonly #made = new Map<string, Promise<Ranker>>();

  constructor(configs: Record<string, RankerConfig>) {
    this.#configs = configs;
  }

  /** The names requests may give as `rankBy`, sorted. */
  names(): string[] {
    return Object.keys(this.#configs).sort();
  }

  has(name: string): boolean {
    return Object.hasOwn(this.#configs, name);
  }

  /** Refuses a `rankBy` this service has no ranker for, naming those it has. */
  check(name: string, argument = 'rankBy'): void {
    if (this.has(name)) return;
    const names = this.names();
    const known = names.length ? `the rankers here are ${names.join(', ')}` : 'this server has no rankers (set PIXELPIPE_CLIP_MODEL, PIXELPIPE_AESTHETIC_WEIGHTS or PIXELPIPE_VLM_URL and PIXELPIPE_VLM_MODEL)';
    throw new InvalidArgumentError({ argument, value: name, message: `\`${argument}\` names no ranker of this server, got ${JSON.stringify(name)}: ${known}; name one of them or leave \`bestOf\` out` });
  }

  /** The ranker called `name`, made on first use. */
  get(name: string): Promise<Ranker> {
    this.check(name);
    let made = this.#made.get(name);
    if (!made) {
      const config = this.#configs[name]!;
      // A custom ranker goes by its entry's name, so records name what the request asked for.
      made = Promise.resolve().then(() => createRanker(config.type === 'custom' ? { ...config, name } : config));
      // A ranker that could not be made is tried again by the next job, not remembered broken.
      made.catch(() => this.#made.delete(name));
      this.#made.set(name, made);
    }
    return made;
  }

  /** Closes the rankers that were made. */
  async close(): Promise<void> {
    const made = [...this.#made.values()];
    this.#made.clear();
    await Promise.all(made.map(async (ranker) => (await ranker.catch(() => undefined))?.close?.()));
  }
}
