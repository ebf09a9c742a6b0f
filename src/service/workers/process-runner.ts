// Supervised worker processes: each runs one generation at a time; one that dies fails its job as a crash and is started again with backoff.
import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { WorkerCrashedError } from '../errors/worker-crashed-error.js';
import type { GenerateResult } from '../pixelpipe.js';
import type { GenerationCall, GenerationRunner, GenerationTask, RunnerStatus, WorkerProcessStatus } from './generation-runner.js';
import type { FromWorker, SerializedError, ToWorker, WorkerPixelpipeOptions } from './worker-messages.js';

/** Settings of the worker processes. */
export interface ProcessRunnerConfig {
  /** Worker processes, each running one generation at a time. */
  size: number;
  /** What each process makes its generator with. */
  options: WorkerPixelpipeOptions;
  /** A local model each process loads and warms up before it takes jobs (see `Pixelpipe.warm`). */
  warm?: string;
  /** Extra environment for the processes (on top of this process's). */
  environment?: NodeJS.ProcessEnv;
  /** Wait before the first restart after a death, in ms; doubled for each death in a row, up to `maxRestartDelayMs`. Default 500. */
  restartDelayMs?: number;
  /** Longest wait before a restart, in ms. Default 30 000. */
  maxRestartDelayMs?: number;
  /** A process that lived this long before dying starts again after the shortest delay, in ms. Default 60 000. */
  healthyAfterMs?: number;
  /** How long an aborted generation may take to stop before its process is killed (and restarted), in ms. Default 10 000. */
  abortGraceMs?: number;
  /** Told about deaths and restarts. */
  onEvent?: (message: string) => void;
}

interface Pending {
  id: number;
  resolve: (result: GenerateResult) => void;
  reject: (error: unknown) => void;
  onProgress?: GenerationCall['onProgress'];
}

interface Slot {
  status: WorkerProcessStatus;
  child?: ChildProcess;
  pending?: Pending;
  startedAt: number;
  deathsInARow: number;
  /** The end of what the process wrote to stderr: a V8 heap exhaustion or a native abort says why it died. */
  stderrTail: string;
  restartTimer?: NodeJS.Timeout;
}

// The entry file sits beside this one, compiled (.js) or run from source (.ts, under tsx in tests).
const entry = fileURLToPath(new URL(`./generation-process${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

// Flags a worker must not inherit: the test runner's, and a debugger port only one process can hold.
const inheritedExecArgv = () => process.execArgv.filter((argument) => !/^--(test|inspect|watch)/.test(argument));

function describeExit(code: number | null, signal: NodeJS.Signals | null, stderrTail: string): string {
  const oom = /heap out of memory|bad_alloc|Failed to allocate|out of memory/i.test(stderrTail);
  if (signal === 'SIGKILL') return 'was killed with SIGKILL (most often the kernel\'s out-of-memory killer: the job needed more memory than the machine had)';
  if (signal) return `was killed with ${signal}${oom ? ' after running out of memory' : ''}`;
  return `exited with code ${code}${oom ? ' after running out of memory' : ''}`;
}

function revive(error: SerializedError): Error {
  return Object.assign(new Error(error.message), { name: error.name, ...(error.isRetryable === undefined ? {} : { isRetryable: error.isRetryable }), ...(error.argument === undefined ? {} : { argument: error.argument }) });
}

/** A pool of `size` supervised worker processes. */
export class ProcessRunner implements GenerationRunner {
  readonly #config: Required<Omit<ProcessRunnerConfig, 'environment' | 'onEvent' | 'warm'>> & Pick<ProcessRunnerConfig, 'environment' | 'onEvent' | 'warm'>;
  readonly #slots: Slot[];
  readonly #waiting: ((slot: Slot) => void)[] = [];
  #nextId = 1;
  #crashes = 0;
  #closed = false;

  constructor({ restartDelayMs = 500, maxRestartDelayMs = 30_000, healthyAfterMs = 60_000, abortGraceMs = 10_000, ...config }: ProcessRunnerConfig) {
    this.#config = { restartDelayMs, maxRestartDelayMs, healthyAfterMs, abortGraceMs, ...config };
    this.#slots = Array.from({ length: config.size }, (_, index) => ({ status: { slot: index, state: 'starting', restarts: 0 }, startedAt: 0, deathsInARow: 0, stderrTail: '' }));
    for (const slot of this.#slots) this.#spawn(slot);
  }

  #spawn(slot: Slot): void {
    slot.stderrTail = '';
    slot.startedAt = Date.now();
    slot.status.state = 'starting';
    const child = fork(entry, [], {
      execArgv: inheritedExecArgv(),
      env: { ...process.env, ...this.#config.environment },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    slot.child = child;
    slot.status.pid = child.pid;
    child.stderr!.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      slot.stderrTail = (slot.stderrTail + chunk.toString()).slice(-4000);
    });
    child.on('message', (message: FromWorker) => this.#onMessage(slot, message));
    // A failed send means the process is going away; its exit settles what it ran.
    child.on('error', (error) => this.#config.onEvent?.(`worker process ${child.pid}: ${error.message}`));
    child.once('exit', (code, signal) => this.#onExit(slot, child, code, signal));
    this.#send(child, { type: 'init', options: this.#config.options, ...(this.#config.warm === undefined ? {} : { warm: this.#config.warm }) });
  }

  #send(child: ChildProcess, message: ToWorker): void {
    if (child.connected) child.send(message, (error) => error && this.#config.onEvent?.(`worker process ${child.pid}: ${error.message}`));
  }

  #onMessage(slot: Slot, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        this.#release(slot);
        return;
      case 'notice':
        this.#config.onEvent?.(message.message);
        return;
      case 'progress':
        if (slot.pending?.id === message.id) slot.pending.onProgress?.(message.progress);
        return;
      case 'done':
      case 'failed': {
        const pending = slot.pending;
        if (pending?.id !== message.id) return;
        slot.pending = undefined;
        slot.deathsInARow = 0;
        if (message.type === 'done') pending.resolve(message.result);
        else pending.reject(revive(message.error));
        this.#release(slot);
      }
    }
  }

  // Hands an idle process to the next waiting generation, or marks it idle. A process is marked
  // busy the moment it is handed over, so two generations never get the same one.
  #release(slot: Slot): void {
    if (this.#closed) return;
    const next = this.#waiting.shift();
    slot.status.state = next ? 'busy' : 'idle';
    next?.(slot);
  }

  #onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    slot.child = undefined;
    slot.status.pid = undefined;
    const how = describeExit(code, signal, slot.stderrTail);
    const pending = slot.pending;
    slot.pending = undefined;
    if (this.#closed) {
      slot.status.state = 'stopped';
      pending?.reject(new AbortedError({ message: 'the worker processes were stopped' }));
      return;
    }
    this.#crashes += 1;
    slot.status.lastExit = how;
    pending?.reject(new WorkerCrashedError({ message: `the worker process (pid ${child.pid}) running this job ${how}`, signal: signal ?? undefined, exitCode: code ?? undefined }));
    // Dying soon after the last death backs off further; a long healthy life starts the count again.
    slot.deathsInARow = Date.now() - slot.startedAt > this.#config.healthyAfterMs ? 1 : slot.deathsInARow + 1;
    const delay = Math.min(this.#config.maxRestartDelayMs, this.#config.restartDelayMs * 2 ** (slot.deathsInARow - 1));
    slot.status.state = 'restarting';
    this.#config.onEvent?.(`worker process ${child.pid} ${how}${pending ? ' while running a job' : ''}; starting another in ${(delay / 1000).toFixed(1)} s`);
    slot.restartTimer = setTimeout(() => {
      slot.status.restarts += 1;
      this.#spawn(slot);
    }, delay);
    slot.restartTimer.unref();
  }

  #acquire(signal: AbortSignal): Promise<Slot> {
    const idle = this.#slots.find((slot) => slot.status.state === 'idle');
    if (idle) {
      idle.status.state = 'busy';
      return Promise.resolve(idle);
    }
    return new Promise((resolve, reject) => {
      const take = (slot: Slot) => {
        signal.removeEventListener('abort', onAbort);
        resolve(slot);
      };
      const onAbort = () => {
        const index = this.#waiting.indexOf(take);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(signal.reason ?? new AbortedError({ message: 'stopped waiting for a worker process' }));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(take);
    });
  }

  async generate(task: GenerationTask, { signal, onProgress }: GenerationCall): Promise<GenerateResult> {
    if (this.#closed) throw new AbortedError({ message: 'the worker processes were stopped' });
    signal.throwIfAborted();
    const slot = await this.#acquire(signal);
    const child = slot.child!;
    const id = this.#nextId++;
    return await new Promise<GenerateResult>((resolve, reject) => {
      slot.pending = { id, resolve, reject, onProgress };
      const onAbort = () => {
        this.#send(child, { type: 'abort', id, reason: String((signal.reason as Error | undefined)?.message ?? 'aborted') });
        // A generation that ignores the abort (stuck in a native call) costs its process, not the slot.
        const timer = setTimeout(() => slot.pending?.id === id && child.kill('SIGKILL'), this.#config.abortGraceMs);
        timer.unref();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const settle = () => signal.removeEventListener('abort', onAbort);
      slot.pending.resolve = (result) => (settle(), resolve(result));
      slot.pending.reject = (error) => (settle(), reject(error));
      this.#send(child, { type: 'generate', id, task });
    });
  }

  status(): RunnerStatus {
    return { isolation: 'process', processes: this.#slots.map((slot) => ({ ...slot.status })), crashes: this.#crashes };
  }

  /** Stops the processes (closing their channel, which ends them, then SIGKILL after 5 s); what they run is rejected as aborted. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(
      this.#slots.map(async (slot) => {
        clearTimeout(slot.restartTimer);
        const child = slot.child;
        if (!child || child.exitCode !== null || child.signalCode !== null) {
          slot.status.state = 'stopped';
          return;
        }
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        if (child.connected) child.disconnect();
        else child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}
