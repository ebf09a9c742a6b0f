// The provider accepted the job and then reported that it failed; the message carries what it said.
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.generation-failed';
const symbol = Symbol.for(marker);

export class GenerationFailedError extends ProviderCallError {
  private readonly [symbol] = true;

  /** Not retryable by default: a job that failed on the provider's side usually fails again with the same input. */
  constructor(options: ProviderCallErrorOptions & { isRetryable?: boolean }) {
    super('GenerationFailedError', options.isRetryable ?? false, options);
  }

  static override isInstance(error: unknown): error is GenerationFailedError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
