// A webhook attempt that did not get a 2xx: which URL, what came back, and whether another attempt may do better.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

const marker = 'pixelpipe.error.webhook-delivery';
const symbol = Symbol.for(marker);

export class WebhookDeliveryError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The destination. */
  readonly url: string;
  /** The status the receiver answered with; undefined when no answer came (network error, timeout). */
  readonly statusCode: number | undefined;

  constructor({ message, url, statusCode, isRetryable, cause }: { message: string; url: string; statusCode?: number; isRetryable: boolean; cause?: unknown }) {
    super({ name: 'WebhookDeliveryError', message, cause, isRetryable });
    this.url = url;
    this.statusCode = statusCode;
  }

  static override isInstance(error: unknown): error is WebhookDeliveryError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
