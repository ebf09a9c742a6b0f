// Bearer-key authentication and per-key rate limits for /v1/*; open only while no API key has ever existed (and then `serve` listens on loopback).
import type { MiddlewareHandler } from 'hono';
import type { HttpAppOptions, HttpEnv } from './http-env.js';
import { HttpError } from './http-error.js';

/** How long the answer of `hasApiKeys` is reused, so each request does not ask the database. */
const keysCacheMilliseconds = 2000;

/** Whether a request carries a blob URL signature; such requests are checked by the blob route instead. */
export function isSignedBlobRequest(path: string, query: Record<string, string>): boolean {
  return path.startsWith('/v1/blobs/') && query.signature !== undefined;
}

/** Puts the caller's key on `c.var.apiKey`, or answers 401, 403 or 429 in the one error shape. */
export function apiKeyAuth({ service, now = Date.now }: HttpAppOptions): MiddlewareHandler<HttpEnv> {
  // The answer in flight is shared: requests arriving together when the cache runs out ask once, not once each.
  let cached: { value: Promise<boolean>; until: number } | undefined;
  // Once a key has been seen the server stays closed: revoking every key must not open it to anyone who can reach it.
  let keyed = false;
  const keysExist = async (): Promise<boolean> => {
    if (keyed) return true;
    const time = now();
    if (!cached || time >= cached.until) {
      const value = service.hasApiKeys();
      cached = { value, until: time + keysCacheMilliseconds };
      // A failed answer is not kept: the next request asks again.
      value.catch(() => cached?.value === value && (cached = undefined));
    }
    keyed = await cached.value;
    return keyed;
  };

  return async (context, next) => {
    context.set('apiKey', undefined);
    if (!(await keysExist())) return next();
    if (isSignedBlobRequest(context.req.path, context.req.query())) return next();

    const secret = bearerToken(context.req.header('authorization'));
    const key = /^\S+$/.test(secret) ? await service.authenticate(secret) : undefined;
    if (key === undefined) {
      throw new HttpError(401, { message: unknownKeyMessage(secret), type: 'authentication_error', param: 'Authorization', code: 'invalid_api_key' }, { 'WWW-Authenticate': 'Bearer' });
    }
    if (key === 'revoked') {
      throw new HttpError(403, { message: `the API key ${secret.slice(0, 10)}… was revoked; use another key`, type: 'permission_error', param: 'Authorization', code: 'api_key_revoked' });
    }
    const limit = service.checkRateLimit(key);
    if (!limit.allowed) {
      const seconds = Math.max(1, Math.ceil(limit.retryAfterMs / 1000));
      const message = `the API key ${key.prefix} may make ${key.rateLimitPerMinute} requests a minute and has made them; retry in ${seconds} s`;
      throw new HttpError(429, { message, type: 'rate_limit_error', code: 'rate_limit_exceeded' }, { 'Retry-After': String(seconds) });
    }
    context.set('apiKey', key);
    return next();
  };
}

/** The token of a `Bearer` header (possibly empty or holding spaces, which no key does); throws 401 `missing_api_key` for no header or another scheme. */
function bearerToken(header: string | undefined): string {
  const match = /^\s*(\S+)(?:\s+([\s\S]*))?$/.exec(header ?? '');
  if (match && match[1]!.toLowerCase() === 'bearer') return (match[2] ?? '').trim();
  let message: string;
  if (header === undefined) message = 'this server needs an API key: send `Authorization: Bearer <key>` (create one with `pixelpipe keys create`)';
  else if (!match) message = 'the `Authorization` header is empty; send `Authorization: Bearer <key>`';
  // A single word is most likely the key itself without its scheme; it is not echoed.
  else if (match[2] === undefined) message = 'the `Authorization` header must be `Bearer <key>`, got one word and no scheme; put `Bearer ` before the key';
  else message = `the \`Authorization\` header must be \`Bearer <key>\`, got the ${JSON.stringify(match[1]!.slice(0, 20))} scheme; send the API key as \`Authorization: Bearer <key>\``;
  throw new HttpError(401, { message, type: 'authentication_error', param: 'Authorization', code: 'missing_api_key' }, { 'WWW-Authenticate': 'Bearer' });
}

/** Says a bearer token is not a key here, showing at most its first 10 characters (and never more than half of it). */
function unknownKeyMessage(secret: string): string {
  const fix = 'send a key made with `pixelpipe keys create` as `Authorization: Bearer <key>`';
  if (secret === '') return `the API key after \`Bearer\` is empty, so it is not a key this server knows; ${fix}`;
  const shown = secret.slice(0, Math.min(10, Math.floor(secret.length / 2)));
  const placeholder = /\s|^<.*>$/.test(secret) ? ', and looks like a placeholder (keys hold no spaces)' : '';
  return `the API key ${JSON.stringify(shown)}… (${secret.length} characters) is not known to this server${placeholder}; ${fix}`;
}
