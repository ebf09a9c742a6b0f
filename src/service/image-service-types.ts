import type { HubLoraRecord } from './loras/lora-folder.js';
// What the service offers its interfaces (HTTP, CLI): jobs, their events, records, uploads, keys, health and metrics.
import type { ControlNetListing } from './controlnets/served-controlnets.js';
import type { LoraListing } from './loras/lora-folder.js';
import type { ImageModelCost, ImageModelWarning, ImageSettings } from '../spec/index.js';
import type { JobAttempt, JobError, JobState } from './jobs/job-types.js';
import type { JobRequest, RequestLimits } from './generation/job-request.js';
import type { LocalModelCapabilities } from '../providers/local/local-image-model.js';
import type { VerificationReport } from './provenance/verify-image.js';
import type { AuditFilter, AuditPage } from './safety/audit-log.js';
import type { PolicySetting } from './safety/moderation-policy.js';
import type { BlobStorage } from './storage/blob-storage.js';
import type { RunnerStatus } from './workers/generation-runner.js';

/** Everything kept about one generated image: enough to trace it and make it again. */
export interface ImageRecord {
  /** The record's id (a UUID). */
  id: string;
  /** The job that made it; absent for images made outside the queue. */
  jobId?: string;
  /** Which image of its job (0-based). */
  imageIndex: number;
  /** The record an edit started from. */
  parentId?: string;
  /** The API key that asked for it. */
  apiKeyId?: string;
  /** When it was stored (ISO 8601). */
  createdAt: string;
  /** The job request as checked and queued. */
  request: JobRequest;
  /** The settings the image was made with, after defaults were filled in. */
  settings: ImageSettings;
  /** Provider that made it, e.g. `local` or `openai`. */
  provider: string;
  /** Model id as the provider knows it. */
  modelId: string;
  /** Content hash of the model's weights, when known. */
  modelHash?: string;
  /** The image's seed as a decimal string, when the model uses seeds. */
  seed?: string;
  /** The prompt the provider actually used, when it rewrote it. */
  revisedPrompt?: string;
  /** Settings the model could not honour as given. */
  warnings: ImageModelWarning[];
  /** Milliseconds per stage. */
  timings: Record<string, number>;
  /** Estimated cost of the job's call, when priced. */
  cost?: ImageModelCost;
  /** Where the bytes are in blob storage. */
  blobKey: string;
  /** SHA-256 of the file's bytes, `sha256:<hex>`. */
  sha256: string;
  /**
   * SHA-256 of the decoded pixels (8-bit RGBA, row by row), `sha256:<hex>`. A rerun with the same
   * seed gives the same pixels, while the file differs in the timings and time it carries.
   */
  pixelSha256?: string;
  /** Media type of the bytes. */
  mediaType: string;
  width: number;
  height: number;
  /** What the stored image carries: its content credentials, watermark and screening. Absent on records made before. */
  provenance?: RecordProvenance;
  /** How the image fared among its job's best-of-N candidates; absent when the job was not ranked. */
  ranking?: RecordRanking;
}

/** A best-of-N candidate's place among its job's candidates. */
export interface RecordRanking {
  /** The ranker that scored it: `clip`, `aesthetic`, `vlm` or a custom ranker's name. */
  ranker: string;
  /** Its score; higher is better. */
  score: number;
  /** 1 for the best; equal scores go to the lower candidate (image) index. */
  rank: number;
  /** Whether it is among the `n` the job answers with; false for a rejected candidate, kept in history. */
  chosen: boolean;
  /** How many candidates were ranked (the request's `bestOf`). */
  candidates: number;
  /** Why, in a few words (a VLM's comment, or the measure and its value). */
  reason?: string;
  /** The numbers behind the score. */
  detail?: Record<string, number>;
  /** `fast` when the candidates were ranked on fast decodes (`rankDecoder`): a chosen one was then made again with the full VAE. */
  rankedOn?: 'fast';
}

/** A record's provenance: what was done to its image between the model and storage. */
export interface RecordProvenance {
  /** Whether the file carries a C2PA manifest: `unsigned` when the server has no signing key. */
  c2pa: 'signed' | 'unsigned';
  /** The signing certificate's subject, when signed. */
  signer?: string;
  /** The invisible watermark's payload (hex), which finds this record again; absent when the image is too small to carry one. */
  watermark?: string;
  /** The screening of the prompt and the image: the policy's name and the decisions. */
  moderation?: { policy: string; prompt: ModerationVerdict; image?: ModerationVerdict };
  /** The upscale the request's `upscale` ran, before the resize and the watermark. */
  upscale?: UpscaleOperation;
}

/** An upscale done to an image: the weights (name and SHA-256), the scale and the tiling. */
export interface UpscaleOperation {
  model: string;
  hash?: string;
  scale: number;
  tile: number;
  overlap: number;
}

/** One screening decision, as the record keeps it (the audit log has the detail). */
export interface ModerationVerdict {
  action: 'allow' | 'flag' | 'block' | 'off';
  /** The rule or classifier that decided, when it was not a plain allow. */
  rule?: string;
  category?: string;
}

/** A job as clients see it. */
export interface JobView {
  id: string;
  state: JobState;
  /** 1 for the next job a worker takes; only while queued. */
  position?: number;
  priority: number;
  /** ISO 8601 times. */
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Attempts started so far, and the most it may have. */
  attempts: number;
  maxAttempts: number;
  /**
   * What happened to each attempt, for a job tried more than once: its worker (`host:pid`), its
   * outcome (`crashed` when the worker process died under it) and error.
   */
  attemptHistory?: { attempt: number; outcome: JobAttempt['outcome']; startedAt: string; finishedAt?: string; worker?: string; error?: JobError }[];
  /** The request as queued. */
  request: JobRequest;
  /** Why it failed (or why its last attempt failed while it waits to retry). */
  error?: JobError;
  /** The latest step reported by the running attempt. */
  progress?: { imageIndex: number; step: number; steps: number };
  /** The images it made, once it succeeded; of a best-of-N job, the chosen `n`, best first. */
  records: ImageRecord[];
  /** A best-of-N job's candidates that were not chosen, best first (their records say `ranking.chosen: false`). */
  rejected?: ImageRecord[];
}

/** What a job's event stream carries. `done`, `error` and `cancelled` end it. */
export type JobEventType = 'queued' | 'position' | 'running' | 'step' | 'done' | 'error' | 'cancelled';

/** One event of a job, numbered so a client can resume after the last one it saw. */
export interface JobEvent {
  /** Increases within a job; resume with `after`. */
  sequence: number;
  jobId: string;
  type: JobEventType;
  /** ISO 8601. */
  at: string;
  /**
   * queued: `{ position }`; position: `{ position }`; running: `{ attempt }`;
   * step: `{ imageIndex, step, steps, elapsedMs, preview?: { mediaType, width, height, base64 } }`;
   * done: `{ records: ImageRecord[], rejected?: ImageRecord[] }` (as the job view has them); error: `{ error: JobError }`; cancelled: `{}`.
   */
  data: Record<string, unknown>;
}

/** Filters of `listRecords`; every one optional. */
export interface RecordFilter {
  apiKeyId?: string;
  jobId?: string;
  provider?: string;
  /** Exact model id. */
  model?: string;
  /** Records whose prompt contains this text (case-insensitive). */
  prompt?: string;
  /** Records whose image carries this watermark payload (hex, as `pixelpipe verify` reads it). */
  watermark?: string;
  since?: Date;
  until?: Date;
  /** 1 to 100; default 20. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** One page of records, newest first. */
export interface RecordPage {
  records: ImageRecord[];
  /** Pass as `cursor` for the next page; absent on the last. */
  nextCursor?: string;
}

/** An uploaded image after it was decoded within the limits and stored. */
export interface StoredUpload {
  blobKey: string;
  sha256: string;
  mediaType: string;
  width: number;
  height: number;
  size: number;
}

/** An API key as listed; the secret itself is shown once, at creation, and never kept. */
export interface ApiKeyInfo {
  id: string;
  name: string;
  /** The secret's first characters, to tell keys apart (`pp_ab12cd`). */
  prefix: string;
  createdAt: string;
  revokedAt?: string;
  /** Requests per minute this key may make; unlimited when absent. */
  rateLimitPerMinute?: number;
  /** Images per UTC day this key may ask for; unlimited when absent. */
  dailyImageQuota?: number;
  /** Jobs of this key that may run at once across all workers; the service default when absent. */
  maxConcurrentJobs?: number;
  /** True for an admin key (`pixelpipe keys create --admin`), which may also pull models over HTTP where the server allows it; absent otherwise. */
  admin?: true;
  /** The key's own moderation policy (`keys create --moderation-policy`), or `off`; the server's applies when absent. */
  moderationPolicy?: PolicySetting;
}

/** A model pulled into the server's cache at a client's request, usable as `model` at once. */
export interface PulledModel {
  /** Its id in the catalog (`GET /v1/models`), which requests name it by. */
  id: string;
  /** The hub repo it came from. */
  repoId: string;
  /** The commit pulled. */
  revision: string;
  /** The licence its model card names; show it to whoever uses the model. */
  license?: string;
  licenseLink?: string;
  /** Bytes downloaded by this pull; 0 when the model was already in the cache. */
  downloadedBytes: number;
}

/** Limits of the service: those of each request and those of its HTTP input. */
export interface ServiceLimits extends RequestLimits {
  /** Largest request body, in bytes. Default 50 MiB. */
  maxBodyBytes: number;
  /** Largest uploaded image or mask, in pixels; larger ones are refused before they are decoded. Default 4096 × 4096. */
  maxInputPixels: number;
}

/** Options of `submit`. */
export interface SubmitJobOptions {
  apiKey?: ApiKeyInfo;
  /** Higher runs first. Default 0. */
  priority?: number;
  /** The same key (per API key) gives back the same job. */
  idempotencyKey?: string;
}

/** The service behind `pixelpipe serve`: one per process; workers may run in it or elsewhere. */
export interface ImageService {
  readonly limits: ServiceLimits;
  /** Where image bytes are kept. */
  readonly storage: BlobStorage;
  /** The catalog's name of the model used when a request names none. */
  readonly defaultModel: string | undefined;
  /**
   * Checks and queues a request. Throws `InvalidArgumentError` (with `argument` naming the field)
   * for bad input, `QuotaExceededError` when the key's daily images are spent.
   */
  submit(request: unknown, options?: SubmitJobOptions): Promise<{ job: JobView; created: boolean }>;
  /** A job, or undefined when unknown or (with `apiKeyId`) another key's. */
  getJob(id: string, options?: { apiKeyId?: string }): Promise<JobView | undefined>;
  /** Cancels a queued or running job; gives it back afterwards, or undefined when unknown. */
  cancelJob(id: string, options?: { apiKeyId?: string }): Promise<JobView | undefined>;
  /** Resolves when the job has succeeded, failed or been cancelled. */
  waitForJob(id: string, options?: { signal?: AbortSignal }): Promise<JobView>;
  /** The job's events after sequence `after` (0: all), live until the job ends or `signal` aborts. */
  events(id: string, options?: { after?: number; signal?: AbortSignal }): AsyncIterable<JobEvent>;
  getRecord(id: string, options?: { apiKeyId?: string }): Promise<ImageRecord | undefined>;
  listRecords(filter?: RecordFilter): Promise<RecordPage>;
  /** The moderation audit log, newest first (admin keys only over HTTP). */
  listAudit(filter?: AuditFilter): Promise<AuditPage>;
  /**
   * What an image carries: its C2PA manifest, watermark and embedded record, and the records its
   * watermark leads to (with `apiKeyId`, only that key's).
   */
  verifyImage(bytes: Uint8Array, options?: { apiKeyId?: string }): Promise<VerificationReport>;
  /** Decodes an uploaded image within `maxInputPixels` and stores it; `field` names it in errors. */
  storeUpload(bytes: Uint8Array, options: { field: string }): Promise<StoredUpload>;
  /** The catalog: models a client may name (the default local model, cached local models, configured hosted ones), local ones with what they can do. */
  listModels(): Promise<{ id: string; ownedBy: string; capabilities?: LocalModelCapabilities }[]>;
  /** The rankers a request may name as `rankBy` (best-of-N), sorted. */
  rankers(): string[];
  /** The LoRAs a request may name in `loras` (the service's LoRA folder), with trigger words and SHA-256. */
  listLoras(): Promise<LoraListing[]>;
  /** Pulls a LoRA from the hub into the service's LoRA folder (`pixelpipe lora pull`); only routes the operator enabled call it. */
  pullLora(request: { repo: string; file?: string; name?: string; revision?: string }): Promise<HubLoraRecord>;
  /** The ControlNets a request may name in `controls` (the service's ControlNet folder). */
  listControlNets(): Promise<ControlNetListing[]>;
  /**
   * Pulls a hub model (`owner/name[@revision]` or a registry alias) into the model cache the catalog
   * reads, and gives its catalog id; one download per model at a time. Only the routes a server
   * enables call it (`serve --allow-pull`). Absent where the service cannot pull.
   */
  pullModel?(model: string): Promise<PulledModel>;
  /** The key a secret belongs to; `revoked` for a revoked key; undefined for an unknown secret. */
  authenticate(secret: string): Promise<ApiKeyInfo | 'revoked' | undefined>;
  /** Whether any unrevoked API key exists (without keys the server only listens on loopback). */
  hasApiKeys(): Promise<boolean>;
  /** Takes one request from the key's per-minute allowance. */
  checkRateLimit(key: ApiKeyInfo): { allowed: boolean; retryAfterMs: number };
  /** Whether the database and blob store answer, how many workers run in this process, and how its worker processes fare. */
  health(): Promise<{ database: boolean; storage: boolean; workers: number; workerProcesses?: RunnerStatus }>;
  /** Prometheus text exposition: queue depth, job latency, per-stage time. */
  metrics(): Promise<string>;
  /** Stops this process's workers (finishing or requeuing running jobs) and closes everything. */
  close(): Promise<void>;
}
