// The service behind `pixelpipe serve` and `pixelpipe worker`: database, blob store, queue, workers, records, keys, webhooks and metrics in one object.
import { availableParallelism } from 'node:os';
import { loadSettings, type Settings } from '../config/settings.js';
import { AbortedError } from '../spec/errors/aborted-error.js';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import { NotFoundError } from './errors/not-found-error.js';
import { createDatabase, defaultDatabaseConfig } from './database/create-database.js';
import type { Database } from './database/database.js';
import { followJobEvents } from './generation/follow-events.js';
import { createGenerationHandler, parseJobRequest } from './generation/generation-handler.js';
import { deleteJobBlobs } from './generation/job-blobs.js';
import { recordGeneration, type GenerationToRecord, type RecordedGeneration } from './generation/image-recording.js';
import { JobEventLog } from './generation/job-events.js';
import { jobOutcomes, jobsCreated, jobWebhooks } from './generation/job-outcomes.js';
import { defaultRequestLimits, type JobRequest } from './generation/job-request.js';
import type { ApiKeyInfo, ImageService, JobView, ServiceLimits } from './image-service-types.js';
import { submittedAtMs, toJobView } from './job-views.js';
import { localLane } from './jobs/job-claim.js';
import { JobQueue, type JobQueueConfig } from './jobs/job-queue.js';
import type { JobStatus, WorkOptions } from './jobs/job-types.js';
import { ApiKeyStore } from './keys/api-key-store.js';
import { RateLimiter } from './keys/rate-limiter.js';
import { listCatalog } from './models/catalog-listing.js';
import { createModelPuller } from './models/model-pulls.js';
import { createServedModels } from './models/served-models.js';
import { createPixelpipe, type Pixelpipe, type PixelpipeOptions } from './pixelpipe.js';
import type { ImageFinishing } from './provenance/image-finishing.js';
import { finishingFromSettings } from './provenance/service-finishing.js';
import { verifyImage } from './provenance/verify-image.js';
import type { RankerConfig } from './ranking/create-ranker.js';
import { RankerRegistry, rankerConfigsFromSettings } from './ranking/service-rankers.js';
import { createServedControlNets } from './controlnets/served-controlnets.js';
import { bundledUpscaling } from './upscaling/image-upscaling.js';
import { defaultHiresScale, hiresTooLarge } from './upscaling/upscale-plan.js';
import { defaultHiresStrength } from './generation/hires-fix.js';
import { createServedLoras } from './loras/served-loras.js';
import { RecordStore } from './records/record-store.js';
import { AuditLog } from './safety/audit-log.js';
import { createModeration, moderationScreen, type Moderation } from './safety/moderation.js';
import { loadModerationPolicy, type PolicySetting } from './safety/moderation-policy.js';
import { checkReferences, storeUpload } from './request-inputs.js';
import { ServiceMetrics } from './service-metrics.js';
import { serviceSecret } from './service-secrets.js';
import { defaultMemoryBudget } from './memory-budget.js';
import { storageConfigFromSettings } from './open-service-stores.js';
import { createStorage } from './storage/create-storage.js';
import type { BlobStorage } from './storage/blob-storage.js';
import { createInProcessRunner, type GenerationRunner } from './workers/generation-runner.js';
import { ProcessRunner } from './workers/process-runner.js';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher.js';

/** How to make a service; everything has a default that runs embedded in one process. */
export interface ImageServiceConfig {
  /** Overrides of the environment's settings (data directory, database URL, S3, webhooks). */
  settings?: Partial<Settings>;
  /** A database to use instead of the one the settings name; left open on close. */
  database?: Database;
  /** A blob store to use instead of the one the settings name; left open on close. */
  storage?: BlobStorage;
  /** Options of the generator (hosted provider settings, injected fetch). */
  pixelpipe?: PixelpipeOptions;
  /** The model used when a request names none: a model folder, hub repo id or registry alias, on this machine. */
  defaultModel?: string;
  /** More local models (folders, or hub models in the cache) clients may name, besides the default and whatever is in the model cache. */
  models?: string[];
  /** Request and input limits. */
  limits?: Partial<ServiceLimits>;
  /** Local jobs this process runs at once (one worker process each); 0 runs no job here (submit-only servers). Default 1. */
  workers?: number;
  /**
   * Hosted jobs this process runs at once, per provider (`*`: providers not named), beside the local
   * ones and in this process. Default: the `hostedConcurrency` setting (16 per provider).
   */
  hostedConcurrency?: Record<string, number>;
  /**
   * Where generations run. `process` (default): one supervised worker process per worker, so a job
   * that runs out of memory or crashes kills only its worker, which is started again; the server
   * keeps answering. `in-process`: in this process (an injected `pixelpipe.fetch` needs it, since a
   * function cannot cross to another process).
   */
  isolation?: 'process' | 'in-process';
  /** Queue settings: retries, expiry, polling. */
  queue?: Partial<Omit<JobQueueConfig, 'database'>>;
  /** How often an idle worker asks for work, in seconds. Default 1. */
  pollingIntervalSeconds?: number;
  /** Jobs of one API key that may run at once across all workers, for keys without their own limit. Default 4. */
  maxConcurrentJobsPerKey?: number;
  /** Webhook delivery retries and the like. */
  webhooks?: { retryLimit?: number; retryDelaySeconds?: number; timeoutMs?: number };
  /** The screening of prompts and images; default: the moderation policy of the settings (closed with the service). */
  moderation?: Moderation;
  /** What is done to each image before it is stored (screening, watermark, signature); default: from the settings. */
  finishing?: ImageFinishing;
  /**
   * Rankers requests may name as `rankBy` for best-of-N, by name, besides those of the settings
   * (PIXELPIPE_CLIP_MODEL, PIXELPIPE_AESTHETIC_WEIGHTS, PIXELPIPE_VLM_URL); an entry here replaces the
   * settings' one of the same name. Each is made when a job first uses it and closed with the service.
   */
  rankers?: Record<string, RankerConfig>;
  /** Told about errors no caller waits for; default: stderr. */
  onError?: (error: Error) => void;
  /** Told once what runs without a part it could have (no C2PA signing key); default: stderr. */
  onNotice?: (message: string) => void;
}

/** The service, plus what the process that made it needs to serve HTTP. */
export interface RunningImageService extends ImageService {
  /** Secret for signed blob URLs, shared by every process of the service. */
  readonly urlSigningSecret: string;
  /** The database's kind, for the start-up message. */
  readonly databaseKind: Database['kind'];
  /** The API key store (for `pixelpipe keys` and tests). */
  readonly keys: ApiKeyStore;
  /** The moderation audit log, where screening decisions are written. */
  readonly audit: AuditLog;
  /** Records a generation made outside the queue (`pixelpipe generate` beside this server): finishes, stores and records its images. */
  recordGeneration(generation: GenerationToRecord): Promise<RecordedGeneration>;
}

/** What worker processes make their generator with: the service's settings and provider settings, which must be plain data. */
function workerOptions(config: ImageServiceConfig, settings: Settings, limits: ServiceLimits, workers: number) {
  const { fetch: _fetch, onNotice: _onNotice, onDownloadProgress: _onDownloadProgress, ...options } = config.pixelpipe ?? {};
  const { cacheDir, hubUrl, hubToken, executionProvider, previewDecoder, fastDecoder, graphCache, offloadTextEncoders } = settings;
  // Each worker process runs one generation at a time with ONNX Runtime's intra-op threads; left at
  // its default (all cores) in every process, N processes would run N × cores threads on the CPU.
  // So unless PIXELPIPE_THREADS says otherwise, the cores are shared out between them.
  const threads = settings.threads ?? (executionProvider === 'cpu' && workers > 1 ? Math.max(1, Math.floor(availableParallelism() / workers)) : undefined);
  return { cacheDir, hubUrl, hubToken, executionProvider, threads, previewDecoder, fastDecoder, graphCache, offloadTextEncoders, ...options, maxInputPixels: limits.maxInputPixels };
}

/** The default model, when it is a local one served here: what workers warm up at start (see the `warmUp` setting). */
async function warmUpReference(served: ReturnType<typeof createServedModels>): Promise<string | undefined> {
  try {
    const { reference, lane } = await served.resolve(undefined);
    return lane === localLane && !reference.includes(',') ? reference : undefined;
  } catch {
    return undefined; // no default model here: jobs name theirs, and load it on first use
  }
}

const defaultServiceLimits: ServiceLimits = { ...defaultRequestLimits, maxBodyBytes: 50 * 2 ** 20, maxInputPixels: 4096 * 4096 };

/** Opens (and migrates) everything and, unless `workers` is 0, starts this process's workers. */
export async function createImageService(config: ImageServiceConfig = {}): Promise<RunningImageService> {
  const settings = loadSettings(config.settings);
  const onError = config.onError ?? ((error: Error) => console.error(`pixelpipe: ${error.message}`));
  const limits: ServiceLimits = { ...defaultServiceLimits, ...config.limits };
  const database = config.database ?? (await createDatabase(defaultDatabaseConfig({ dataDirectory: settings.dataDir, url: settings.databaseUrl })));
  const storage = config.storage ?? createStorage(storageConfigFromSettings(settings));
  const events = new JobEventLog(database);
  const audit = new AuditLog(database);
  const queue = new JobQueue({ database, onError, onCreated: jobsCreated(events, audit), ...config.queue });
  await queue.start();
  const workers = config.workers ?? 1;
  // One budget for the whole server, set now: each worker process may run a job of this size at once.
  const memoryBudget = settings.memoryBudget ?? config.pixelpipe?.memoryBudget ?? defaultMemoryBudget(workers);
  // The model cache the catalog reads is the one the worker processes load from.
  const pixelpipe: Pixelpipe = createPixelpipe({ settings, ...config.pixelpipe, maxInputPixels: limits.maxInputPixels, memoryBudget });
  const isolation = config.isolation ?? 'process';
  if (isolation === 'process' && config.pixelpipe?.fetch) {
    throw new InvalidArgumentError({ argument: 'isolation', value: isolation, message: 'an injected `pixelpipe.fetch` cannot reach worker processes; give `isolation: \'in-process\'` with it, or configure providers by base URL instead' });
  }
  const records = new RecordStore(database);
  const keys = new ApiKeyStore(database);
  const serverPolicy = await loadModerationPolicy(settings.moderationPolicy ?? 'default');
  // A key's policy is fixed when the key is made, so each is read once, not for every image.
  const keyPolicies = new Map<string, Promise<PolicySetting | undefined>>();
  const keyPolicy = (id: string) => keyPolicies.get(id) ?? keyPolicies.set(id, keys.moderationPolicyOf(id)).get(id)!;
  const moderation = config.moderation ?? createModeration({ policy: serverPolicy, keyPolicy, fetch: config.pixelpipe?.fetch });
  const rateLimiter = new RateLimiter();
  const webhookSecret = settings.webhookSecret ?? (await serviceSecret(database, 'webhook-signing'));
  const webhooks = new WebhookDispatcher({ database, secret: webhookSecret, allowPrivate: settings.webhookAllowPrivate, onError, ...config.webhooks });
  await webhooks.start();
  // Local generations run in supervised worker processes (or here, in-process); hosted ones wait on a
  // network, so they run here, many at once, in their provider's lane (see `hostedConcurrency`).
  const served = createServedModels({ pixelpipe, defaultModel: config.defaultModel, models: config.models });
  const warm = workers > 0 && settings.warmUp ? await warmUpReference(served) : undefined;
  const runner: GenerationRunner | undefined = workers === 0 ? undefined : isolation === 'in-process' ? createInProcessRunner(pixelpipe) : new ProcessRunner({ size: workers, options: { ...workerOptions(config, settings, limits, workers), memoryBudget }, warm, onEvent: (message) => onError(new Error(message)) });
  // Worker processes warm up before they take jobs; in-process workers start once the model is warm.
  if (warm !== undefined && isolation === 'in-process') await pixelpipe.warm(warm).catch((error: Error) => onError(new Error(`warming up ${warm} failed (its jobs will say why): ${error.message}`)));
  const hostedRunner = createInProcessRunner(pixelpipe);
  const metrics = new ServiceMetrics({ queueDepth: () => queue.depth(), running: () => queue.runningJobIds().length, workers: () => runner?.status() });
  const maxConcurrentJobsPerKey = config.maxConcurrentJobsPerKey ?? 4;

  const view = (status: JobStatus) => toJobView(status, { database, records, attempts: (id) => queue.attempts(id) });
  const notifyWebhook = jobWebhooks(webhooks);

  const rankers = new RankerRegistry({ ...rankerConfigsFromSettings(settings), ...config.rankers });
  const servedLoras = createServedLoras(settings.loraDir);
  const servedControlNets = createServedControlNets(settings.controlnetDir);
  const modelFolder = async (reference: string) => (reference.includes(',') ? undefined : (await pixelpipe.locate(reference))?.folder);
  const controlNetLocation = async (name: string | undefined, reference: string) => servedControlNets.location(name, (await modelFolder(reference)) ?? reference);
  // One upscaler for the `upscale` step of finishing and the hires fix: each scale's model is loaded once.
  const upscaling = bundledUpscaling({ maxOutputPixels: limits.maxUpscalePixels, threads: settings.threads });
  const finishing = config.finishing ?? (await finishingFromSettings(settings, { onNotice: config.onNotice ?? ((message) => console.error(`pixelpipe: ${message}`)), screen: moderationScreen(moderation, audit), upscaling }));
  if (runner) {
    const handler = createGenerationHandler({ database, storage, finishing, audit, runnerFor: (lane) => (lane === localLane ? runner : hostedRunner), events, limits, modelReference: async (name) => (await served.resolve(name)).reference, rankers, loraPath: servedLoras.path, controlNetLocation, upscaling, onError });
    const afterSettled: NonNullable<WorkOptions['afterSettled']> = (job, settlement) => {
      events.wake(job.id);
      // A final failure found by another process (its worker died) leaves what that attempt stored.
      if (settlement.state === 'failed' && settlement.final) void deleteJobBlobs(database, storage, job.id).catch((error: Error) => onError(error));
    };
    await queue.work(handler, { concurrency: workers, laneConcurrency: config.hostedConcurrency ?? settings.hostedConcurrency, pollingIntervalSeconds: config.pollingIntervalSeconds ?? 1, ...jobOutcomes({ events, records, audit, webhooks, metrics }), afterSettled });
    await webhooks.work();
  }

  // The hires pass is image-to-image at the upscaled size on the same model: what it would refuse is refused now.
  async function checkHiresFix(request: JobRequest, reference: string, n: number): Promise<void> {
    const hiresFix = request.hiresFix!;
    const refuse = (argument: string, message: string) => new InvalidArgumentError({ argument, value: argument === 'hiresFix' ? request.model : hiresFix, message });
    if (reference.includes(',') || (await pixelpipe.isHosted(reference))) throw refuse('hiresFix', `\`hiresFix\` runs on one local model (it upscales and runs image-to-image here); ${request.model} is ${reference.includes(',') ? 'a fallback list' : 'hosted'}: leave it out or name a local model`);
    const capabilities = await pixelpipe.capabilities(reference);
    if (!capabilities?.operations.includes('image-to-image')) throw refuse('hiresFix', `\`hiresFix\` needs image-to-image, which ${request.model} does not run (${capabilities?.operations.join(', ') ?? 'its configs could not be read'}): leave it out or choose another model`);
    const scale = hiresFix.scale ?? defaultHiresScale;
    const width = request.width ?? capabilities.defaultSize.width;
    const height = request.height ?? capabilities.defaultSize.height;
    const tooLarge = hiresTooLarge(width, height, scale, limits);
    if (tooLarge) throw refuse('hiresFix.scale', `\`hiresFix.scale\` x${scale} ${tooLarge}`);
    const { prompt, seed, guidance, sampler, providerOptions } = request;
    await pixelpipe.check({ model: reference, prompt, n, seed, steps: hiresFix.steps ?? request.steps, guidance, sampler, strength: hiresFix.strength ?? defaultHiresStrength, providerOptions, inputSize: { width: width * scale, height: height * scale }, masked: false });
  }

  async function getJob(id: string, { apiKeyId }: { apiKeyId?: string } = {}): Promise<JobView | undefined> {
    const status = await queue.get(id);
    if (!status || (apiKeyId !== undefined && status.apiKeyId !== apiKeyId)) return undefined;
    return await view(status);
  }

  const service: RunningImageService = {
    limits,
    storage,
    defaultModel: config.defaultModel === undefined ? undefined : ((await served.catalog.find(config.defaultModel))?.id ?? config.defaultModel),
    urlSigningSecret: await serviceSecret(database, 'blob-url-signing'),
    databaseKind: database.kind,
    keys,
    audit,

    async submit(input, { apiKey, priority, idempotencyKey } = {}) {
      const request = parseJobRequest(input, limits);
      if (request.rankBy !== undefined) rankers.check(request.rankBy);
      // A best-of-N job makes all its candidates: they are what memory and the quota must hold.
      const generated = request.bestOf ?? request.n;
      // The job holds the catalog's name of its model, the default one included, so every worker makes the same image.
      const { names, reference, lane } = await served.resolve(request.model);
      request.model = names;
      const hosted = async () => (await Promise.all(reference.split(',').map((part) => pixelpipe.isHosted(part)))).every(Boolean);
      await servedLoras.prepare(request, { hosted });
      await servedControlNets.prepare(request, { hosted, folder: () => modelFolder(reference), capabilities: async () => (reference.includes(',') ? undefined : await pixelpipe.capabilities(reference)) });
      const inputSize = await checkReferences({ storage, records, limits, webhookAllowPrivate: settings.webhookAllowPrivate }, request);
      // What a local job's model would refuse is refused now, not by a worker; one that cannot fit in
      // memory would kill its worker (twice).
      // A hosted one's provider refuses what it would refuse when called (no request is sent now).
      const { prompt, seed, steps, guidance, strength, sampler, width, height, aspectRatio, extend, providerOptions, mask, decoder } = request;
      // Candidates ranked on fast decodes are made with the fast decoder: the model and the server must have one.
      await pixelpipe.check({ model: reference, prompt, n: generated, seed, steps, guidance, strength, sampler, width, height, aspectRatio, extend, providerOptions, decoder: request.rankDecoder === 'fast' ? 'fast' : decoder, inputSize, masked: mask !== undefined });
      if (request.hiresFix) await checkHiresFix(request, reference, generated);
      // The prompt is screened last, once the request is known to be runnable: a blocked one never reaches a queue or a provider.
      const screening = await moderation.checkPrompt({ prompt, negativePrompt: request.negativePrompt, apiKeyId: apiKey?.id, policy: apiKey ? (apiKey.moderationPolicy ?? serverPolicy) : undefined });
      if (screening.refusal) {
        await audit.append([screening.entry]);
        throw screening.refusal;
      }
      if (apiKey) await keys.reserveImages(apiKey, generated);
      let submitted;
      try {
        // The decision's audit entry is written with the job, in its transaction (see `jobsCreated`).
        const meta = { prompt: { policy: screening.policy, verdict: screening.verdict }, audit: screening.entry };
        submitted = await queue.submit(request, { priority, idempotencyKey, lane, apiKeyId: apiKey?.id, maxConcurrent: apiKey ? (apiKey.maxConcurrentJobs ?? maxConcurrentJobsPerKey) : undefined, meta });
      } catch (error) {
        if (apiKey) await keys.releaseImages(apiKey, generated);
        throw error;
      }
      if (submitted.created) metrics.submitted.inc();
      else if (apiKey) {
        await keys.releaseImages(apiKey, generated);
      }
      // A new job's status comes from its creation, so nothing is read back (the queue is counted once per batch).
      const job = submitted.status ? await view(submitted.status) : (await getJob(submitted.id))!;
      return { job, created: submitted.created };
    },

    getJob,

    async cancelJob(id, options = {}) {
      const job = await getJob(id, options);
      if (!job) return undefined;
      if (await queue.cancel(id)) {
        await events.append(id, 'cancelled', {});
        await deleteJobBlobs(database, storage, id);
        await notifyWebhook(undefined, job.request, id, 'job.cancelled', { jobId: id, state: 'cancelled' });
        metrics.jobEnded('cancelled', submittedAtMs(id));
      }
      return await getJob(id, options);
    },

    async waitForJob(id, { signal } = {}) {
      // A cheap state lookup per poll; this process's workers and cancels wake the wait at once, other processes' are seen within a second.
      for (;;) {
        signal?.throwIfAborted();
        const state = await queue.state(id);
        if (!state) throw new NotFoundError({ resource: 'job', id });
        if (state === 'succeeded' || state === 'failed' || state === 'cancelled') return (await getJob(id))!;
        await events.waitForEvent(id, 1000, signal);
        if (signal?.aborted) throw new AbortedError({ message: `stopped waiting for job ${id}` });
      }
    },

    events: (id, options = {}) => followJobEvents({ events, queue }, id, options),
    getRecord: (id, options) => records.get(id, options),
    listRecords: (filter) => records.list(filter),
    listAudit: (filter) => audit.list(filter),
    verifyImage: (bytes, { apiKeyId } = {}) =>
      verifyImage(bytes, { name: 'image', findRecords: async (watermark) => (await records.list({ watermark, apiKeyId, limit: 10 })).records.map(({ id, createdAt }) => ({ id, createdAt })) }),
    recordGeneration: (generation) => recordGeneration({ database, records, audit, storage, finishing }, generation),

    storeUpload: (bytes, { field }) => storeUpload(storage, limits, bytes, field),

    listModels: () => listCatalog(served.catalog, pixelpipe),
    rankers: () => rankers.names(),
    listLoras: () => servedLoras.list(),
    listControlNets: () => servedControlNets.list(),
    pullLora: async ({ repo, file, name, revision }) => (await import('./loras/pull-lora.js')).pullLora({ repoId: repo, file, name, revision, loraDir: settings.loraDir, hubUrl: settings.hubUrl, hubToken: settings.hubToken, fetch: config.pixelpipe?.fetch }),

    // Only routes the operator enabled call it (`serve --allow-pull`); the catalog shows the model at once.
    pullModel: createModelPuller({ pull: (reference) => pixelpipe.pullModel(reference), catalog: served.catalog }),

    authenticate: (secret) => keys.authenticate(secret),
    hasApiKeys: () => keys.hasKeys(),
    checkRateLimit: (key: ApiKeyInfo) => (key.rateLimitPerMinute === undefined ? { allowed: true, retryAfterMs: 0 } : rateLimiter.take(key.id, key.rateLimitPerMinute)),

    async health() {
      const answers = async (check: () => Promise<unknown>) => check().then(() => true, () => false);
      return {
        database: await answers(() => database.query('SELECT 1')),
        storage: await answers(() => storage.head(`sha256/00/00/${'0'.repeat(64)}.png`)),
        workers,
        ...(runner ? { workerProcesses: runner.status() } : {}),
      };
    },

    metrics: () => metrics.text(),

    async close() {
      await queue.stop({ graceful: true, timeoutSeconds: 30 });
      await webhooks.stop();
      await runner?.close();
      await rankers.close();
      await pixelpipe.close();
      if (!config.moderation) await moderation.close();
      if (!config.storage) await storage.close();
      if (!config.database) await database.close();
    },
  };

  return service;
}
