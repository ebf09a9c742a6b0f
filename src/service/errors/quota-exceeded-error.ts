// An API key has asked for all the images its daily quota allows; the message says when it resets.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

const marker = 'pixelpipe.error.quota-exceeded';
const symbol = Symbol.for(marker);

export class QuotaExceededError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The key's images per UTC day. */
  readonly quota: number;
  /** Images already asked for today. */
  readonly used: number;
  /** When the quota starts again (the next UTC midnight). */
  readonly resetsAt: Date;

  constructor({ quota, used, requested, resetsAt }: { quota: number; used: number; requested: number; resetsAt: Date }) {
    super({
      name: 'QuotaExceededError',
      message: `this API key's daily quota is ${quota} images and ${used} were asked for today, so ${requested} more would pass it; it resets at ${resetsAt.toISOString()} (ask for fewer images, or raise the key's quota)`,
      isRetryable: false,
    });
    this.quota = quota;
    this.used = used;
    this.resetsAt = resetsAt;
  }

  static override isInstance(error: unknown): error is QuotaExceededError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
