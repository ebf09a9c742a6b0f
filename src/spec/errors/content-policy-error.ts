// The provider refused the prompt or the result under its content policy; repeating the call will not help.
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.content-policy';
const symbol = Symbol.for(marker);

export class ContentPolicyError extends ProviderCallError {
  private readonly [symbol] = true;

  constructor(options: ProviderCallErrorOptions) {
    super('ContentPolicyError', false, options);
  }

  static override isInstance(error: unknown): error is ContentPolicyError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
