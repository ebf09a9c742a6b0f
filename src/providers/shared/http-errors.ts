// Maps a provider's HTTP error answer to one typed error: status first, the provider's own body reading on top.
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import type { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { ProviderUnavailableError } from '../../spec/errors/provider-unavailable-error.js';
import { RateLimitError } from '../../spec/errors/rate-limit-error.js';
import { parseRetryAfter } from './retry.js';

export interface ErrorResponse {
  status: number;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  body: unknown;
  text: string;
  headers: Headers;
  url: string;
}

/** What a provider reads from its own error body; `error` replaces the status mapping (e.g. a content refusal). */
export type ErrorReader = (response: ErrorResponse) => { error?: PixelpipeError; message?: string; field?: string } | undefined;

/** The message in the shapes APIs commonly use: `{error: {message}}`, `{error: "..."}`, `{detail}`, `{message}`, `{errors: [...]}`. */
export function commonErrorMessage(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  const error = record.error;
  if (typeof error === 'string') return error;
  if (typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string') return (error as { message: string }).message;
  if (typeof record.detail === 'string') return record.detail;
  if (Array.isArray(record.detail)) return record.detail.map((item) => (typeof item === 'object' && item !== null && 'msg' in item ? `${(item as { loc?: unknown[] }).loc?.join('.') ?? ''}: ${String((item as { msg: unknown }).msg)}` : JSON.stringify(item))).join('; ');
  if (typeof record.message === 'string') return record.message;
  if (Array.isArray(record.errors)) return record.errors.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))).join('; ');
  return undefined;
}

export function errorFromResponse({ provider, status, headers, text, url, apiKeyVariable, readError }: { provider: string; status: number; headers: Headers; text: string; url: string; apiKeyVariable?: string; readError?: ErrorReader }): PixelpipeError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const read = readError?.({ status, body, text, headers, url });
  if (read?.error) return read.error;
  const said = read?.message ?? commonErrorMessage(body) ?? (text.trim().slice(0, 300) || 'no details');
  const common = { provider, statusCode: status, url, responseBody: text };
  if (status === 401 || status === 403) {
    const hint = apiKeyVariable ? `; check ${apiKeyVariable}` : '';
    return new AuthenticationError({ ...common, apiKeyVariable, message: `${provider} refused the credentials (HTTP ${status}): ${said}${hint}` });
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(headers);
    return new RateLimitError({ ...common, retryAfterMs, message: `${provider} is rate limiting this key (HTTP 429)${retryAfterMs === undefined ? '' : `, retry after ${Math.ceil(retryAfterMs / 1000)} s`}: ${said}` });
  }
  if (status === 408 || status >= 500) {
    return new ProviderUnavailableError({ ...common, retryAfterMs: parseRetryAfter(headers), message: `${provider} failed (HTTP ${status}): ${said}` });
  }
  const field = read?.field;
  return new InvalidRequestError({ ...common, field, message: `${provider} refused the request (HTTP ${status})${field ? ` at \`${field}\`` : ''}: ${said}` });
}
