// Blobs as objects in any S3-compatible bucket (AWS S3, MinIO, s3rver), for workers on several hosts.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, paginateListObjectsV2 } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { checkExpiry, checkPrefix, checkRange, describeBlob, isBlobKey, parseKey, resolveRange } from './blob-key.js';
import type { BlobContent, BlobHead, BlobStorage, GetOptions, PutOptions, StoredBlob, UrlOptions } from './blob-storage.js';

/** Static credentials; without them the SDK's default chain finds them (environment, shared files, SSO, instance or container role). */
export interface S3Credentials {
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
}

/** Settings of the S3 store. */
export interface S3StorageConfig {
  /** Bucket the blobs live in; it must exist. */
  bucket: string;
  /** Region to sign for. Default `us-east-1`, which MinIO and s3rver also expect. */
  region?: string;
  /** Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000`. Default: AWS's endpoint for the region. */
  endpoint?: string;
  /** Address buckets as `endpoint/bucket/key` instead of `bucket.endpoint/key`; MinIO and s3rver need it. Default false. */
  forcePathStyle?: boolean;
  /** Static credentials. Default: the SDK's default chain. */
  credentials?: S3Credentials;
  /** Folder inside the bucket, e.g. `pixelpipe/`; keys handed out never include it. Default: the bucket's root. */
  prefix?: string;
}

// Blobs never change under a key, so any cache may keep them for good.
const immutableCacheControl = 'public, max-age=31536000, immutable';

/** Each blob is one object whose Content-Type is its media type; ranges use the `Range` header, URLs are presigned GETs. */
export class S3Storage implements BlobStorage {
  /** Bucket the blobs live in. */
  readonly bucket: string;
  /** Folder inside the bucket, empty or ending in `/`. */
  readonly prefix: string;
  private readonly client: S3Client;

  constructor({ bucket, region = 'us-east-1', endpoint, forcePathStyle = false, credentials, prefix = '' }: S3StorageConfig) {
    if (typeof bucket !== 'string' || bucket.trim() === '') {
      throw new InvalidArgumentError({ argument: 'bucket', value: bucket, message: `\`bucket\` must name an existing bucket, got ${JSON.stringify(bucket)}` });
    }
    this.bucket = bucket;
    const trimmed = checkPrefix(typeof prefix === 'string' ? prefix.replace(/^\/+|\/+$/g, '') : prefix);
    this.prefix = trimmed === '' ? '' : `${trimmed}/`;
    this.client = new S3Client({
      region,
      forcePathStyle,
      ...(endpoint !== undefined && { endpoint }),
      ...(credentials !== undefined && { credentials }),
      // The SDK's default CRC checksums on every request are refused or mishandled by many
      // S3-compatible servers; send and check them only where an operation requires one.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async put(bytes: Uint8Array, { mediaType }: PutOptions): Promise<StoredBlob> {
    const blob = describeBlob(bytes, mediaType);
    if (await this.head(blob.key)) return blob;
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(blob.key),
        Body: bytes,
        ContentLength: bytes.byteLength,
        ContentType: blob.mediaType,
        CacheControl: immutableCacheControl,
      }),
    );
    return blob;
  }

  async get(key: string, { range }: GetOptions = {}): Promise<BlobContent | undefined> {
    const parsed = parseKey(key);
    if (range) checkRange(range);
    let response;
    try {
      response = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ...(range && { Range: `bytes=${range.start}-${range.end ?? ''}` }) }),
      );
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      if (range && isUnsatisfiableRange(error)) {
        const head = await this.head(key);
        if (!head) return undefined;
        resolveRange(range, head.size);
      }
      throw error;
    }
    const body = await response.Body!.transformToByteArray();
    const mediaType = response.ContentType ?? parsed.mediaType;
    if (!range) return { bytes: body, size: body.byteLength, mediaType };
    const served = parseContentRange(response.ContentRange);
    if (served) return { bytes: body, size: served.size, mediaType, range: { start: served.start, end: served.end } };
    // A server that ignores Range sends the whole object with 200; cut the range out here.
    const read = resolveRange(range, body.byteLength);
    return { bytes: body.subarray(read.start, read.end + 1), size: body.byteLength, mediaType, range: read };
  }

  async head(key: string): Promise<BlobHead | undefined> {
    const { sha256, mediaType } = parseKey(key);
    try {
      const response = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
      return { size: response.ContentLength ?? 0, mediaType: response.ContentType ?? mediaType, sha256 };
    } catch (error) {
      if (isMissingObject(error)) return undefined;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    parseKey(key);
    // S3 answers 204 for a key that is not there, so deleting twice needs no check.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  async *list(prefix = ''): AsyncGenerator<string> {
    checkPrefix(prefix);
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, Prefix: this.objectKey(prefix) });
    for await (const page of pages) {
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(this.prefix.length);
        // Other objects sharing the bucket or folder are not ours to report, nor to sweep.
        if (key !== undefined && isBlobKey(key)) yield key;
      }
    }
  }

  async url(key: string, { expiresInSeconds = 3600 }: UrlOptions = {}): Promise<string> {
    parseKey(key);
    const expiresIn = checkExpiry(expiresInSeconds);
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }), { expiresIn });
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private objectKey(key: string): string {
    return `${this.prefix}${key}`;
  }
}

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null ? (error as { name?: string }).name : undefined;
}

/** HEAD has no body, so a missing object there reads `NotFound`; GET says `NoSuchKey`. A missing bucket is `NoSuchBucket` and stays an error. */
function isMissingObject(error: unknown): boolean {
  const name = errorName(error);
  return name === 'NoSuchKey' || name === 'NotFound';
}

function isUnsatisfiableRange(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return errorName(error) === 'InvalidRange' || status === 416;
}

function parseContentRange(contentRange: string | undefined): { start: number; end: number; size: number } | undefined {
  const match = contentRange ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), size: Number(match[3]) };
}
