// The provider failed or could not be reached (HTTP 5xx, connection errors); worth retrying.
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.provider-unavailable';
const symbol = Symbol.for(marker);

export class ProviderUnavailableError extends ProviderCallError {
  private readonly [symbol] = true;
  /** How long the provider asked us to wait (503 with Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(options: ProviderCallErrorOptions & { retryAfterMs?: number }) {
    super('ProviderUnavailableError', true, options);
    this.retryAfterMs = options.retryAfterMs;
  }

  static override isInstance(error: unknown): error is ProviderUnavailableError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
