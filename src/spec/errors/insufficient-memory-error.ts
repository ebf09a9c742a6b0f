// The model could not get the memory a call needs (ONNX Runtime's allocation failed): the size asked for is too large for this machine.
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.insufficient-memory';
const symbol = Symbol.for(marker);

export class InsufficientMemoryError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The part that could not allocate, e.g. `unet`, `vaeDecoder`. */
  readonly part: string;

  /** Not retryable: the same call needs the same memory again. */
  constructor({ part, message, cause }: { part: string; message: string; cause?: unknown }) {
    super({ name: 'InsufficientMemoryError', message, cause, isRetryable: false });
    this.part = part;
  }

  static override isInstance(error: unknown): error is InsufficientMemoryError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
