// The one JSON error shape of the HTTP API (OpenAI's, so its clients read it), and how errors map onto it.
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { NotFoundError } from '../../service/errors/not-found-error.js';
import { QuotaExceededError } from '../../service/errors/quota-exceeded-error.js';

/** The body of every error answer: `{ "error": { "message", "type", "param", "code" } }`. */
export interface HttpErrorBody {
  error: {
    /** What went wrong and how to fix it, for a person. */
    message: string;
    /** The class: `invalid_request_error`, `authentication_error`, `permission_error`, `not_found_error`, `rate_limit_error`, `server_error`. */
    type: string;
    /** The request field at fault, where there is one. */
    param: string | null;
    /** A stable code for programs, e.g. `invalid_argument`, `quota_exceeded`. */
    code: string;
  };
}

/** An error the routes throw to answer with a given status and body. */
export class HttpError extends Error {
  readonly status: ContentfulStatusCode;
  readonly body: HttpErrorBody;
  /** Extra headers, e.g. `Retry-After`. */
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, { message, type, param = null, code }: { message: string; type: string; param?: string | null; code: string }, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.body = { error: { message, type, param, code } };
    this.headers = headers;
  }
}

/** Turns anything thrown while answering into an `HttpError`; unknown errors become a 500 that says little. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (InvalidArgumentError.isInstance(error)) {
    return new HttpError(400, { message: error.message, type: 'invalid_request_error', param: error.argument, code: 'invalid_argument' });
  }
  // OpenAI answers an unknown model as a request error on `model`; its clients look for that.
  if (NotFoundError.isInstance(error) && error.resource === 'model') {
    return new HttpError(404, { message: error.message, type: 'invalid_request_error', param: 'model', code: 'model_not_found' });
  }
  if (NotFoundError.isInstance(error)) {
    return new HttpError(404, { message: error.message, type: 'not_found_error', code: `${error.resource}_not_found` });
  }
  // A prompt the moderation policy blocks, in OpenAI's terms (its clients look for the code).
  if (ContentPolicyError.isInstance(error)) {
    return new HttpError(400, { message: error.message, type: 'invalid_request_error', param: 'prompt', code: 'content_policy_violation' });
  }
  if (QuotaExceededError.isInstance(error)) {
    const seconds = Math.max(1, Math.ceil((error.resetsAt.getTime() - Date.now()) / 1000));
    return new HttpError(429, { message: error.message, type: 'rate_limit_error', code: 'quota_exceeded' }, { 'Retry-After': String(seconds) });
  }
  return new HttpError(500, { message: 'the server failed to answer this request; it has been logged', type: 'server_error', code: 'internal_error' });
}

/** Answers with the error's status, headers and JSON body. */
export function sendError(context: Context, error: unknown): Response {
  const httpError = toHttpError(error);
  for (const [name, value] of Object.entries(httpError.headers)) context.header(name, value);
  return context.json(httpError.body, httpError.status);
}
