// What happens to every image between the model and storage, for jobs and the CLI alike: it is
// screened, upscaled and resized when the request asks, watermarked with its record's id, given its
// record, converted to the format asked for, and signed, in that order, so the watermark and the
// signature are made on the final pixels and the signature covers the record.
import sharp from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { insertTextChunks, readPngText, removeTextChunks, type PngTextChunk } from '../../engine/image/png.js';
import type { ImageSettings } from '../../spec/image-model-result.js';
import type { JobRequest } from '../generation/job-request.js';
import { encodeAs, formatOfMediaType, mediaTypeOf } from '../image-files.js';
import type { ModerationVerdict, RecordProvenance, UpscaleOperation } from '../image-service-types.js';
import type { AuditEntry } from '../safety/audit-log.js';
import type { ImageUpscaling } from '../upscaling/image-upscaling.js';
import { upscaleScaleFor } from '../upscaling/upscale-plan.js';

/** An encoded image. */
export interface EncodedImage {
  bytes: Uint8Array;
  mediaType: string;
}

/** What finishing needs to know about the image it finishes. */
export interface FinishingContext {
  /** The id of the record the image will have; the watermark and the manifest carry it. */
  recordId: string;
  /** The request as recorded. */
  request: JobRequest;
  /** The settings the model made the image with. */
  settings: ImageSettings;
  /** Who made it: `provider:model`. */
  softwareAgent: string;
  /** Whether a hosted provider made it (its own credentials, if any, are kept as an ingredient). */
  hosted: boolean;
  /** The input image of an edit. */
  input?: EncodedImage;
  /** The media type to store and return; default: the request's `outputFormat`, else the image's own. */
  mediaType?: string;
  /** Who asked, for the audit log. */
  apiKeyId?: string;
  jobId?: string;
  /** The prompt's screening, made at submit time, which the record keeps. */
  prompt?: { policy: string; verdict: ModerationVerdict };
  /** Set by finishing for the signer: the upscale it ran. */
  upscale?: UpscaleOperation;
}

/** A finished image and what was done to it. */
export interface FinishedImage extends EncodedImage {
  provenance: RecordProvenance;
  /** The screening's audit entries, to write with the record (a block writes its own and throws). */
  audit: AuditEntry[];
}

/** The steps of finishing; each is optional, so a server without a signing key still stores images. */
export interface ImageFinishing {
  finish(image: EncodedImage, context: FinishingContext): Promise<FinishedImage>;
}

/** Checks an image before it is stored or returned; throws `ContentPolicyError` for one the policy blocks, else gives the verdict and its audit entry. */
export type ImageScreen = (image: EncodedImage, context: FinishingContext) => Promise<{ verdict: ModerationVerdict; entry?: AuditEntry }>;
/** Hides `payload` in the image's pixels; gives the image unchanged (and false) when it is too small to carry it. */
export type Watermarker = (image: EncodedImage, payload: Uint8Array) => Promise<{ image: EncodedImage; embedded: boolean }>;
/** Signs the image with a C2PA manifest naming its record; `original` is what the model returned (a hosted provider's own credentials are in it). */
export type Signer = { name: string; sign(image: EncodedImage, context: FinishingContext, original: EncodedImage): Promise<EncodedImage> };

/** The parts of a finishing; leave one out to skip its step. */
export interface FinishingParts {
  screen?: ImageScreen;
  /** Runs a request's `upscale`; without it, a request that asks for one fails. */
  upscaling?: ImageUpscaling;
  watermark?: Watermarker;
  signer?: Signer;
}

/** The watermark payload of a record: the first six bytes of its id, enough to find it among many. */
export function watermarkPayload(recordId: string): Uint8Array {
  return Uint8Array.from(Buffer.from(recordId.replaceAll('-', '').slice(0, 12), 'hex'));
}

// The record travels in the PNG's `pixelpipe` chunk (the engine writes one without the id), so the
// file names its record even without a database; a conversion moves it to XMP with the rest.
async function withRecordChunk(image: EncodedImage, recordId: string, settings: ImageSettings, softwareAgent: string, upscale: UpscaleOperation | undefined): Promise<EncodedImage> {
  const png = image.mediaType === 'image/png' ? image : { bytes: new Uint8Array(await sharp(image.bytes).png().toBuffer()), mediaType: 'image/png' };
  const engineRecord = readPngText(png.bytes).pixelpipe;
  const parsed = engineRecord === undefined ? { version: 1, settings, model: { id: softwareAgent } } : (JSON.parse(engineRecord) as Record<string, unknown>);
  // A hires fix's second pass was made by the engine as a plain image-to-image: the first pass is the service's to add.
  const record = settings.hiresFix ? { ...parsed, settings: { ...(parsed.settings as object), hiresFix: settings.hiresFix } } : parsed;
  // Spliced, not re-encoded: the pixels and the other chunks (A1111's `parameters`) stay byte for byte.
  const chunk = { keyword: 'pixelpipe', text: JSON.stringify({ ...record, recordId, ...(upscale ? { upscale } : {}) }), international: true };
  return { bytes: new Uint8Array(insertTextChunks(removeTextChunks(Buffer.from(png.bytes), 'pixelpipe'), [chunk])), mediaType: 'image/png' };
}

/**
 * The image at exactly `resize`'s size (lanczos3, centred): `cover` crops the overflow, `contain` pads
 * with opaque black, `fill` stretches. Black, not transparent: the watermark spreads over every pixel,
 * and a lossy encoder may change what lies under transparent ones, so the padding must hold it too; and
 * every format shows the same image. The result is a PNG that keeps the source PNG's text chunks (the
 * engine's record, A1111's `parameters`).
 */
export async function resizeImage(image: EncodedImage, resize: NonNullable<JobRequest['resize']>): Promise<EncodedImage> {
  const resized = await sharp(image.bytes)
    .resize({ width: resize.width, height: resize.height, fit: resize.fit ?? 'cover', position: 'centre', kernel: 'lanczos3', background: { r: 0, g: 0, b: 0, alpha: 1 } })
    .png()
    .toBuffer();
  return { bytes: keepPngText(image, resized), mediaType: 'image/png' };
}

/** `png` (made from `source`'s pixels) with the text chunks `source` has, when it is a PNG. */
export function keepPngText(source: EncodedImage, png: Buffer): Uint8Array {
  const text = source.mediaType === 'image/png' ? readPngText(source.bytes) : {};
  const chunks: PngTextChunk[] = Object.entries(text).map(([keyword, value]) => ({ keyword, text: value, international: true }));
  return new Uint8Array(chunks.length ? insertTextChunks(png, chunks) : png);
}

/** Makes the finishing of a service or CLI from the parts it has. */
export function createImageFinishing({ screen, upscaling, watermark, signer }: FinishingParts): ImageFinishing {
  return {
    async finish(image, context) {
      const screening = screen ? await screen(image, context) : undefined;
      const verdict = screening?.verdict;
      // Upscaled and resized before the watermark and the signature, which must be made on the pixels that are stored.
      const upscaled = context.request.upscale ? await runUpscale(image, context.request) : undefined;
      const upscale = upscaled?.operation;
      let current = upscaled?.image ?? image;
      if (context.request.resize) current = await resizeImage(current, context.request.resize);
      let payload: string | undefined;
      if (watermark) {
        const bits = watermarkPayload(context.recordId);
        const marked = await watermark(current, bits);
        current = marked.image;
        if (marked.embedded) payload = Buffer.from(bits).toString('hex');
      }
      const { outputFormat } = context.request;
      const target = context.mediaType ?? (outputFormat ? mediaTypeOf[outputFormat] : image.mediaType);
      current = await withRecordChunk(current, context.recordId, context.settings, context.softwareAgent, upscale);
      if (target !== current.mediaType) current = await encodeAs(current, formatOfMediaType(target), { lossless: image.mediaType === 'image/png', quality: context.request.outputQuality });
      if (signer) current = await signer.sign(current, upscale ? { ...context, upscale } : context, image);
      const moderation = context.prompt && { policy: context.prompt.policy, prompt: context.prompt.verdict, ...(verdict ? { image: verdict } : {}) };
      const provenance: RecordProvenance = { c2pa: signer ? 'signed' : 'unsigned', ...(signer ? { signer: signer.name } : {}), ...(payload ? { watermark: payload } : {}), ...(moderation ? { moderation } : {}), ...(upscale ? { upscale } : {}) };
      return { ...current, provenance, audit: screening?.entry ? [screening.entry] : [] };
    },
  };

  // The scale is decided now, from the image the model made: a hosted model's size is known only here.
  async function runUpscale(image: EncodedImage, request: JobRequest): Promise<{ image: EncodedImage; operation: UpscaleOperation } | undefined> {
    const { width = 0, height = 0 } = await sharp(image.bytes).metadata();
    const scale = upscaleScaleFor(request.upscale!, width, height, request.resize);
    if (scale === undefined) return undefined;
    if (!upscaling) throw new InvalidArgumentError({ argument: 'upscale', value: request.upscale, message: '`upscale` is not offered where this image was finished (its finishing has no upscaler); leave it out' });
    return await upscaling.upscale(image, scale, { width, height });
  }
}
