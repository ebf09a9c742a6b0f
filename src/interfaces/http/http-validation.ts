// Turns failed zod checks and hono's own refusals (bad JSON, wrong media type, big bodies) into the one error shape.
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';
import { HttpError } from './http-error.js';

type Target = 'json' | 'query' | 'param' | 'header' | 'cookie' | 'form';
type ZodIssue = ZodError['issues'][number];

/** The field an issue is about, as a dotted path (`width`, `images.0.b64_json`); unknown keys name themselves. */
export function issueParam(issue: ZodIssue): string | null {
  const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]] : issue.path;
  return path.length === 0 ? null : path.map(String).join('.');
}

/** The first issue of a failed check as a 400 naming the field, its value and what it must be. */
export function validationError(error: ZodError, input: unknown, target: Target = 'json'): HttpError {
  const issue = error.issues[0]!;
  const param = issueParam(issue);
  const where = target === 'json' ? 'the body' : target === 'query' ? 'the query' : target === 'param' ? 'the path' : `the ${target}s`;
  let message: string;
  if (issue.code === 'unrecognized_keys') {
    message = `\`${param}\` is not a field this route takes (in ${where}); remove it or check its spelling`;
  } else if (param === null && issue.code === 'invalid_type' && target === 'json') {
    message = `${where} must be a JSON object, got ${Array.isArray(input) ? 'an array' : describe(input)}`;
  } else if (param === null) {
    message = `${where} ${issue.message}`;
  } else {
    const value = valueAt(input, issue.path);
    const got = value === undefined ? 'it is missing' : `got ${describe(value)}`;
    message = `\`${param}\` (in ${where}) ${issue.message}; ${got}`;
  }
  return new HttpError(400, { message, type: 'invalid_request_error', param, code: 'invalid_argument' });
}

/** The hook zod-openapi calls after each check: on failure, answer in the error shape. */
export async function validationHook(result: { target: string; success: boolean; error?: ZodError }, context: Context): Promise<Response | undefined> {
  if (result.success || !result.error) return undefined;
  const target = result.target as Target;
  const input = await inputOf(context, target);
  throw validationError(result.error, input, target);
}

/** hono's HTTPExceptions (malformed JSON, unsupported media type, 413) in the error shape. */
export function fromHttpException(exception: HTTPException): HttpError {
  const status = exception.status as ContentfulStatusCode;
  if (status === 413) return bodyTooLarge();
  if (status === 415) {
    return new HttpError(415, { message: 'the body must be JSON: send `Content-Type: application/json`', type: 'invalid_request_error', code: 'unsupported_media_type' });
  }
  if (status === 400 && /json/i.test(exception.message)) {
    return new HttpError(400, { message: 'the body is not valid JSON; check quotes, commas and brackets', type: 'invalid_request_error', code: 'invalid_json' });
  }
  return new HttpError(status, { message: exception.message || 'the request was refused', type: status >= 500 ? 'server_error' : 'invalid_request_error', code: 'http_error' });
}

/** The 413 every route answers for a body over the limit. */
export function bodyTooLarge(maxBytes?: number): HttpError {
  const limit = maxBytes === undefined ? 'the limit' : `${maxBytes} bytes`;
  return new HttpError(413, { message: `the body is larger than ${limit}; send smaller images or upload them one by one`, type: 'invalid_request_error', code: 'body_too_large' });
}

async function inputOf(context: Context, target: Target): Promise<unknown> {
  try {
    if (target === 'json') return await context.req.json();
    if (target === 'query') return context.req.query();
    if (target === 'param') return context.req.param();
    if (target === 'header') return context.req.header();
  } catch {
    // The value only makes the message better; a body that cannot be read again leaves it out.
  }
  return undefined;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function describe(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
