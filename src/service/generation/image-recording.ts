// Turns what a model returned into stored, recorded images: each is finished under its record's id,
// stored, and described by a record. Jobs do it in their worker; `pixelpipe generate` does it for
// images it made itself, in its own process or through the server that holds the data directory.
import { createHash, randomUUID } from 'node:crypto';
import sharp from 'sharp';
import type { GeneratedImage, ImageModelResult } from '../../spec/image-model-result.js';
import type { Database } from '../database/database.js';
import type { ImageRecord } from '../image-service-types.js';
import { pixelSha256 } from '../pixel-hash.js';
import type { EncodedImage, FinishingContext, ImageFinishing } from '../provenance/image-finishing.js';
import type { RecordDraft, RecordStore } from '../records/record-store.js';
import type { AuditEntry, AuditLog } from '../safety/audit-log.js';
import { describeBlob } from '../storage/blob-key.js';
import type { BlobStorage } from '../storage/blob-storage.js';
import type { JobRequest } from './job-request.js';

/**
 * The id of a job's image's record, fixed by the job and the image's place in it, so an attempt run
 * again signs and watermarks the same id that the record, written once, has.
 */
export function jobRecordId(jobId: string, imageIndex: number): string {
  const hex = createHash('sha256').update(`pixelpipe record ${jobId} ${imageIndex}`).digest('hex');
  // A UUID of version 8 (vendor-defined), variant 10.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

// A job's cost is the call's; each record carries its share, so summing records gives the bill.
function shareOfCost(cost: RecordDraft['cost'], count: number): RecordDraft['cost'] {
  if (!cost || count <= 1) return cost;
  return { ...cost, amountUsd: cost.amountUsd / count, basis: `${cost.basis}, 1/${count} per image` };
}

/** Where images go and what is done to them first. */
export interface ImageRecording {
  storage: BlobStorage;
  finishing: ImageFinishing;
  /** Told each blob's key before it is stored, so a failed attempt can delete what no record names. */
  noteBlob?: (key: string) => Promise<void>;
}

/** One image of a call, and what its record says about who asked. */
export interface ImageToStore {
  image: GeneratedImage;
  index: number;
  result: Pick<ImageModelResult, 'images' | 'response' | 'warnings' | 'cost'>;
  request: JobRequest;
  recordId: string;
  jobId?: string;
  apiKeyId?: string;
  /** The first input image of an edit. */
  input?: EncodedImage;
  /** What to store the image as; default its own type. */
  mediaType?: string;
  prompt?: FinishingContext['prompt'];
}

/** Finishes and stores one image; gives its record's draft and the finished bytes. */
export async function storeImage({ storage, finishing, noteBlob }: ImageRecording, item: ImageToStore): Promise<{ draft: RecordDraft; image: EncodedImage; audit: AuditEntry[] }> {
  const { image, index, result, request, recordId } = item;
  const softwareAgent = `${result.response.provider}:${result.response.modelId}`;
  const finished = await finishing.finish(image, {
    recordId, request, settings: image.settings, softwareAgent, hosted: result.response.provider !== 'local',
    input: item.input, mediaType: item.mediaType, apiKeyId: item.apiKeyId, jobId: item.jobId, prompt: item.prompt,
  });
  await noteBlob?.(describeBlob(finished.bytes, finished.mediaType).key);
  const stored = await storage.put(finished.bytes, { mediaType: finished.mediaType });
  // The pixels the model made, before resizing and the watermark: what a reproduction makes again.
  const made = await pixelSha256(image.bytes);
  // The size is the stored file's. Only a `resize` or an upscale makes it differ from the model's,
  // so only then is the stored file read again: the decode above already gave the model's size.
  const resized = request.resize !== undefined || finished.provenance.upscale !== undefined;
  const { width = 0, height = 0 } = resized ? await sharp(finished.bytes).metadata() : made;
  const draft: RecordDraft = {
    id: recordId,
    jobId: item.jobId,
    imageIndex: index,
    parentId: request.parentRecordId,
    apiKeyId: item.apiKeyId,
    request,
    settings: image.settings,
    provider: result.response.provider,
    modelId: result.response.modelId,
    modelHash: result.response.modelHash,
    seed: image.settings.seed,
    revisedPrompt: image.revisedPrompt,
    warnings: result.warnings,
    timings: result.response.timings,
    cost: shareOfCost(result.cost, result.images.length),
    blobKey: stored.key,
    sha256: stored.sha256,
    pixelSha256: made.pixelSha256,
    mediaType: stored.mediaType,
    width,
    height,
    provenance: finished.provenance,
  };
  return { draft: Object.fromEntries(Object.entries(draft).filter(([, value]) => value !== undefined)) as RecordDraft, image: { bytes: finished.bytes, mediaType: finished.mediaType }, audit: finished.audit };
}

/** A generation made outside the queue (by `pixelpipe generate`), to record. */
export interface GenerationToRecord {
  /** The request as a job would have it, without its input images (they come in `inputs`). */
  request: Omit<JobRequest, 'images' | 'mask'>;
  /** An edit's inputs; stored, so the record can be reproduced. */
  inputs?: { images?: EncodedImage[]; mask?: EncodedImage };
  /** What the model returned; absent when nothing was made (a blocked prompt, whose audit entry is all there is to write). */
  result?: Pick<ImageModelResult, 'images' | 'response' | 'warnings' | 'cost'>;
  /** Per image, what to store it as (the format of the file it is written to). */
  mediaTypes?: (string | undefined)[];
  /** The prompt's screening, which the records keep. */
  prompt?: FinishingContext['prompt'];
  /** Decisions the caller made (the prompt's screening), written to the audit log with the records; alone when the prompt was blocked and there are no images. */
  audit?: AuditEntry[];
}

/** The records of a recorded generation and the finished images, in order. */
export interface RecordedGeneration {
  records: ImageRecord[];
  images: EncodedImage[];
}

/** Stores a generation's inputs and images and writes its records and audit entries, in one transaction. */
export async function recordGeneration({ database, records, audit, ...recording }: ImageRecording & { database: Database; records: RecordStore; audit: AuditLog }, generation: GenerationToRecord): Promise<RecordedGeneration> {
  const { storage } = recording;
  const inputs = generation.inputs ?? {};
  const images = inputs.images && (await Promise.all(inputs.images.map(async (input) => ({ blobKey: (await storage.put(input.bytes, { mediaType: input.mediaType })).key }))));
  const mask = inputs.mask && { blobKey: (await storage.put(inputs.mask.bytes, { mediaType: inputs.mask.mediaType })).key };
  const request = { ...generation.request, ...(images ? { images } : {}), ...(mask ? { mask } : {}) } as JobRequest;
  const stored: Awaited<ReturnType<typeof storeImage>>[] = [];
  const { result } = generation;
  for (const [index, image] of (result?.images ?? []).entries()) {
    stored.push(await storeImage(recording, { image, index, result: result!, request, recordId: randomUUID(), input: inputs.images?.[0], mediaType: generation.mediaTypes?.[index], prompt: generation.prompt }));
  }
  const written = await database.transaction(async (transaction) => {
    const entries = [...(generation.audit ?? []), ...stored.flatMap((item) => item.audit)];
    if (entries.length) await audit.append(entries, transaction);
    return stored.length ? await records.insert(transaction, stored.map(({ draft }) => draft)) : [];
  });
  return { records: written, images: stored.map(({ image }) => image) };
}
