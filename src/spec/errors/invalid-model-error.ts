// A model folder or model file cannot be used: missing, partial, corrupt or of an unsupported kind.
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.invalid-model';
const symbol = Symbol.for(marker);

export class InvalidModelError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The model folder, file or id that was refused. */
  readonly model: string;
  /** The file inside the model folder that is missing or broken, when one is to blame. */
  readonly file: string | undefined;

  constructor({ model, file, message, cause }: { model: string; file?: string; message: string; cause?: unknown }) {
    super({ name: 'InvalidModelError', message, cause, isRetryable: false });
    this.model = model;
    this.file = file;
  }

  static override isInstance(error: unknown): error is InvalidModelError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
