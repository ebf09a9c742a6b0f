// The provider answered in a shape we cannot read (malformed JSON, missing fields, a result that could not be fetched).
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.invalid-response';
const symbol = Symbol.for(marker);

export class InvalidResponseError extends ProviderCallError {
  private readonly [symbol] = true;

  constructor(options: ProviderCallErrorOptions) {
    super('InvalidResponseError', false, options);
  }

  static override isInstance(error: unknown): error is InvalidResponseError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
