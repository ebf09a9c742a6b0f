// Every candidate of a routing model failed; the attempts say what each one answered.
import type { ImageModelAttempt } from '../image-model-usage.js';
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.router-exhausted';
const symbol = Symbol.for(marker);

export class RouterExhaustedError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The router's name. */
  readonly router: string;
  /** One entry per candidate tried, in order. */
  readonly attempts: ImageModelAttempt[];

  /** Retryable when the last candidate's failure was. */
  constructor({ router, attempts, message, cause }: { router: string; attempts: ImageModelAttempt[]; message: string; cause: unknown }) {
    super({ name: 'RouterExhaustedError', message, cause, isRetryable: PixelpipeError.isInstance(cause) && cause.isRetryable });
    this.router = router;
    this.attempts = attempts;
  }

  static override isInstance(error: unknown): error is RouterExhaustedError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
