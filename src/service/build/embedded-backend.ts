// A build's default backend: the service in this process, on a data directory of the build's own, with the project's rankers.
import { createHash } from 'node:crypto';
import { isAbsolute, resolve } from 'node:path';
import { loadSettings, type Settings } from '../../config/settings.js';
import { createImageService, type RunningImageService } from '../image-service.js';
import { createPixelpipe } from '../pixelpipe.js';
import type { RankerConfig } from '../ranking/create-ranker.js';
import { loadModerationPolicy } from '../safety/moderation-policy.js';
import type { Project } from '../specs/project-types.js';
import type { RankerSetup } from '../specs/spec-schema.js';
import { BuildJobError, hashesOf, jobResult, type BuildBackend, type BuildModel } from './build-backend.js';
import type { ResolvedOutput } from './build-types.js';

export interface EmbeddedBackendOptions {
  project: Project;
  outputs: ResolvedOutput[];
  /** Where records, blobs and the queue live; default PIXELPIPE_DATA_DIR, else `.pixelpipe` in the project folder. */
  dataDir?: string;
  /** Outputs generated at once (one in-process worker each). */
  concurrency: number;
  environment?: NodeJS.ProcessEnv;
  /** Rankers besides the project's (custom scoring functions, from library code); these win on a shared name. */
  rankers?: Record<string, RankerConfig>;
  onNotice?: (message: string) => void;
}

/** A project-relative model path (`../models/x`) as the engine opens it; other references as they are. */
function enginePath(root: string, part: string): string {
  return part.startsWith('./') || part.startsWith('../') ? resolve(root, part) : part;
}

function engineReference(root: string, reference: string): string {
  return reference.split(',').map((part) => enginePath(root, part.trim())).join(',');
}

function rankerConfig(setup: RankerSetup, environment: NodeJS.ProcessEnv): RankerConfig {
  if (setup.type !== 'vlm') return setup;
  const { apiKeyEnv, ...options } = setup;
  return { ...options, ...(apiKeyEnv && environment[apiKeyEnv] ? { apiKey: environment[apiKeyEnv] } : {}) };
}

export async function openEmbeddedBackend({ project, outputs, dataDir, concurrency, environment = process.env, rankers, onNotice }: EmbeddedBackendOptions): Promise<BuildBackend> {
  const { root } = project;
  // A build's records live with the project unless told otherwise: it never competes with a server for the user's data directory.
  const settings: Settings = loadSettings({ dataDir: dataDir ?? (environment.PIXELPIPE_DATA_DIR || resolve(root, '.pixelpipe')), ...(project.loraDir && { loraDir: project.loraDir }) }, environment);
  const references = [...new Set(outputs.map((output) => output.request.model).filter((model) => model !== undefined))];
  const localModels = references.flatMap((reference) => reference.split(',').map((part) => enginePath(root, part.trim()))).filter((part) => isAbsolute(part));
  // One policy for the whole build runs as the server's; each spec with a policy of its own submits with a key that carries it.
  const policies = [...new Set(outputs.map((output) => output.moderationPolicy))];
  const policySource = (policy: string) => (/\/|\.(ya?ml|json)$/i.test(policy) ? resolve(root, policy) : policy);
  const serverPolicy = policies.length === 1 && policies[0] !== undefined ? policySource(policies[0]) : settings.moderationPolicy;
  const service: RunningImageService = await createImageService({
    settings: { ...settings, moderationPolicy: serverPolicy },
    models: localModels,
    isolation: 'in-process',
    workers: concurrency,
    rankers: { ...Object.fromEntries(Object.entries(project.rankers ?? {}).map(([name, setup]) => [name, rankerConfig(setup, environment)])), ...rankers },
    pollingIntervalSeconds: 0.05,
    onNotice,
  });
  const keys = new Map<string, Awaited<ReturnType<RunningImageService['keys']['create']>>['key']>();
  if (policies.length > 1) {
    const existing = await service.keys.list();
    for (const policy of policies) {
      if (policy === undefined) continue;
      const setting = await loadModerationPolicy(policySource(policy));
      // Named by the policy's content, so an edited policy file gets a new key rather than the old rules.
      const name = `pixelpipe build moderation ${createHash('sha256').update(JSON.stringify(setting)).digest('hex').slice(0, 16)}`;
      keys.set(policy, existing.find((key) => key.name === name) ?? (await service.keys.create({ name, moderationPolicy: setting })).key);
    }
  }
  // The engine's identity of a model (hash, size rule) comes from a generator of its own: it loads no sessions.
  const identity = createPixelpipe({ settings, onNotice });

  return {
    name: 'embedded',
    async model(reference) {
      const parts = reference === undefined ? [undefined] : reference.split(',').map((part) => engineReference(root, part.trim()));
      const hashes: string[] = [];
      let local: { sizeMultiple: number; defaultSize: { width: number; height: number } } | undefined;
      for (const part of parts) {
        if (part !== undefined && (await identity.isHosted(part))) {
          hashes.push(part);
          continue;
        }
        hashes.push((await identity.modelHash(part))!);
        local ??= await identity.capabilities(part ?? (await identity.resolveModel(undefined)).folder!);
      }
      return { reference: reference ?? '', hash: hashes.join(','), hosted: local === undefined, ...(local && { sizeMultiple: local.sizeMultiple, defaultSize: local.defaultSize }) } satisfies BuildModel;
    },
    rankers: async () => service.rankers(),
    loraHashes: async (names) => hashesOf(await service.listLoras(), names),
    controlNetHashes: async (names) => hashesOf(await service.listControlNets(), names),
    async generate(request, { signal, moderationPolicy }) {
      const apiKey = moderationPolicy === undefined ? undefined : keys.get(moderationPolicy);
      const model = typeof request.model === 'string' ? engineReference(root, request.model) : undefined;
      // Control images come inline, as a server takes them; the service here takes stored blobs.
      const controls = request.controls as { image: { b64_json: string } }[] | undefined;
      const stored = controls && (await Promise.all(controls.map(async ({ image, ...control }, index) => ({ ...control, image: { blobKey: (await service.storeUpload(Buffer.from(image.b64_json, 'base64'), { field: `controls.${index}.image` })).blobKey } }))));
      const { job } = await service.submit({ ...request, ...(model && { model }), ...(stored && { controls: stored }) }, { ...(apiKey && { apiKey }) });
      return jobResult(await service.waitForJob(job.id, { signal }));
    },
    async read(record) {
      const blob = await service.storage.get(record.blobKey);
      if (!blob) throw new BuildJobError('blob_missing', `record ${record.id}'s image (${record.blobKey}) is not in storage`);
      return blob.bytes;
    },
    async close() {
      await identity.close();
      await service.close();
    },
  };
}
