// What an image file says about where it came from: its C2PA manifest, its watermark and the record it
// carries, and whether the watermark leads to a record this service holds. For `pixelpipe verify` and
// `POST /v1/verify`.
import sharp from 'sharp';
import { readPngText } from '../../engine/image/png.js';
import { detectImageMediaType } from '../../providers/shared/image-data.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { readProvenance, type ProvenanceReading } from './c2pa-reading.js';
import { readWatermark } from './watermark.js';

/** A record a watermark leads to. */
export interface WatermarkedRecord {
  id: string;
  createdAt: string;
}

/** What `verifyImage` found in one file. */
export interface VerificationReport {
  mediaType: string;
  width: number;
  height: number;
  /** The C2PA manifest: valid, invalid or absent, with its signer, actions and ingredients. */
  c2pa: ProvenanceReading;
  /** The watermark's payload (hex) and the records it leads to; `found: false` when none could be read. */
  watermark: { found: false } | { found: true; payload: string; records: WatermarkedRecord[] };
  /** The pixelpipe record embedded in the file (PNG chunk or XMP), when there is one. */
  record?: Record<string, unknown>;
}

// The record a conversion moved to XMP (see encodeAs): `<pixelpipe:record>` with XML escapes.
function recordOfXmp(xmp: Buffer | undefined): string | undefined {
  const match = xmp && /<pixelpipe:record>([\s\S]*?)<\/pixelpipe:record>/.exec(xmp.toString('utf8'));
  return match?.[1]!.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

function parseRecord(text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads everything `bytes` carries. `findRecords` looks up the records with a watermark payload (hex);
 * without it, the payload is reported and leads to none. `name` (a file name) goes into errors.
 */
export async function verifyImage(bytes: Uint8Array, { name = 'file', findRecords }: { name?: string; findRecords?: (payload: string) => Promise<WatermarkedRecord[]> } = {}): Promise<VerificationReport> {
  const mediaType = detectImageMediaType(bytes);
  if (mediaType === undefined || mediaType === 'image/gif') {
    throw new InvalidArgumentError({ argument: name, value: `${bytes.length} bytes`, message: `${name} is not a PNG, JPEG or WebP image, so it carries no pixelpipe provenance (give the image file itself)` });
  }
  let metadata;
  try {
    metadata = await sharp(bytes).metadata();
  } catch (error) {
    throw new InvalidArgumentError({ argument: name, value: `${bytes.length} bytes`, message: `${name} could not be read as an image (truncated or corrupt?): ${(error as Error).message}`, cause: error });
  }
  const [c2pa, watermark] = await Promise.all([readProvenance(bytes, mediaType), readWatermark(bytes)]);
  const embedded = parseRecord(mediaType === 'image/png' ? readPngText(bytes).pixelpipe : recordOfXmp(metadata.xmp));
  const payload = watermark && Buffer.from(watermark.payload).toString('hex');
  return {
    mediaType,
    width: metadata.width ?? 0,
    height: metadata.height ?? 0,
    c2pa,
    watermark: payload === undefined ? { found: false } : { found: true, payload, records: findRecords ? await findRecords(payload) : [] },
    ...(embedded ? { record: embedded } : {}),
  };
}
