// An in-memory ImageService for tests of the HTTP layer: real request checks and blob storage, jobs finished on command.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import { QuotaExceededError } from '../service/errors/quota-exceeded-error.js';
import { jobRequestSchema, defaultRequestLimits, type JobRequest } from '../service/generation/job-request.js';
import type { ApiKeyInfo, ImageRecord, ImageService, JobEvent, JobEventType, JobView, RecordFilter, RecordPage, ServiceLimits, StoredUpload, SubmitJobOptions } from '../service/image-service-types.js';
import type { JobError } from '../service/jobs/job-types.js';
import { DirectoryStorage } from '../service/storage/directory-storage.js';

/** Options of `createFakeImageService`. */
export interface FakeImageServiceOptions {
  /** Limits over the defaults (body 50 MiB, input 4096 × 4096, the request defaults). */
  limits?: Partial<ServiceLimits>;
  /** Finish every job by itself right after submit. Default true; false leaves jobs queued until `startJob`/`completeJob`. */
  autoComplete?: boolean;
  /** Steps each job reports before it finishes. Default 2. */
  steps?: number;
  /** Default `fake:tiny`. */
  defaultModel?: string;
  /** Folder of the blob store; a fresh temporary folder, removed by `close`, when absent. */
  storageRoot?: string;
  /** Injected clock (ms since epoch), for rate limits and times. */
  now?: () => number;
}

/** The fake, plus the levers tests pull. */
export interface FakeImageService extends ImageService {
  readonly storage: DirectoryStorage;
  /** Adds an API key whose secret is `secret`. */
  addKey(key: { secret: string; name?: string; revoked?: boolean } & Pick<ApiKeyInfo, 'rateLimitPerMinute' | 'dailyImageQuota'>): ApiKeyInfo;
  /** Moves a queued job to running and reports step 1. */
  startJob(id: string): void;
  /** Runs a job to success: running, every step, PNG records, done. */
  completeJob(id: string): Promise<JobView>;
  /** Fails a queued or running job. */
  failJob(id: string, error?: JobError): void;
  /** What `health` answers. */
  setHealth(health: Partial<{ database: boolean; storage: boolean; workers: number }>): void;
  /** Every submit, in order, with the options given. */
  readonly submissions: { request: unknown; options: SubmitJobOptions }[];
}

interface FakeJob {
  view: JobView;
  apiKeyId: string | undefined;
  events: JobEvent[];
  listeners: Set<() => void>;
}

const finalStates = new Set(['succeeded', 'failed', 'cancelled']);
const mediaTypeOfFormat: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif' };

export function createFakeImageService(options: FakeImageServiceOptions = {}): FakeImageService {
  const { autoComplete = true, steps = 2, defaultModel = 'fake:tiny', now = Date.now } = options;
  const limits: ServiceLimits = { ...defaultRequestLimits, maxBodyBytes: 50 * 1024 * 1024, maxInputPixels: 4096 * 4096, ...options.limits };
  const temporaryRoot = options.storageRoot ? undefined : mkdtempSync(join(tmpdir(), 'pixelpipe-fake-service-'));
  const storage = new DirectoryStorage({ root: options.storageRoot ?? temporaryRoot! });
  const schema = jobRequestSchema(limits);
  const jobs = new Map<string, FakeJob>();
  const idempotentJobs = new Map<string, string>();
  const records: ImageRecord[] = [];
  const keys = new Map<string, { info: ApiKeyInfo; revoked: boolean }>();
  const rateWindows = new Map<string, { start: number; count: number }>();
  const imagesPerKey = new Map<string, number>();
  const submissions: FakeImageService['submissions'] = [];
  let health = { database: true, storage: true, workers: 1 };
  let closed = false;

  const iso = () => new Date(now()).toISOString();

  function jobOf(id: string): FakeJob {
    const job = jobs.get(id);
    if (!job) throw new InvalidArgumentError({ argument: 'id', value: id, message: `no fake job ${JSON.stringify(id)} exists; submit one first` });
    return job;
  }

  function emit(job: FakeJob, type: JobEventType, data: Record<string, unknown>): void {
    job.events.push({ sequence: job.events.length + 1, jobId: job.view.id, type, at: iso(), data });
    for (const listener of job.listeners) listener();
  }

  function refreshPositions(): void {
    const queued = [...jobs.values()].filter((job) => job.view.state === 'queued');
    queued.sort((left, right) => right.view.priority - left.view.priority || left.view.createdAt.localeCompare(right.view.createdAt));
    queued.forEach((job, index) => (job.view.position = index + 1));
  }

  function copy(job: FakeJob): JobView {
    return structuredClone(job.view);
  }

  function startJob(id: string): void {
    const job = jobOf(id);
    if (job.view.state !== 'queued') return;
    Object.assign(job.view, { state: 'running', startedAt: iso(), attempts: job.view.attempts + 1, position: undefined });
    refreshPositions();
    emit(job, 'running', { attempt: job.view.attempts });
  }

  async function completeJob(id: string): Promise<JobView> {
    const job = jobOf(id);
    if (finalStates.has(job.view.state)) return copy(job);
    startJob(id);
    const request = job.view.request;
    for (let step = 1; step <= steps; step++) {
      job.view.progress = { imageIndex: 0, step, steps };
      emit(job, 'step', { imageIndex: 0, step, steps, elapsedMs: step });
    }
    const made: ImageRecord[] = [];
    for (let imageIndex = 0; imageIndex < request.n; imageIndex++) {
      made.push(await makeRecord(job, imageIndex));
    }
    if (job.view.state !== 'running') return copy(job); // cancelled while the PNGs were made
    records.push(...made);
    Object.assign(job.view, { state: 'succeeded', finishedAt: iso(), records: made, progress: undefined });
    emit(job, 'done', { records: made });
    return copy(job);
  }

  async function makeRecord(job: FakeJob, imageIndex: number): Promise<ImageRecord> {
    const request = job.view.request;
    const width = request.width ?? 64;
    const height = request.height ?? 64;
    const shade = (imageIndex * 40) % 256;
    const png = await sharp({ create: { width, height, channels: 3, background: { r: shade, g: 120, b: 200 } } }).png().toBuffer();
    const blob = await storage.put(new Uint8Array(png), { mediaType: 'image/png' });
    const model = request.model ?? defaultModel;
    const [provider, modelId] = model.includes(':') ? [model.slice(0, model.indexOf(':')), model.slice(model.indexOf(':') + 1)] : ['local', model];
    const seed = request.seed === undefined ? undefined : String(BigInt(request.seed) + BigInt(imageIndex));
    return {
      id: randomUUID(),
      jobId: job.view.id,
      imageIndex,
      apiKeyId: job.apiKeyId,
      createdAt: iso(),
      request,
      settings: { prompt: request.prompt, negativePrompt: request.negativePrompt, seed, steps: request.steps ?? steps, width, height, operation: request.images ? 'image-to-image' : 'text-to-image' },
      provider,
      modelId,
      seed,
      warnings: [],
      timings: { denoise: 1 },
      blobKey: blob.key,
      sha256: blob.sha256,
      mediaType: blob.mediaType,
      width,
      height,
    };
  }

  function failJob(id: string, error: JobError = { name: 'GenerationFailedError', message: 'the fake job was told to fail', isRetryable: false }): void {
    const job = jobOf(id);
    if (finalStates.has(job.view.state)) return;
    Object.assign(job.view, { state: 'failed', finishedAt: iso(), error, position: undefined });
    refreshPositions();
    emit(job, 'error', { error });
  }

  function checkQuota(key: ApiKeyInfo | undefined, requested: number): void {
    if (!key?.dailyImageQuota) return;
    const used = imagesPerKey.get(key.id) ?? 0;
    if (used + requested > key.dailyImageQuota) {
      const resetsAt = new Date(now());
      resetsAt.setUTCHours(24, 0, 0, 0);
      throw new QuotaExceededError({ quota: key.dailyImageQuota, used, requested, resetsAt });
    }
    imagesPerKey.set(key.id, used + requested);
  }

  // As the real service does: a mask must be the size of the first image.
  async function checkMask(request: JobRequest): Promise<void> {
    if (!request.mask || !request.images) return;
    const sizeOf = async (blobKey: string) => {
      const blob = await storage.get(blobKey);
      const { width = 0, height = 0 } = blob ? await sharp(blob.bytes, { limitInputPixels: false }).metadata() : {};
      return `${width}x${height}`;
    };
    const [image, mask] = [await sizeOf(request.images[0]!.blobKey), await sizeOf(request.mask.blobKey)];
    if (image !== mask) throw new InvalidArgumentError({ argument: 'mask', value: mask, message: `\`mask\` must be the size of the image (${image}), got ${mask}; resize the mask to match` });
  }

  return {
    limits,
    storage,
    defaultModel,
    submissions,

    async submit(input, submitOptions = {}) {
      submissions.push({ request: input, options: submitOptions });
      const parsed = schema.safeParse(input);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
        const argument = [...issue.path, ...(unknownKey === undefined ? [] : [unknownKey])].map(String).join('.') || 'request';
        const why = unknownKey === undefined ? issue.message : 'is not a field of a job request; remove it';
        throw new InvalidArgumentError({ argument, value: input, message: `\`${argument}\` ${why}` });
      }
      const apiKeyId = submitOptions.apiKey?.id;
      const idempotencyKey = submitOptions.idempotencyKey === undefined ? undefined : `${apiKeyId ?? ''}\n${submitOptions.idempotencyKey}`;
      const earlier = idempotencyKey === undefined ? undefined : idempotentJobs.get(idempotencyKey);
      if (earlier) return { job: copy(jobOf(earlier)), created: false };
      await checkMask(parsed.data);
      checkQuota(submitOptions.apiKey, parsed.data.n);
      const request: JobRequest = parsed.data;
      const view: JobView = { id: randomUUID(), state: 'queued', priority: submitOptions.priority ?? 0, createdAt: iso(), attempts: 0, maxAttempts: 3, request, records: [] };
      const job: FakeJob = { view, apiKeyId, events: [], listeners: new Set() };
      jobs.set(view.id, job);
      if (idempotencyKey !== undefined) idempotentJobs.set(idempotencyKey, view.id);
      refreshPositions();
      emit(job, 'queued', { position: view.position });
      if (autoComplete) {
        setImmediate(() => {
          completeJob(view.id).catch((error: Error) => {
            if (!closed) failJob(view.id, { name: error.name, message: error.message, isRetryable: false });
          });
        });
      }
      return { job: copy(job), created: true };
    },

    async getJob(id, { apiKeyId } = {}) {
      const job = jobs.get(id);
      if (!job || (apiKeyId !== undefined && job.apiKeyId !== apiKeyId)) return undefined;
      return copy(job);
    },

    async cancelJob(id, { apiKeyId } = {}) {
      const job = jobs.get(id);
      if (!job || (apiKeyId !== undefined && job.apiKeyId !== apiKeyId)) return undefined;
      if (!finalStates.has(job.view.state)) {
        Object.assign(job.view, { state: 'cancelled', finishedAt: iso(), position: undefined, progress: undefined });
        refreshPositions();
        emit(job, 'cancelled', {});
      }
      return copy(job);
    },

    async waitForJob(id, { signal } = {}) {
      const job = jobOf(id);
      while (!finalStates.has(job.view.state)) {
        signal?.throwIfAborted();
        if (closed) throw new Error('the fake image service was closed while waiting for a job');
        await nextChange(job, signal);
      }
      return copy(job);
    },

    async *events(id, { after = 0, signal } = {}) {
      const job = jobOf(id);
      let seen = after;
      while (!signal?.aborted && !closed) {
        const fresh = job.events.filter((event) => event.sequence > seen);
        for (const event of fresh) {
          if (signal?.aborted) return;
          seen = event.sequence;
          yield structuredClone(event);
        }
        if (finalStates.has(job.view.state) && seen >= job.events.length) return;
        await nextChange(job, signal);
      }
    },

    async getRecord(id, { apiKeyId } = {}) {
      const record = records.find((candidate) => candidate.id === id);
      if (!record || (apiKeyId !== undefined && record.apiKeyId !== apiKeyId)) return undefined;
      return structuredClone(record);
    },

    async listRecords(filter: RecordFilter = {}): Promise<RecordPage> {
      const { limit = 20, cursor } = filter;
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw new InvalidArgumentError({ argument: 'limit', value: limit, message: `\`limit\` must be a whole number from 1 to 100, got ${limit}` });
      const decoded = cursor === undefined ? '0' : Buffer.from(cursor, 'base64url').toString();
      const offset = /^\d{1,9}$/.test(decoded) ? Number(decoded) : -1;
      if (offset < 0) throw new InvalidArgumentError({ argument: 'cursor', value: cursor, message: `\`cursor\` must be the next_cursor of an earlier page, got ${JSON.stringify(cursor)}` });
      const matching = [...records].reverse().filter((record) => matches(record, filter));
      const page = matching.slice(offset, offset + limit);
      const nextCursor = offset + limit < matching.length ? Buffer.from(String(offset + limit)).toString('base64url') : undefined;
      return { records: structuredClone(page), nextCursor };
    },

    async storeUpload(bytes, { field }): Promise<StoredUpload> {
      const refuse = (why: string) => new InvalidArgumentError({ argument: field, value: `${bytes.byteLength} bytes`, message: `\`${field}\` ${why}` });
      // The header alone is read here, so an image claiming billions of pixels costs nothing yet.
      const metadata = await sharp(bytes, { limitInputPixels: false }).metadata().catch(() => undefined);
      const mediaType = metadata?.format ? mediaTypeOfFormat[metadata.format] : undefined;
      if (!metadata?.width || !metadata.height || !mediaType) throw refuse('must be a PNG, JPEG, WebP or GIF image, and these bytes do not decode as one');
      if (metadata.width * metadata.height > limits.maxInputPixels) {
        throw refuse(`must have at most ${limits.maxInputPixels} pixels, got ${metadata.width} × ${metadata.height}; send a smaller image`);
      }
      await sharp(bytes, { limitInputPixels: limits.maxInputPixels }).stats().catch((error: Error) => {
        throw refuse(`could not be decoded: ${error.message}`);
      });
      const blob = await storage.put(bytes, { mediaType });
      return { blobKey: blob.key, sha256: blob.sha256, mediaType, width: metadata.width, height: metadata.height, size: blob.size };
    },

    async listModels() {
      return [{ id: defaultModel, ownedBy: 'fake' }];
    },

    addKey({ secret, name = 'test key', revoked = false, rateLimitPerMinute, dailyImageQuota }) {
      const info: ApiKeyInfo = { id: randomUUID(), name, prefix: secret.slice(0, 10), createdAt: iso(), rateLimitPerMinute, dailyImageQuota };
      if (revoked) info.revokedAt = iso();
      keys.set(secret, { info, revoked });
      return structuredClone(info);
    },

    async authenticate(secret) {
      const key = keys.get(secret);
      if (!key) return undefined;
      return key.revoked ? 'revoked' : structuredClone(key.info);
    },

    async hasApiKeys() {
      return [...keys.values()].some((key) => !key.revoked);
    },

    checkRateLimit(key) {
      if (key.rateLimitPerMinute === undefined) return { allowed: true, retryAfterMs: 0 };
      const current = now();
      let window = rateWindows.get(key.id);
      if (!window || current - window.start >= 60_000) rateWindows.set(key.id, (window = { start: current, count: 0 }));
      if (window.count >= key.rateLimitPerMinute) return { allowed: false, retryAfterMs: window.start + 60_000 - current };
      window.count++;
      return { allowed: true, retryAfterMs: 0 };
    },

    async health() {
      return { ...health };
    },

    setHealth(changes) {
      health = { ...health, ...changes };
    },

    async metrics() {
      const byState = new Map<string, number>();
      for (const job of jobs.values()) byState.set(job.view.state, (byState.get(job.view.state) ?? 0) + 1);
      const lines = ['# HELP pixelpipe_jobs Jobs by state.', '# TYPE pixelpipe_jobs gauge'];
      for (const [state, count] of byState) lines.push(`pixelpipe_jobs{state="${state}"} ${count}`);
      return `${lines.join('\n')}\n`;
    },

    startJob,
    completeJob,
    failJob,

    async close() {
      closed = true;
      for (const job of jobs.values()) for (const listener of job.listeners) listener();
      if (temporaryRoot) rmSync(temporaryRoot, { recursive: true, force: true });
    },
  };
}

function matches(record: ImageRecord, filter: RecordFilter): boolean {
  if (filter.apiKeyId !== undefined && record.apiKeyId !== filter.apiKeyId) return false;
  if (filter.jobId !== undefined && record.jobId !== filter.jobId) return false;
  if (filter.provider !== undefined && record.provider !== filter.provider) return false;
  if (filter.model !== undefined && record.modelId !== filter.model) return false;
  if (filter.prompt !== undefined && !record.request.prompt.toLowerCase().includes(filter.prompt.toLowerCase())) return false;
  if (filter.since && new Date(record.createdAt) < filter.since) return false;
  if (filter.until && new Date(record.createdAt) > filter.until) return false;
  return true;
}

/** Resolves on the job's next event, or when `signal` aborts. */
function nextChange(job: FakeJob, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      job.listeners.delete(done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    job.listeners.add(done);
    signal?.addEventListener('abort', done, { once: true });
  });
}
