// The service behind `pixelpipe serve` and `pixelpipe worker`: database, blob store, queue, workers, records, keys, webhooks and metrics in one object.
import sharp from 'sharp';
import { loadSettings, type Settings } from '../config/settings.js';
import { AbortedError } from '../spec/errors/aborted-error.js';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import { NotFoundError } from './errors/not-found-error.js';
import { createDatabase, defaultDatabaseConfig } from './database/create-database.js';
import type { Database, DatabaseTransaction } from './database/database.js';
import { createGenerationHandler, parseJobRequest, type GenerationOutput } from './generation/generation-handler.js';
import { deleteJobBlobs, forgetJobBlobs } from './generation/job-blobs.js';
import { finalEventTypes, JobEventLog } from './generation/job-events.js';
import { defaultRequestLimits, type JobRequest } from './generation/job-request.js';
import type { ApiKeyInfo, ImageService, JobEvent, JobView, ServiceLimits, StoredUpload } from './image-service-types.js';
import { submittedAtMs, toJobView } from './job-views.js';
import { localLane } from './jobs/job-claim.js';
import { JobQueue, type JobQueueConfig } from './jobs/job-queue.js';
import type { JobSettleHook, JobStatus, WorkOptions } from './jobs/job-types.js';
import { ApiKeyStore } from './keys/api-key-store.js';
import { RateLimiter } from './keys/rate-limiter.js';
import { hostedCatalogModels, listCatalog } from './models/catalog-listing.js';
import { createModelCatalog } from './models/model-catalog.js';
import { createModelPuller } from './models/model-pulls.js';
import { defaultModelId } from './models/model-registry.js';
import { createPixelpipe, type Pixelpipe, type PixelpipeOptions } from './pixelpipe.js';
import { RecordStore } from './records/record-store.js';
import { ServiceMetrics } from './service-metrics.js';
import { serviceSecret } from './service-secrets.js';
import { defaultMemoryBudget } from './memory-budget.js';
import { storageConfigFromSettings } from './open-service-stores.js';
import { createStorage } from './storage/create-storage.js';
import type { BlobStorage } from './storage/blob-storage.js';
import { checkWebhookDestination } from './webhooks/webhook-destination.js';
import { createInProcessRunner, type GenerationRunner } from './workers/generation-runner.js';
import { ProcessRunner } from './workers/process-runner.js';
import { WebhookDispatcher, type WebhookEvent } from './webhooks/webhook-dispatcher.js';

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
  /** Told about errors no caller waits for; default: stderr. */
  onError?: (error: Error) => void;
}

/** The service, plus what the process that made it needs to serve HTTP. */
export interface RunningImageService extends ImageService {
  /** Secret for signed blob URLs, shared by every process of the service. */
  readonly urlSigningSecret: string;
  /** The database's kind, for the start-up message. */
  readonly databaseKind: Database['kind'];
  /** The API key store (for `pixelpipe keys` and tests). */
  readonly keys: ApiKeyStore;
}

/** What worker processes make their generator with: the service's settings and provider settings, which must be plain data. */
function workerOptions(config: ImageServiceConfig, settings: Settings, limits: ServiceLimits) {
  const { fetch: _fetch, onNotice: _onNotice, onDownloadProgress: _onDownloadProgress, ...options } = config.pixelpipe ?? {};
  const { cacheDir, hubUrl, hubToken, executionProvider, threads, previewDecoder } = settings;
  return { cacheDir, hubUrl, hubToken, executionProvider, threads, previewDecoder, ...options, maxInputPixels: limits.maxInputPixels };
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
  // The first event is written with the job, so no worker's `running` can come before it.
  const onCreated = (transaction: DatabaseTransaction, created: JobStatus[]) => events.appendMany(created.map((job) => ({ jobId: job.id, type: 'queued' as const, data: { position: job.position ?? null } })), transaction);
  const queue = new JobQueue({ database, onError, onCreated, ...config.queue });
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
  const rateLimiter = new RateLimiter();
  const webhookSecret = settings.webhookSecret ?? (await serviceSecret(database, 'webhook-signing'));
  const webhooks = new WebhookDispatcher({ database, secret: webhookSecret, allowPrivate: settings.webhookAllowPrivate, onError, ...config.webhooks });
  await webhooks.start();
  // Local generations run in supervised worker processes (or here, in-process); hosted ones wait on a
  // network, so they run here, many at once, in their provider's lane (see `hostedConcurrency`).
  const runner: GenerationRunner | undefined = workers === 0 ? undefined : isolation === 'in-process' ? createInProcessRunner(pixelpipe) : new ProcessRunner({ size: workers, options: { ...workerOptions(config, settings, limits), memoryBudget }, onEvent: (message) => onError(new Error(message)) });
  const hostedRunner = createInProcessRunner(pixelpipe);
  const metrics = new ServiceMetrics({ queueDepth: () => queue.depth(), running: () => queue.runningJobIds().length, workers: () => runner?.status() });
  const maxConcurrentJobsPerKey = config.maxConcurrentJobsPerKey ?? 4;

  const catalog = createModelCatalog({
    configured: async () => {
      // Hosted ones are not local models; one that is no valid reference is not here (serve names it at start).
      const locate = async (configured: string) => ((await pixelpipe.isHosted(configured)) ? undefined : await pixelpipe.locate(configured).catch(() => undefined));
      const located = await Promise.all([config.defaultModel, ...(config.models ?? [])].filter((reference) => reference !== undefined).map(async (configured) => ({ configured, found: await locate(configured) })));
      return located.flatMap(({ configured, found }) => (found ? [{ configured, folder: found.folder!, ...(found.source === 'cache' && { repoId: found.id, revision: found.revision }) }] : []));
    },
    cached: async () => (await pixelpipe.listModels()).cached,
    hosted: () => hostedCatalogModels(pixelpipe),
  });
  const defaultName = config.defaultModel ?? defaultModelId;

  // A job names hosted models as they are and local ones from the catalog alone: nothing a client
  // sends is looked up elsewhere on this machine or downloaded. Gives the catalog's names, for the
  // job, and what the engine loads, for the worker.
  // The job's lane: its provider's when every model it names only waits on a network, else the local one.
  async function catalogNames(name: string): Promise<{ names: string; reference: string; lane: string }> {
    const names: string[] = [];
    const references: string[] = [];
    const remote: string[] = [];
    for (const part of name.split(',').map((each) => each.trim())) {
      if (await pixelpipe.isHosted(part)) {
        names.push(part);
        references.push(part);
        if (await pixelpipe.isRemote(part)) remote.push(part.slice(0, part.indexOf(':')));
        continue;
      }
      const model = await catalog.find(part);
      if (!model) throw await modelNotFound(part);
      names.push(model.id);
      references.push(model.reference);
    }
    const lane = remote.length === names.length ? remote[0]! : localLane;
    return { names: names.join(','), reference: references.join(','), lane };
  }

  async function modelNotFound(name: string): Promise<NotFoundError> {
    const local = (await catalog.list()).filter((model) => model.ownedBy === 'local').map((model) => model.id);
    const served = local.length > 0 ? `the local models here are ${local.slice(0, 10).join(', ')}${local.length > 10 ? ', …' : ''}` : 'no local model is here';
    const message = `\`model\` names ${JSON.stringify(name)}, which is not served here: ${served} (GET /v1/models lists them, with hosted ones as PROVIDER:MODEL); the operator adds one with \`pixelpipe models pull ID\``;
    return new NotFoundError({ resource: 'model', id: name, message });
  }

  const view = (status: NonNullable<Awaited<ReturnType<JobQueue['get']>>>) => toJobView(status, { database, records, attempts: (id) => queue.attempts(id) });

  async function notifyWebhook(transaction: DatabaseTransaction | undefined, request: unknown, jobId: string, event: WebhookEvent, payload: Record<string, unknown>) {
    const url = (request as Partial<JobRequest> | undefined)?.webhook?.url;
    if (url) await webhooks.enqueue({ jobId, event, url, payload }, { transaction });
  }

  // Records, the final event and the webhook commit with the job's outcome: a job that completes has them, exactly once.
  // Jobs that succeed together are written together, one statement per table.
  const onSucceeded: NonNullable<WorkOptions['onSucceeded']> = async (transaction, succeeded) => {
    const outputs = succeeded.map(({ output }) => output as GenerationOutput);
    const stored = await records.insert(transaction, outputs.flatMap((output) => output.records));
    const ids = succeeded.map(({ job }) => job.id);
    await forgetJobBlobs(transaction, ids);
    const byJob = new Map(ids.map((id) => [id, stored.filter((record) => record.jobId === id)]));
    await events.appendMany(ids.map((id) => ({ jobId: id, type: 'done' as const, data: { records: byJob.get(id)! } })), transaction);
    for (const { job } of succeeded) await notifyWebhook(transaction, job.request, job.id, 'job.succeeded', { jobId: job.id, state: 'succeeded', records: byJob.get(job.id)! });
    outputs.forEach((output, index) => metrics.jobEnded('succeeded', submittedAtMs(ids[index]!), output.timings));
    return ids.map((id) => ({ recordIds: byJob.get(id)!.map((record) => record.id) }));
  };
  // A job's `running` event is written with its claim, so it comes before any of its steps.
  const onClaimed: NonNullable<WorkOptions['onClaimed']> = (transaction, claimed) => events.appendMany(claimed.map(({ id, attempt }) => ({ jobId: id, type: 'running' as const, data: { attempt } })), transaction);
  const onSettled: JobSettleHook = async (transaction, job, settlement) => {
    if (settlement.state === 'succeeded') {
      const output = settlement.output as GenerationOutput;
      const stored = await records.insert(transaction, output.records);
      await forgetJobBlobs(transaction, [job.id]);
      await events.append(job.id, 'done', { records: stored }, transaction);
      await notifyWebhook(transaction, job.request, job.id, 'job.succeeded', { jobId: job.id, state: 'succeeded', records: stored });
      metrics.jobEnded('succeeded', submittedAtMs(job.id), output.timings);
      return { recordIds: stored.map((record) => record.id) };
    }
    if (!settlement.final) return undefined;
    await events.append(job.id, 'error', { error: settlement.error }, transaction);
    await notifyWebhook(transaction, job.request, job.id, 'job.failed', { jobId: job.id, state: 'failed', error: settlement.error });
    metrics.jobEnded('failed', submittedAtMs(job.id));
    return undefined;
  };

  if (runner) {
    const handler = createGenerationHandler({ database, storage, runnerFor: (lane) => (lane === localLane ? runner : hostedRunner), events, limits, modelReference: async (name) => (await catalogNames(name ?? defaultName)).reference, onError });
    const afterSettled: NonNullable<WorkOptions['afterSettled']> = (job, settlement) => {
      events.wake(job.id);
      // A final failure found by another process (its worker died) leaves what that attempt stored.
      if (settlement.state === 'failed' && settlement.final) void deleteJobBlobs(database, storage, job.id).catch((error: Error) => onError(error));
    };
    await queue.work(handler, { concurrency: workers, laneConcurrency: config.hostedConcurrency ?? settings.hostedConcurrency, pollingIntervalSeconds: config.pollingIntervalSeconds ?? 1, onClaimed, onSettled, onSucceeded, afterSettled });
    await webhooks.work();
  }

  async function getJob(id: string, { apiKeyId }: { apiKeyId?: string } = {}): Promise<JobView | undefined> {
    const status = await queue.get(id);
    if (!status || (apiKeyId !== undefined && status.apiKeyId !== apiKeyId)) return undefined;
    return await view(status);
  }

  async function blobDimensions(blobKey: string, field: string): Promise<{ width: number; height: number }> {
    const blob = await storage.get(blobKey);
    if (!blob) throw new InvalidArgumentError({ argument: field, value: blobKey, message: `\`${field}\` names blob ${blobKey}, which is not in storage (upload the image first)` });
    const { width = 0, height = 0 } = await sharp(blob.bytes, { limitInputPixels: limits.maxInputPixels }).metadata();
    return { width, height };
  }

  // What can be checked before queueing is checked now, so a bad request is a 400, not a failed job.
  async function checkReferences(request: JobRequest): Promise<{ width: number; height: number } | undefined> {
    if (request.webhook) await checkWebhookDestination(request.webhook.url, { allowPrivate: settings.webhookAllowPrivate });
    const image = request.images ? await blobDimensions(request.images[0]!.blobKey, 'images.0') : undefined;
    for (const [index, extra] of (request.images ?? []).slice(1).entries()) await blobDimensions(extra.blobKey, `images.${index + 1}`);
    if (request.mask && image) {
      const mask = await blobDimensions(request.mask.blobKey, 'mask');
      if (mask.width !== image.width || mask.height !== image.height) {
        throw new InvalidArgumentError({ argument: 'mask', value: `${mask.width}x${mask.height}`, message: `\`mask\` must be the size of the image (${image.width}x${image.height}), got ${mask.width}x${mask.height}; resize the mask to match` });
      }
    }
    if (request.parentRecordId && !(await records.get(request.parentRecordId))) {
      throw new InvalidArgumentError({ argument: 'parentRecordId', value: request.parentRecordId, message: `\`parentRecordId\` names record ${request.parentRecordId}, which does not exist` });
    }
    return image;
  }

  const service: RunningImageService = {
    limits,
    storage,
    defaultModel: config.defaultModel === undefined ? undefined : ((await catalog.find(config.defaultModel))?.id ?? config.defaultModel),
    urlSigningSecret: await serviceSecret(database, 'blob-url-signing'),
    databaseKind: database.kind,
    keys,

    async submit(input, { apiKey, priority, idempotencyKey } = {}) {
      const request = parseJobRequest(input, limits);
      // The job holds the catalog's name of its model, the default one included, so every worker makes the same image.
      const { names, reference, lane } = await catalogNames(request.model ?? defaultName);
      request.model = names;
      const inputSize = await checkReferences(request);
      // What a local job's model would refuse is refused now, not by a worker; one that cannot fit in
      // memory would kill its worker (twice).
      // A hosted one's provider refuses what it would refuse when called (no request is sent now).
      const { prompt, n, seed, steps, guidance, strength, sampler, width, height, aspectRatio, extend, providerOptions, mask } = request;
      await pixelpipe.check({ model: reference, prompt, n, seed, steps, guidance, strength, sampler, width, height, aspectRatio, extend, providerOptions, inputSize, masked: mask !== undefined });
      if (apiKey) await keys.reserveImages(apiKey, request.n);
      let submitted;
      try {
        submitted = await queue.submit(request, { priority, idempotencyKey, lane, apiKeyId: apiKey?.id, maxConcurrent: apiKey ? (apiKey.maxConcurrentJobs ?? maxConcurrentJobsPerKey) : undefined });
      } catch (error) {
        if (apiKey) await keys.releaseImages(apiKey, request.n);
        throw error;
      }
      if (submitted.created) metrics.submitted.inc();
      else if (apiKey) {
        await keys.releaseImages(apiKey, request.n);
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

    events: (id, options = {}) => followEvents(id, options),
    getRecord: (id, options) => records.get(id, options),
    listRecords: (filter) => records.list(filter),

    async storeUpload(bytes, { field }): Promise<StoredUpload> {
      let metadata;
      try {
        metadata = await sharp(bytes, { limitInputPixels: limits.maxInputPixels }).metadata();
      } catch (error) {
        throw new InvalidArgumentError({ argument: field, value: `${bytes.length} bytes`, message: `\`${field}\` is not an image sharp can read (PNG, JPEG or WebP): ${(error as Error).message}`, cause: error });
      }
      const { width = 0, height = 0, format } = metadata;
      const mediaType = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' }[format as string];
      if (!mediaType) throw new InvalidArgumentError({ argument: field, value: format, message: `\`${field}\` must be a PNG, JPEG or WebP image, got ${format ?? 'an unknown format'}` });
      // The header's size is checked before any pixel is decoded: a small file may claim a huge image.
      if (width * height > limits.maxInputPixels) {
        throw new InvalidArgumentError({ argument: field, value: `${width}x${height}`, message: `\`${field}\` is ${width}x${height} = ${width * height} pixels; at most ${limits.maxInputPixels} are accepted (scale it down first)` });
      }
      try {
        await sharp(bytes, { limitInputPixels: limits.maxInputPixels }).raw().toBuffer();
      } catch (error) {
        throw new InvalidArgumentError({ argument: field, value: `${bytes.length} bytes`, message: `\`${field}\` could not be decoded (truncated or corrupt?): ${(error as Error).message}`, cause: error });
      }
      const stored = await storage.put(bytes, { mediaType });
      return { blobKey: stored.key, sha256: stored.sha256, mediaType: stored.mediaType, width, height, size: stored.size };
    },

    listModels: () => listCatalog(catalog, pixelpipe),

    // Only routes the operator enabled call it (`serve --allow-pull`); the catalog shows the model at once.
    pullModel: createModelPuller({ pull: (reference) => pixelpipe.pullModel(reference), catalog }),

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
      await pixelpipe.close();
      if (!config.storage) await storage.close();
      if (!config.database) await database.close();
    },
  };

  // Stored events first, then live ones; a queued job also hears when its position changes.
  async function* followEvents(id: string, { after = 0, signal }: { after?: number; signal?: AbortSignal }): AsyncGenerator<JobEvent> {
    let last = after;
    let position: number | undefined;
    while (!signal?.aborted) {
      for (const event of await events.read(id, last)) {
        last = event.sequence;
        if (event.type === 'queued') position = (event.data.position as number | null) ?? undefined;
        yield event;
        if (finalEventTypes.has(event.type)) return;
      }
      const status = await queue.get(id);
      if (!status) return;
      if (status.state === 'queued' && status.position !== position) {
        position = status.position;
        yield { sequence: last, jobId: id, type: 'position', at: new Date().toISOString(), data: { position } };
      }
      // A job that ended without a final event (cancelled from outside, expired for good) still ends the stream.
      if (status.state === 'cancelled' || status.state === 'failed') {
        const again = await events.read(id, last);
        if (again.length > 0) continue;
        yield { sequence: last, jobId: id, type: status.state === 'failed' ? 'error' : 'cancelled', at: new Date().toISOString(), data: status.state === 'failed' ? { error: status.error } : {} };
        return;
      }
      await events.waitForEvent(id, 250, signal);
    }
  }

  return service;
}
