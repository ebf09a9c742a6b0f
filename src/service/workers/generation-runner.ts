// Where a job's generation runs: in this process, or in a supervised worker process whose death cannot take the server down.
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import type { GenerateOptions, GenerateResult, Pixelpipe } from '../pixelpipe.js';

/** One generation as a job asks for it: everything but the signal and the progress callback, all of it serializable. */
export type GenerationTask = Omit<GenerateOptions, 'abortSignal' | 'onProgress' | 'images' | 'mask'> & {
  /** Input images, as bytes. */
  images?: Uint8Array[];
  mask?: Uint8Array;
};

/** What a running generation is told and tells back. */
export interface GenerationCall {
  signal: AbortSignal;
  onProgress?: (progress: ImageModelProgress) => void;
}

/** One worker process as the supervisor sees it. */
export interface WorkerProcessStatus {
  /** Its slot, 0-based; a restarted process keeps its slot. */
  slot: number;
  /** The process id, while one runs. */
  pid?: number;
  /** `starting`, `idle`, `busy`, `restarting` (waiting out its backoff after a crash) or `stopped`. */
  state: 'starting' | 'idle' | 'busy' | 'restarting' | 'stopped';
  /** Times this slot's process was started again after dying. */
  restarts: number;
  /** How the last process of this slot ended, when one died. */
  lastExit?: string;
}

/** What `status` reports, for /readyz and /metrics. */
export interface RunnerStatus {
  /** `process`: each generation runs in a supervised child process; `in-process`: in the server's own. */
  isolation: 'process' | 'in-process';
  processes: WorkerProcessStatus[];
  /** Worker processes that died while running a job or idle, since start. */
  crashes: number;
}

/** Runs generations for the job handler. */
export interface GenerationRunner {
  generate(task: GenerationTask, call: GenerationCall): Promise<GenerateResult>;
  status(): RunnerStatus;
  close(): Promise<void>;
}

/** Runs generations on a `Pixelpipe` in this process: a crash here is the server's crash (library use, tests with injected fetch). */
export function createInProcessRunner(pixelpipe: Pixelpipe): GenerationRunner {
  return {
    generate: (task, { signal, onProgress }) => pixelpipe.generate({ ...task, abortSignal: signal, onProgress }),
    status: () => ({ isolation: 'in-process', processes: [], crashes: 0 }),
    close: () => pixelpipe.close(),
  };
}
