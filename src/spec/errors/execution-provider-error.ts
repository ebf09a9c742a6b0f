// The requested ONNX Runtime execution provider (e.g. CUDA) cannot run on this machine.
import { PixelpipeError } from './pixelpipe-error.js';

const marker = 'pixelpipe.error.execution-provider';
const symbol = Symbol.for(marker);

export class ExecutionProviderError extends PixelpipeError {
  private readonly [symbol] = true;
  /** The execution provider that was asked for, e.g. `cuda`. */
  readonly executionProvider: string;

  constructor({ executionProvider, message, cause }: { executionProvider: string; message: string; cause?: unknown }) {
    super({ name: 'ExecutionProviderError', message, cause, isRetryable: false });
    this.executionProvider = executionProvider;
  }

  static override isInstance(error: unknown): error is ExecutionProviderError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
