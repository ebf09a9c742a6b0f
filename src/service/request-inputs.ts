// A request's inputs, checked before it is queued: uploaded images (decoded in full, so a broken one is a 400 now) and the blobs, mask and parent record a request names.
import sharp from 'sharp';
import { InvalidArgumentError } from '../spec/errors/invalid-argument-error.js';
import type { JobRequest } from './generation/job-request.js';
import type { ServiceLimits, StoredUpload } from './image-service-types.js';
import type { RecordStore } from './records/record-store.js';
import type { BlobStorage } from './storage/blob-storage.js';
import { checkWebhookDestination } from './webhooks/webhook-destination.js';

/** Stores an uploaded image once it is known to be a PNG, JPEG or WebP within the pixel limit that decodes whole. */
export async function storeUpload(storage: BlobStorage, limits: Pick<ServiceLimits, 'maxInputPixels'>, bytes: Uint8Array, field: string): Promise<StoredUpload> {
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
}

/** What the reference checks read. */
export interface ReferenceSources {
  storage: BlobStorage;
  records: RecordStore;
  limits: Pick<ServiceLimits, 'maxInputPixels'>;
  /** Webhook destinations on private addresses are allowed. */
  webhookAllowPrivate: boolean;
}

async function blobDimensions({ storage, limits }: ReferenceSources, blobKey: string, field: string): Promise<{ width: number; height: number }> {
  const blob = await storage.get(blobKey);
  if (!blob) throw new InvalidArgumentError({ argument: field, value: blobKey, message: `\`${field}\` names blob ${blobKey}, which is not in storage (upload the image first)` });
  const { width = 0, height = 0 } = await sharp(blob.bytes, { limitInputPixels: limits.maxInputPixels }).metadata();
  return { width, height };
}

/**
 * Checks what a request names (webhook destination, input images, a mask the image's size, the
 * parent record), so a bad request is a 400, not a failed job. Gives the first input image's size.
 */
export async function checkReferences(sources: ReferenceSources, request: JobRequest): Promise<{ width: number; height: number } | undefined> {
  if (request.webhook) await checkWebhookDestination(request.webhook.url, { allowPrivate: sources.webhookAllowPrivate });
  const image = request.images ? await blobDimensions(sources, request.images[0]!.blobKey, 'images.0') : undefined;
  for (const [index, extra] of (request.images ?? []).slice(1).entries()) await blobDimensions(sources, extra.blobKey, `images.${index + 1}`);
  if (request.mask && image) {
    const mask = await blobDimensions(sources, request.mask.blobKey, 'mask');
    if (mask.width !== image.width || mask.height !== image.height) {
      throw new InvalidArgumentError({ argument: 'mask', value: `${mask.width}x${mask.height}`, message: `\`mask\` must be the size of the image (${image.width}x${image.height}), got ${mask.width}x${mask.height}; resize the mask to match` });
    }
  }
  if (request.parentRecordId && !(await sources.records.get(request.parentRecordId))) {
    throw new InvalidArgumentError({ argument: 'parentRecordId', value: request.parentRecordId, message: `\`parentRecordId\` names record ${request.parentRecordId}, which does not exist` });
  }
  return image;
}
