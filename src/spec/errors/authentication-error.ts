// The provider refused the credentials, or none were found; the message names the environment variable to set.
import { PixelpipeError } from './pixelpipe-error.js';
import { ProviderCallError, type ProviderCallErrorOptions } from './provider-call-error.js';

const marker = 'pixelpipe.error.authentication';
const symbol = Symbol.for(marker);

export class AuthenticationError extends ProviderCallError {
  private readonly [symbol] = true;
  /** Environment variable the API key is read from, e.g. `OPENAI_API_KEY`. */
  readonly apiKeyVariable: string | undefined;

  constructor(options: ProviderCallErrorOptions & { apiKeyVariable?: string }) {
    super('AuthenticationError', false, options);
    this.apiKeyVariable = options.apiKeyVariable;
  }

  static override isInstance(error: unknown): error is AuthenticationError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
