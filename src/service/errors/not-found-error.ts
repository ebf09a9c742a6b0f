// A job, record, blob or key that does not exist (or belongs to another API key, which looks the same from outside).
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

const marker = 'pixelpipe.error.not-found';
const symbol = Symbol.for(marker);

export class NotFoundError extends PixelpipeError {
  private readonly [symbol] = true;
  /** What was looked for: `job`, `record`, `blob`, `key`, `model`. */
  readonly resource: string;
  /** The id or key asked for. */
  readonly id: string;

  /** `message`: what to do instead, where there is something; default `no RESOURCE "ID" exists`. */
  constructor({ resource, id, message }: { resource: string; id: string; message?: string }) {
    super({ name: 'NotFoundError', message: message ?? `no ${resource} ${JSON.stringify(id)} exists`, isRetryable: false });
    this.resource = resource;
    this.id = id;
  }

  static override isInstance(error: unknown): error is NotFoundError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
