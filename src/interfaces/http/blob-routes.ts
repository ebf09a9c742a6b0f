// GET and HEAD /v1/blobs/<key>: image bytes with ranges, for an API key or a signed URL.
import type { OpenAPIHono } from '@hono/zod-openapi';
import { z } from '@hono/zod-openapi';
import { isBlobKey } from '../../service/storage/blob-key.js';
import { checkBlobSignature } from './blob-urls.js';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';
import { errorResponses } from './http-schemas.js';

const prefix = '/v1/blobs/';

/** A `Range` header resolved against a blob of `size` bytes: inclusive ends, `unsatisfiable`, or undefined for the whole blob. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | undefined {
  // Only one range of bytes is served; anything else is ignored, as RFC 9110 allows, and the whole blob sent.
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === '' && match[2] === '')) return undefined;
  if (match[1] === '') {
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(match[1]);
  const end = match[2] === '' ? size - 1 : Number(match[2]);
  if (match[2] !== '' && end < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(end, size - 1) };
}

export function registerBlobRoutes(app: OpenAPIHono<HttpEnv>, { service, urlSigningSecret, now = Date.now }: HttpAppOptions): void {
  // Keys hold slashes, which a `{key}` path parameter cannot, so the route is plain hono and only its documentation is zod-openapi's.
  app.openAPIRegistry.registerPath({
    method: 'get',
    path: '/v1/blobs/{key}',
    summary: 'Download an image (GET or HEAD); supports `Range`.',
    description: 'Needs an API key, unless the URL carries a valid `expires` and `signature` (as `response_format: url` gives).',
    security: [{ bearer: [] }, {}],
    request: {
      params: z.object({ key: z.string().openapi({ example: 'sha256/ab/cd/abcd….png', description: 'The blob key; slashes are not escaped.' }) }),
      query: z.object({ expires: z.string().optional(), signature: z.string().optional() }),
    },
    responses: {
      200: { description: 'The bytes.', content: { 'image/png': { schema: z.string().openapi({ format: 'binary' }) } } },
      206: { description: 'The range asked for, with `Content-Range`.' },
      304: { description: 'The `If-None-Match` ETag matches.' },
      ...errorResponses(400, 401, 403, 404, 416),
    },
  });

  app.get(`${prefix}*`, async (context) => {
    const key = context.req.path.slice(prefix.length);
    if (!isBlobKey(key)) {
      throw new HttpError(400, { message: `\`key\` must be a blob key such as sha256/ab/cd/<64 hex digits>.png, got ${JSON.stringify(key.slice(0, 100))}`, type: 'invalid_request_error', param: 'key', code: 'invalid_argument' });
    }
    const signature = context.req.query('signature');
    if (signature !== undefined) {
      const refusal = checkBlobSignature({ key, expires: context.req.query('expires'), signature, secret: urlSigningSecret, now });
      if (refusal === 'expired') throw new HttpError(403, { message: 'this signed URL has expired; ask for a new one', type: 'permission_error', param: 'expires', code: 'signature_expired' });
      if (refusal) throw new HttpError(403, { message: 'this URL\'s signature does not match its key and expiry; use the URL exactly as it was given', type: 'permission_error', param: 'signature', code: 'invalid_signature' });
    }
    const head = await service.storage.head(key);
    if (!head) throw new HttpError(404, { message: `no blob ${JSON.stringify(key)} exists`, type: 'not_found_error', param: 'key', code: 'blob_not_found' });

    const etag = `"${head.sha256.replace(/^sha256:/, '')}"`;
    const headers: Record<string, string> = { 'Content-Type': head.mediaType, ETag: etag, 'Accept-Ranges': 'bytes', 'Cache-Control': 'private, max-age=31536000, immutable' };
    if (context.req.header('if-none-match')?.split(',').some((tag) => tag.trim() === etag)) return context.body(null, 304, headers);

    const range = parseRange(context.req.header('range'), head.size);
    if (range === 'unsatisfiable') {
      throw new HttpError(416, { message: `the range ${JSON.stringify(context.req.header('range'))} lies outside the blob's ${head.size} bytes`, type: 'invalid_request_error', param: 'Range', code: 'range_not_satisfiable' }, { 'Content-Range': `bytes */${head.size}` });
    }
    const status = range ? 206 : 200;
    if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${head.size}`;
    headers['Content-Length'] = String(range ? range.end - range.start + 1 : head.size);
    if (context.req.method === 'HEAD') return context.body(null, status, headers);

    const content = await service.storage.get(key, range ? { range } : {});
    if (!content) throw new HttpError(404, { message: `no blob ${JSON.stringify(key)} exists`, type: 'not_found_error', param: 'key', code: 'blob_not_found' });
    return context.body(content.bytes as Uint8Array<ArrayBuffer>, status, headers);
  });
}
