// The provider asked us to slow down (HTTP 429); retried after `retryAfterMs` when it says so.
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.rate-limit';
const symbol = Symbol.for(marker);

export class RateLimitError extends ProviderCallError {
  private readonly [symbol] = true;
  /** How long the provider asked us to wait, from Retry-After, when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(options: ProviderCallErrorOptions & { retryAfterMs?: number }) {
    super('RateLimitError', true, options);
    this.retryAfterMs = options.retryAfterMs;
  }

  static override isInstance(error: unknown): error is RateLimitError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
