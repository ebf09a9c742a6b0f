// A worker process: runs one generation at a time for the server that forked it, and dies with it.
import { writeFileSync } from 'node:fs';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { createPixelpipe, type Pixelpipe } from '../pixelpipe.js';
import type { FromWorker, SerializedError, ToWorker } from './worker-messages.js';

function send(message: FromWorker): void {
  process.send?.(message);
}

function serialize(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) };
  const { isRetryable, argument } = error as { isRetryable?: unknown; argument?: unknown };
  return { name: error.name, message: error.message, ...(typeof isRetryable === 'boolean' ? { isRetryable } : {}), ...(typeof argument === 'string' ? { argument } : {}) };
}

const peakRssBytes = () => process.resourceUsage().maxRSS * 1024;

// When memory runs out, the kernel should kill this process rather than the server (best effort: Linux only).
try {
  writeFileSync('/proc/self/oom_score_adj', '500');
} catch {
  // Not Linux, or not allowed: the supervisor still notices the death.
}

// The server's death (or its close) ends the channel; a worker has nothing to do without it.
process.on('disconnect', () => process.exit(0));
// Ctrl-C reaches the whole process group, and a service manager may signal it all: the server decides
// when its workers stop (after letting running jobs finish), so they ignore both.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);

let pixelpipe: Pixelpipe | undefined;
const running = new Map<number, AbortController>();

process.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'init': {
      const ready = createPixelpipe({ ...message.options, onNotice: (text) => send({ type: 'notice', message: text }) });
      pixelpipe = ready;
      // Ready once warm: the supervisor gives no job to a process that is still starting.
      const warming = message.warm === undefined ? Promise.resolve() : ready.warm(message.warm).then(() => undefined, (error: unknown) => {
        send({ type: 'notice', message: `warming up ${message.warm} failed (its jobs will say why): ${(error as Error).message}` });
      });
      void warming.then(() => send({ type: 'ready' }));
      return;
    }
    case 'abort':
      running.get(message.id)?.abort(new AbortedError({ message: message.reason }));
      return;
    case 'generate': {
      const { id, task } = message;
      const controller = new AbortController();
      running.set(id, controller);
      void (async () => {
        try {
          if (!pixelpipe) throw new Error('the worker process was asked to generate before it was initialised');
          const result = await pixelpipe.generate({ ...task, abortSignal: controller.signal, onProgress: (progress) => send({ type: 'progress', id, progress }) });
          send({ type: 'done', id, result, peakRssBytes: peakRssBytes() });
        } catch (error) {
          send({ type: 'failed', id, error: serialize(error), peakRssBytes: peakRssBytes() });
        } finally {
          running.delete(id);
        }
      })();
      return;
    }
  }
});
