// The content-addressed key scheme every store shares, and the checks on keys, prefixes, media types and ranges.
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { ByteRange, StoredBlob } from './blob-storage.js';

/**
 * Media types a blob may have, with the extension its key ends in. The table is one-to-one, so a
 * key alone says the media type; the same bytes under another media type get another key.
 */
export const extensionOfMediaType: Readonly<Record<string, string>> = {
  'image/png': 'png',
  'image/jpeg': 'jpg',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/avif': 'avif',
  'image/bmp': 'bmp',
  'image/tiff': 'tiff',
  'application/octet-stream': 'bin',
};

/** The media types `put` accepts. */
export const knownMediaTypes: readonly string[] = Object.keys(extensionOfMediaType);

const mediaTypeOfExtension = new Map(Object.entries(extensionOfMediaType).map(([mediaType, extension]) => [extension, mediaType]));
const keyPattern = new RegExp(`^sha256/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})\\.(${[...mediaTypeOfExtension.keys()].join('|')})$`);
const prefixPattern = /^[A-Za-z0-9._\/-]*$/;

/** SHA-256 hex, media type and key of some bytes; refuses a media type outside `knownMediaTypes`. */
export function describeBlob(bytes: Uint8Array, mediaType: string): StoredBlob {
  if (!(bytes instanceof Uint8Array)) {
    throw new InvalidArgumentError({ argument: 'bytes', value: bytes, message: `\`bytes\` must be a Uint8Array, got ${describeValue(bytes)}` });
  }
  const normalizedMediaType = normalizeMediaType(mediaType);
  const sha256Hex = createHash('sha256').update(bytes).digest('hex');
  const key = `sha256/${sha256Hex.slice(0, 2)}/${sha256Hex.slice(2, 4)}/${sha256Hex}.${extensionOfMediaType[normalizedMediaType]}`;
  return { key, sha256: `sha256:${sha256Hex}`, size: bytes.byteLength, mediaType: normalizedMediaType };
}

function normalizeMediaType(mediaType: unknown): string {
  const normalized = typeof mediaType === 'string' ? mediaType.split(';')[0]!.trim().toLowerCase() : '';
  if (extensionOfMediaType[normalized] === undefined) {
    throw new InvalidArgumentError({
      argument: 'mediaType',
      value: mediaType,
      message: `\`mediaType\` must be one of ${knownMediaTypes.join(', ')}, got ${describeValue(mediaType)}`,
    });
  }
  return normalized;
}

/** Refuses anything but a key `put` could have returned, so no key can reach outside the store. */
export function parseKey(key: unknown): { sha256: string; mediaType: string } {
  if (typeof key === 'string') {
    const match = keyPattern.exec(key);
    if (match && match[1] === match[3]!.slice(0, 2) && match[2] === match[3]!.slice(2, 4)) {
      return { sha256: `sha256:${match[3]}`, mediaType: mediaTypeOfExtension.get(match[4]!)! };
    }
  }
  const escapes = typeof key === 'string' && (isAbsolute(key) || hasDotSegment(key));
  const why = escapes ? 'a relative path without `.` or `..` segments' : 'a key as `put` returns it';
  throw new InvalidArgumentError({
    argument: 'key',
    value: key,
    message: `\`key\` must be ${why}, of the form sha256/ab/cd/<64 hex digits>.<extension>, got ${describeValue(key)}`,
  });
}

/** Refuses a list prefix that is absolute, climbs with `..` or holds characters no key holds. */
export function checkPrefix(prefix: unknown): string {
  if (typeof prefix === 'string' && prefixPattern.test(prefix) && !isAbsolute(prefix) && !hasDotSegment(prefix)) return prefix;
  throw new InvalidArgumentError({
    argument: 'prefix',
    value: prefix,
    message: `\`prefix\` must be the start of a key (letters, digits, \`/\`, \`.\`, \`-\`, \`_\`), relative and without \`..\` segments, e.g. "sha256/ab/", got ${describeValue(prefix)}`,
  });
}

/** True for a name a blob key can have; temporary files and anything else in the store fail it. */
export function isBlobKey(key: string): boolean {
  return keyPattern.test(key);
}

/** Refuses a malformed range before any I/O. */
export function checkRange(range: ByteRange): void {
  const { start, end } = range;
  const validStart = Number.isSafeInteger(start) && start >= 0;
  const validEnd = end === undefined || (Number.isSafeInteger(end) && end >= start);
  if (!validStart || !validEnd) {
    throw new InvalidArgumentError({
      argument: 'range',
      value: range,
      message: `\`range\` must have a whole \`start\` ≥ 0 and, if given, a whole \`end\` ≥ start (both inclusive), got ${describeValue(range)}`,
    });
  }
}

/** The inclusive range actually read from a blob of `size` bytes; a start past the last byte is refused, as HTTP answers 416. */
export function resolveRange(range: ByteRange, size: number): { start: number; end: number } {
  if (range.start >= size) {
    throw new InvalidArgumentError({
      argument: 'range',
      value: range,
      message: `\`range.start\` must be inside the blob (${size} bytes, last offset ${size - 1}), got ${range.start}`,
    });
  }
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}

const longestPresignSeconds = 7 * 24 * 60 * 60;

/** Refuses an expiry S3 cannot sign for, in every store, so a setting that works on a directory also works on S3. */
export function checkExpiry(expiresInSeconds: unknown): number {
  if (typeof expiresInSeconds === 'number' && Number.isSafeInteger(expiresInSeconds) && expiresInSeconds >= 1 && expiresInSeconds <= longestPresignSeconds) {
    return expiresInSeconds;
  }
  throw new InvalidArgumentError({
    argument: 'expiresInSeconds',
    value: expiresInSeconds,
    message: `\`expiresInSeconds\` must be a whole number from 1 to ${longestPresignSeconds} (7 days), got ${describeValue(expiresInSeconds)}`,
  });
}

function isAbsolute(path: string): boolean {
  return path.startsWith('/') || path.startsWith('\\') || /^[A-Za-z]:/.test(path);
}

function hasDotSegment(path: string): boolean {
  return path.split(/[\\/]/).some((segment) => segment === '..' || segment === '.');
}

function describeValue(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.byteLength})`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
