// Runs one attempt at a generation job: checks the request, generates, stores the bytes, and hands back the records to write.
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import type { Database } from '../database/database.js';
import { localLane } from '../jobs/job-claim.js';
import type { JobContext, JobHandler } from '../jobs/job-types.js';
import type { EncodedImage, FinishingContext, ImageFinishing } from '../provenance/image-finishing.js';
import type { RecordDraft } from '../records/record-store.js';
import type { AuditEntry, AuditLog } from '../safety/audit-log.js';
import type { BlobStorage } from '../storage/blob-storage.js';
import type { GenerationRunner } from '../workers/generation-runner.js';
import type { GeneratedImage } from '../../spec/image-model-result.js';
import type { RecordRanking } from '../image-service-types.js';
import type { GenerateResult } from '../pixelpipe.js';
import type { RankerRegistry } from '../ranking/service-rankers.js';
import type { ImageUpscaling } from '../upscaling/image-upscaling.js';
import { engineControls } from '../controlnets/served-controlnets.js';
import { rankStoredCandidates } from './candidate-ranking.js';
import { hiresPass } from './hires-fix.js';
import { jobRecordId, storeImage } from './image-recording.js';
import { deleteJobBlobs, jobBlobNotes } from './job-blobs.js';
import type { JobEventLog } from './job-events.js';
import { jobRequestSchema, type JobRequest, type RequestLimits } from './job-request.js';

/** What a successful attempt hands to the settle hook (stored as the job's output once records are written). */
export interface GenerationOutput {
  records: RecordDraft[];
  /** The images' screening decisions, written with the records. */
  audit: AuditEntry[];
  /** Milliseconds per stage of the call, for the metrics. */
  timings: Record<string, number>;
}

/** What the handler needs. */
export interface GenerationHandlerConfig {
  database: Database;
  storage: BlobStorage;
  /** Where a job of each lane runs: supervised worker processes, or this process. */
  runnerFor: (lane: string) => GenerationRunner;
  events: JobEventLog;
  limits: RequestLimits;
  /** What the engine loads for the job's model (the catalog's name; the default when it names none). */
  modelReference: (name: string | undefined) => Promise<string>;
  /** What is done to each image before it is stored: screening, watermark, record, signature. */
  finishing: ImageFinishing;
  /** Where a hosted provider's refusals are written. */
  audit: AuditLog;
  /** The rankers a best-of-N job (`rankBy`) is judged by. */
  rankers?: RankerRegistry;
  /** The file of a LoRA the request names (the service's LoRA folder). */
  loraPath?: (name: string) => string;
  /** Upscales a hires fix's first pass (`hiresFix`). */
  upscaling?: ImageUpscaling;
  /** What the engine loads for a control's ControlNet: a named one of the service's folder, or (unnamed) the folder of the model `reference`. */
  controlNetLocation?: (name: string | undefined, reference: string) => Promise<string>;
  /** Told about errors no caller waits for (a progress event that could not be written). */
  onError?: (error: Error) => void;
}

// Building the schema costs more than checking a request with it, so each limits object builds it once.
const schemas = new WeakMap<RequestLimits, ReturnType<typeof jobRequestSchema>>();

/** Checks a request (again, in the worker: it comes back from the database, and limits may have changed since). */
export function parseJobRequest(request: unknown, limits: RequestLimits): JobRequest {
  let schema = schemas.get(limits);
  if (!schema) schemas.set(limits, (schema = jobRequestSchema(limits)));
  const parsed = schema.safeParse(request);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    const field = [...issue.path, issue.keys[0]].join('.');
    throw new InvalidArgumentError({ argument: field, value: request, message: `\`${field}\` is not a request field; leave it out (known fields: see /openapi.json)` });
  }
  const field = issue.path.join('.') || 'request';
  const value = issue.path.reduce<unknown>((object, key) => (object as Record<PropertyKey, unknown> | undefined)?.[key], request);
  throw new InvalidArgumentError({ argument: field, value, message: `\`${field}\` ${issue.message}, got ${JSON.stringify(value)}` });
}

async function readInput(storage: BlobStorage, blobKey: string, field: string): Promise<EncodedImage> {
  const blob = await storage.get(blobKey);
  if (!blob) throw new InvalidArgumentError({ argument: field, value: blobKey, message: `\`${field}\` names blob ${blobKey}, which is not in storage (upload the image again)` });
  return { bytes: blob.bytes, mediaType: blob.mediaType };
}

/** Makes the job handler the service's workers run. */
export function createGenerationHandler({ database, storage, finishing, audit, runnerFor, events, limits, modelReference, rankers, loraPath, controlNetLocation, upscaling, onError = () => {} }: GenerationHandlerConfig): JobHandler {
  const noteJobBlob = jobBlobNotes(database);
  return async (job: JobContext) => {
    const request = parseJobRequest(job.request, limits);
    // An earlier attempt that died may have stored blobs no record will name.
    if (job.attempt > 1) await deleteJobBlobs(database, storage, job.id);
    try {
      return await generate(job, request);
    } catch (error) {
      await deleteJobBlobs(database, storage, job.id).catch((cleanup: Error) => onError(cleanup));
      // A hosted provider's own refusal goes into the audit log beside pixelpipe's decisions (those are written where they are made).
      if (ContentPolicyError.isInstance(error) && error.provider !== 'pixelpipe') {
        await audit.append([{ stage: 'provider', action: 'block', apiKeyId: job.apiKeyId, jobId: job.id, classifier: error.provider, details: { message: error.message } }]).catch((failure: Error) => onError(failure));
      }
      throw error;
    }
  };

  async function rankerFor(name: string) {
    if (!rankers) throw new InvalidArgumentError({ argument: 'rankBy', value: name, message: `\`rankBy\` names ranker ${JSON.stringify(name)}, but this worker has no rankers; configure it where the job runs` });
    return await rankers.get(name);
  }

  async function generate(job: JobContext, request: JobRequest): Promise<GenerationOutput> {
    const images = request.images ? await Promise.all(request.images.map((image, index) => readInput(storage, image.blobKey, `images.${index}`))) : undefined;
    const mask = request.mask ? await readInput(storage, request.mask.blobKey, 'mask') : undefined;
    // Progress events are written in order, one at a time; a slow database drops none but never blocks the model.
    let progressChain = Promise.resolve();
    const onProgress = (progress: ImageModelProgress, pass?: 'hires') => {
      const { imageIndex, step, steps, elapsedMs, preview } = progress;
      const data = { imageIndex, step, steps, elapsedMs, ...(pass ? { pass } : {}), ...(preview ? { preview: { mediaType: preview.mediaType, width: preview.width, height: preview.height, method: preview.method, base64: Buffer.from(preview.bytes).toString('base64') } } : {}) };
      progressChain = progressChain.then(() => events.append(job.id, 'step', data)).catch((error: Error) => onError(error));
    };
    // What the service does around the call (ranking, resizing, encoding) is not the model's to see.
    const { model, webhook: _webhook, parentRecordId: _parent, images: _images, mask: _mask, bestOf, rankBy, rankRubric: _rubric, rankDecoder, resize: _resize, upscale: _upscale, outputFormat: _format, outputQuality: _quality, loras: loraNames, controls: controlRequests, hiresFix, ...options } = request;
    // Requests name LoRAs; the engine opens their files in the service's folder.
    const loras = loraNames && loraPath ? loraNames.map(({ name, scale }) => ({ path: loraPath(name), scale: scale ?? 1 })) : undefined;
    const reference = await modelReference(model);
    // Likewise ControlNets; their control images were uploaded and are read from storage.
    const controls = await engineControls(controlRequests, { storage, location: controlNetLocation && ((name) => controlNetLocation(name, reference)), where: 'run the job where the service configures one' });
    // Fail before generating when the ranker is gone (the server was restarted without it since the submit).
    const ranker = rankBy === undefined ? undefined : await rankerFor(rankBy);
    const runner = runnerFor(job.lane ?? localLane);
    const call = { ...options, model: reference, ...(loras ? { loras } : {}), ...(controls ? { controls } : {}), ...(images ? { images: images.map((image) => image.bytes) } : {}), ...(mask ? { mask: mask.bytes } : {}) };
    const draft = ranker !== undefined && rankDecoder === 'fast';
    // Best-of-N generates every candidate in one call: consecutive seeds, as for any n.
    const result = await runner.generate({ ...call, n: bestOf ?? options.n, ...(draft ? { decoder: 'fast' as const } : {}) }, { signal: job.signal, onProgress });
    await progressChain;
    // Each image with the call that made it: a candidate ranked on its fast decode is made again, alone, for its full one.
    const made: Array<{ image: GeneratedImage; result: GenerateResult }> = result.images.map((image) => ({ image, result }));
    let rankings: RecordRanking[] | undefined;
    if (draft) {
      // Ranked as made (unfinished): the fast decodes are not what the client gets, the full ones made next are.
      rankings = await rankStoredCandidates(ranker, result.images.map((image, index) => ({ index, seed: image.settings.seed, image: { bytes: image.bytes, mediaType: image.mediaType } })), request, job.signal);
      for (const [index, ranking] of rankings.entries()) {
        rankings[index] = { ...ranking, rankedOn: 'fast' };
        if (!ranking.chosen) continue;
        // The candidate's own seed gives its latents again; only the decoder differs.
        const again = await runner.generate({ ...call, n: 1, seed: result.images[index]!.settings.seed }, { signal: job.signal, onProgress: (progress) => onProgress({ ...progress, imageIndex: index }) });
        made[index] = { image: again.images[0]!, result: again };
      }
      await progressChain;
    }
    if (hiresFix) {
      if (!upscaling) throw new InvalidArgumentError({ argument: 'hiresFix', value: hiresFix, message: 'this worker has no upscaler for the hires fix; run the job where the service makes one' });
      for (const [index, { image }] of made.entries()) {
        job.signal.throwIfAborted();
        // Its steps count from 1 again: `pass: 'hires'` tells them from the first pass's.
        made[index] = await hiresPass(image, hiresFix, { upscaling, generate: (task) => runner.generate({ ...call, ...task }, { signal: job.signal, onProgress: (progress) => onProgress({ ...progress, imageIndex: index }, 'hires') }) });
      }
      await progressChain;
    }
    const records: RecordDraft[] = [];
    const finished: EncodedImage[] = [];
    const audit: AuditEntry[] = [];
    const recording = { storage, finishing, noteBlob: (key: string) => noteJobBlob(job.id, key) };
    // Every candidate is finished and stored, the rejected ones too: history keeps them.
    for (const [index, { image, result: madeBy }] of made.entries()) {
      job.signal.throwIfAborted();
      const stored = await storeImage(recording, { image, index, result: madeBy, request, recordId: jobRecordId(job.id, index), jobId: job.id, apiKeyId: job.apiKeyId, input: images?.[0], prompt: job.meta?.prompt as FinishingContext['prompt'] });
      records.push(stored.draft);
      finished.push(stored.image);
      audit.push(...stored.audit);
    }
    if (ranker && !rankings) {
      const candidates = records.map((draft, index) => ({ index, seed: draft.seed, image: finished[index]! }));
      rankings = await rankStoredCandidates(ranker, candidates, request, job.signal);
    }
    rankings?.forEach((ranking, index) => (records[index]!.ranking = ranking));
    return { records, audit, timings: result.response.timings };
  }
}
