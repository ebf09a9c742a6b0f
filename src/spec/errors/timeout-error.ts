// The call ran past its overall time limit; the provider's job was cancelled where it has a cancel endpoint.
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.timeout';
const symbol = Symbol.for(marker);

export class TimeoutError extends ProviderCallError {
  private readonly [symbol] = true;
  /** The limit that was exceeded, in milliseconds. */
  readonly timeoutMs: number | undefined;

  constructor(options: ProviderCallErrorOptions & { timeoutMs?: number }) {
    super('TimeoutError', true, options);
    this.timeoutMs = options.timeoutMs;
  }

  static override isInstance(error: unknown): error is TimeoutError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
