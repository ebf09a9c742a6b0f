// A ranker gave scores that cannot rank the candidates (too few, too many, not finite numbers).
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

const marker = 'pixelpipe.error.ranker';
const symbol = Symbol.for(marker);

export class RankerError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The ranker's name, e.g. `clip` or a custom ranker's. */
  readonly ranker: string;

  constructor({ ranker, message, cause }: { ranker: string; message: string; cause?: unknown }) {
    super({ name: 'RankerError', message, cause, isRetryable: false });
    this.ranker = ranker;
  }

  static override isInstance(error: unknown): error is RankerError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
