// The caller's abort signal fired; the generation stopped at the next step boundary.
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.aborted';
const symbol = Symbol.for(marker);

export class AbortedError extends PixelpipeError {
  private readonly [symbol] = true;

  constructor({ message = 'the generation was aborted by its abort signal', cause }: { message?: string; cause?: unknown } = {}) {
    super({ name: 'AbortedError', message, cause, isRetryable: false });
  }

  static override isInstance(error: unknown): error is AbortedError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
