// Base of the errors a hosted provider's API can cause; carries where the call went and what came back.
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.provider-call';
const symbol = Symbol.for(marker);

export interface ProviderCallErrorOptions {
  /** Human-readable message naming what failed and the fix. */
  message: string;
  /** Provider name, e.g. `openai`. */
  provider: string;
  /** HTTP status, when the provider answered. */
  statusCode?: number;
  /** The URL that failed (without credentials). */
  url?: string;
  /** The response body as text (cut to 2,000 characters), when there was one. */
  responseBody?: string;
  /** The underlying error. */
  cause?: unknown;
}

export class ProviderCallError extends PixelpipeError {
  private readonly [symbol] = true;
  /** Provider name, e.g. `openai`. */
  readonly provider: string;
  /** HTTP status, when the provider answered. */
  readonly statusCode: number | undefined;
  /** The URL that failed. */
  readonly url: string | undefined;
  /** The response body as text, cut to 2,000 characters. */
  readonly responseBody: string | undefined;

  constructor(name: string, isRetryable: boolean, { message, provider, statusCode, url, responseBody, cause }: ProviderCallErrorOptions) {
    super({ name, message, cause, isRetryable });
    this.provider = provider;
    this.statusCode = statusCode;
    this.url = url;
    this.responseBody = responseBody?.slice(0, 2000);
  }

  static override isInstance(error: unknown): error is ProviderCallError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
