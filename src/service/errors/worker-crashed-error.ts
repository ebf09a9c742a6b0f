// The process running a job died under it (killed, out of memory, crashed): the job is retried once, alone, then fails with this.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

const marker = 'pixelpipe.error.worker-crashed';
const symbol = Symbol.for(marker);

export class WorkerCrashedError extends PixelpipeError {
  private readonly [symbol] = true;
  /** Stable code clients see on the failed job: `worker_crashed`. */
  readonly code = 'worker_crashed';
  /** The exit signal of the dead process (`SIGKILL` for the kernel's out-of-memory killer), where known. */
  readonly signal: string | undefined;
  /** Its exit code, where it exited rather than being killed. */
  readonly exitCode: number | undefined;

  constructor({ message, signal, exitCode, cause }: { message: string; signal?: string; exitCode?: number; cause?: unknown }) {
    // Not retryable by the usual rule: the queue decides, allowing one more attempt at most.
    super({ name: 'WorkerCrashedError', message, cause, isRetryable: false });
    this.signal = signal;
    this.exitCode = exitCode;
  }

  static override isInstance(error: unknown): error is WorkerCrashedError {
    return PixelpipeError.hasMarker(error, marker);
  }
}
