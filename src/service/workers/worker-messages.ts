// What the server and its worker processes say to each other over the IPC channel (structured clone: bytes and dates pass as they are).
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import type { GenerateResult, PixelpipeOptions } from '../pixelpipe.js';
import type { GenerationTask } from './generation-runner.js';

/** The serializable part of the generator's options: no fetch, no callbacks. */
export type WorkerPixelpipeOptions = Omit<PixelpipeOptions, 'fetch' | 'onNotice' | 'onDownloadProgress'>;

/** An error as it crosses the channel: what the job keeps of it. */
export interface SerializedError {
  name: string;
  message: string;
  isRetryable?: boolean;
  /** An InvalidArgumentError's field. */
  argument?: string;
}

/** Server → worker. */
export type ToWorker =
  | { type: 'init'; options: WorkerPixelpipeOptions; /** A local model to load and warm up before saying `ready`. */ warm?: string }
  | { type: 'generate'; id: number; task: GenerationTask }
  | { type: 'abort'; id: number; reason: string };

/** Worker → server. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'progress'; id: number; progress: ImageModelProgress }
  | { type: 'done'; id: number; result: GenerateResult; peakRssBytes: number }
  | { type: 'failed'; id: number; error: SerializedError; peakRssBytes: number }
  | { type: 'notice'; message: string };
