// One HTTP client for every hosted provider: auth headers, JSON/multipart bodies, typed errors, retries, attempts.
import type { z } from 'zod';
import type { ImageModelAttempt } from '../../spec/image-model-usage.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { ProviderUnavailableError } from '../../spec/errors/provider-unavailable-error.js';
import { errorFromResponse, type ErrorReader } from './http-errors.js';
import { backoffDelay, isRetryable } from './retry.js';

export interface ApiClientConfig {
  /** Provider name, for errors and attempts. */
  provider: string;
  /** Base URL without a trailing slash. */
  baseURL: string;
  /** Headers for authenticated requests, built per request so the API key is read lazily. */
  headers: () => Record<string, string>;
  /** Environment variable of the API key, named by authentication errors. */
  apiKeyVariable?: string;
  fetch?: typeof fetch;
  maxRetries: number;
  retryDelayMs: number;
  sleep: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
  random: () => number;
  /** Reads the provider's own error bodies: content refusals, the field a 400 names, the message. */
  readError?: ErrorReader;
}

/** One `doGenerate` call: its model, its abort/deadline signal and where attempts are recorded. */
export interface CallContext {
  modelId: string;
  signal: AbortSignal;
  attempts: ImageModelAttempt[];
}

export interface ApiRequest<T> {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** A path under the base URL (`/v1/...`) or an absolute URL (polling URLs the provider returned). */
  path: string;
  /** JSON body. */
  json?: unknown;
  /** Multipart body. */
  form?: FormData;
  /** Any other body (form-encoded text, raw image bytes) with its content type. */
  raw?: { body: string | Uint8Array; contentType: string };
  /** Reads this request's error bodies instead of the client's reader (e.g. a token endpoint of another service). */
  readError?: ErrorReader;
  /** The variable an authentication failure of this request names, instead of the client's. */
  apiKeyVariable?: string;
  headers?: Record<string, string>;
  /** Only the fields we read; anything missing or mistyped is an InvalidResponseError. */
  schema: z.ZodType<T>;
  /** Retry on retryable errors (default true). */
  retry?: boolean;
  /** Send the authentication headers (default true; false for signed result URLs). */
  authenticated?: boolean;
}

export interface ApiResponse<T> {
  data: T;
  status: number;
  headers: Headers;
}

export class ApiClient {
  constructor(readonly config: ApiClientConfig) {}

  url(path: string): string {
    return /^https?:\/\//.test(path) ? path : `${this.config.baseURL}${path}`;
  }

  /** Sends a request and parses the JSON answer with `schema`. */
  async request<T>(context: CallContext, request: ApiRequest<T>): Promise<ApiResponse<T>> {
    const { method = request.json === undefined && request.form === undefined && request.raw === undefined ? 'GET' : 'POST', schema } = request;
    const url = this.url(request.path);
    return this.withRetries(context, `${method} ${new URL(url).pathname}`, request.retry ?? true, async () => {
      const response = await this.send(context, url, method, request);
      const text = await response.text();
      if (!response.ok) throw this.failure(response, text, url, request);
      let json: unknown;
      try {
        json = text === '' ? {} : JSON.parse(text);
      } catch (cause) {
        throw new InvalidResponseError({ provider: this.config.provider, statusCode: response.status, url, responseBody: text, cause, message: `${this.config.provider} answered ${method} ${url} with malformed JSON (HTTP ${response.status}): ${text.slice(0, 200)}` });
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new InvalidResponseError({ provider: this.config.provider, statusCode: response.status, url, responseBody: text, cause: parsed.error, message: `${this.config.provider} answered ${method} ${url} without the expected \`${issue.path.join('.')}\` (${issue.message}); the API may have changed` });
      }
      return { data: parsed.data, status: response.status, headers: response.headers };
    });
  }

  /** Downloads bytes (a result image); signed result URLs get no auth header unless asked. */
  async download(context: CallContext, url: string, { authenticated = false, headers }: { authenticated?: boolean; headers?: Record<string, string> } = {}): Promise<{ bytes: Uint8Array; contentType: string | undefined }> {
    return this.withRetries(context, `GET ${new URL(url).pathname}`, true, async () => {
      const response = await this.send(context, url, 'GET', { authenticated, headers });
      if (!response.ok) {
        const text = await response.text();
        if (response.status === 403 || response.status === 404 || response.status === 410) {
          throw new InvalidResponseError({ provider: this.config.provider, statusCode: response.status, url, responseBody: text, message: `${this.config.provider}'s result at ${url} answered HTTP ${response.status}; result URLs are signed and expire, so the result is lost (run the call again)` });
        }
        throw this.failure(response, text, url);
      }
      return { bytes: new Uint8Array(await response.arrayBuffer()), contentType: response.headers.get('content-type') ?? undefined };
    });
  }

  private async send(context: CallContext, url: string, method: string, request: Pick<ApiRequest<unknown>, 'json' | 'form' | 'raw' | 'headers' | 'authenticated'>): Promise<Response> {
    const headers: Record<string, string> = { ...(request.authenticated === false ? {} : this.config.headers()), ...request.headers };
    let body: string | Uint8Array | FormData | undefined;
    if (request.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(request.json);
    } else if (request.form !== undefined) body = request.form;
    else if (request.raw !== undefined) {
      headers['content-type'] = request.raw.contentType;
      body = request.raw.body;
    }
    try {
      return await (this.config.fetch ?? fetch)(url, { method, headers, body, signal: context.signal });
    } catch (cause) {
      if (context.signal.aborted) throw cause;
      throw new ProviderUnavailableError({ provider: this.config.provider, url, cause, message: `${this.config.provider} could not be reached at ${url}: ${(cause as Error)?.cause ?? (cause as Error)?.message ?? cause}` });
    }
  }

  private failure(response: Response, text: string, url: string, request: Pick<ApiRequest<unknown>, 'readError' | 'apiKeyVariable'> = {}): PixelpipeError {
    const { apiKeyVariable = this.config.apiKeyVariable, readError = this.config.readError } = request;
    return errorFromResponse({ provider: this.config.provider, status: response.status, headers: response.headers, text, url, apiKeyVariable, readError });
  }

  /** Runs `attempt` until it succeeds, fails for good, or the retries are spent; records each try. */
  private async withRetries<T>(context: CallContext, label: string, retry: boolean, attempt: () => Promise<T>): Promise<T> {
    for (let retries = 0; ; retries += 1) {
      const started = performance.now();
      const record = (entry: Partial<ImageModelAttempt>) => context.attempts.push({ provider: this.config.provider, modelId: context.modelId, request: label, outcome: 'failed', durationMs: Math.round(performance.now() - started), ...entry });
      try {
        const result = await attempt();
        record({ outcome: 'succeeded', statusCode: (result as { status?: number }).status ?? 200 });
        return result;
      } catch (error) {
        const again = retry && !context.signal.aborted && isRetryable(error) && retries < this.config.maxRetries;
        const retryDelayMs = again ? backoffDelay(retries, error, this.config) : undefined;
        const failure = PixelpipeError.isInstance(error) ? error : undefined;
        record({
          statusCode: (error as { statusCode?: number }).statusCode,
          error: { name: failure?.name ?? (error as Error)?.name ?? 'Error', message: (error as Error)?.message ?? String(error), isRetryable: failure?.isRetryable ?? false },
          retryDelayMs,
        });
        if (retryDelayMs === undefined) throw error;
        await this.config.sleep(retryDelayMs, context.signal);
      }
    }
  }
}
