// Download URLs for blobs: the store's presigned URL where it has one (S3), else this server's HMAC-signed /v1/blobs URL.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context } from 'hono';
import type { BlobStorage } from '../../service/storage/blob-storage.js';
import type { HttpAppOptions } from './http-env.js';

/** Options of `blobUrl`. */
export interface BlobUrlOptions {
  storage: BlobStorage;
  /** The blob's key, `sha256/ab/cd/<hex>.png`. */
  key: string;
  /** Where clients reach this server, e.g. `http://127.0.0.1:8080` (no trailing slash needed). */
  baseUrl: string;
  /** The server's `urlSigningSecret`. */
  secret: string;
  /** How long the URL works. Default 3600. */
  expiresInSeconds?: number;
  /** Clock in ms since epoch. Default `Date.now`. */
  now?: () => number;
}

/** A URL that downloads the blob without an API key until it expires. */
export async function blobUrl({ storage, key, baseUrl, secret, expiresInSeconds = 3600, now = Date.now }: BlobUrlOptions): Promise<string> {
  const presigned = await storage.url(key, { expiresInSeconds });
  if (presigned) return presigned;
  const expires = Math.floor(now() / 1000) + expiresInSeconds;
  return `${baseUrl.replace(/\/+$/, '')}/v1/blobs/${key}?expires=${expires}&signature=${signBlobKey(key, expires, secret)}`;
}

/** Hex HMAC-SHA256 of `<key>:<expires>`. */
export function signBlobKey(key: string, expires: number, secret: string): string {
  return createHmac('sha256', secret).update(`${key}:${expires}`).digest('hex');
}

/** Why a signed URL is refused, or undefined when it is good. */
export function checkBlobSignature({ key, expires, signature, secret, now = Date.now }: { key: string; expires: string | undefined; signature: string; secret: string; now?: () => number }): 'invalid' | 'expired' | undefined {
  if (expires === undefined || !/^\d{1,12}$/.test(expires) || !/^[0-9a-f]{64}$/.test(signature)) return 'invalid';
  const expected = Buffer.from(signBlobKey(key, Number(expires), secret), 'hex');
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) return 'invalid';
  if (Number(expires) * 1000 < now()) return 'expired';
  return undefined;
}

/** This server's URL as clients reach it: `publicUrl`, else the request's own origin. */
export function requestBaseUrl(context: Context, { publicUrl }: Pick<HttpAppOptions, 'publicUrl'>): string {
  return (publicUrl ?? new URL(context.req.url).origin).replace(/\/+$/, '');
}
