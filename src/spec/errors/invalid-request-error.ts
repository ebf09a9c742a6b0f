// The provider refused the request as malformed (HTTP 400/404/422); names the field when the provider does.
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.invalid-request';
const symbol = Symbol.for(marker);

export class InvalidRequestError extends ProviderCallError {
  private readonly [symbol] = true;
  /** The request field the provider objected to, when it named one. */
  readonly field: string | undefined;

  constructor(options: ProviderCallErrorOptions & { field?: string }) {
    super('InvalidRequestError', false, options);
    this.field = options.field;
  }

  static override isInstance(error: unknown): error is InvalidRequestError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
