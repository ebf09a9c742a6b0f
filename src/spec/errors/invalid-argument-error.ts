// A call option or setting has a value that cannot work; the message says which, what and how to fix it.
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.invalid-argument';
const symbol = Symbol.for(marker);

export class InvalidArgumentError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The option's name as the caller spelled it, e.g. `width`. */
  readonly argument: string;
  /** The value that was refused. */
  readonly value: unknown;

  constructor({ argument, value, message, cause }: { argument: string; value: unknown; message: string; cause?: unknown }) {
    super({ name: 'InvalidArgumentError', message, cause, isRetryable: false });
    this.argument = argument;
    this.value = value;
  }

  static override isInstance(error: unknown): error is InvalidArgumentError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
