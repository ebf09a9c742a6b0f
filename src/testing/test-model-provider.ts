// A controllable image model behind the provider registry, for tests of the real service: loaded with `providerModules`, reached as `test-model:ANY`.
// By default every call reports its steps and answers at once with small real PNGs; a test may instead hold calls
// and step, finish or fail each one. The service runs it in the test's own process (`isolation: 'in-process'`),
// so the controller below is shared state; it lives on `globalThis` so that a second copy of this module shares it too.
import { randomInt } from 'node:crypto';
import sharp from 'sharp';
import type { CustomProvider } from '../providers/registry.js';
import { GenerationFailedError } from '../spec/errors/generation-failed-error.js';
import type { ImageModel } from '../spec/image-model.js';
import type { ImageModelCallOptions, ImageModelPreview } from '../spec/image-model-call-options.js';
import type { GeneratedImage, ImageModelResult } from '../spec/image-model-result.js';

/** The provider's prefix in model ids. */
export const testModelProviderName = 'test-model';

/** What `providerModules` takes to load this provider: this module's own URL, so the service and the test share one module. */
export const testModelProviderModule = import.meta.url;

/** Steps each image reports when the call does not ask for a number. */
export const testModelDefaultSteps = 2;

/** One call of the model (one job attempt), as the test sees and steers it. */
export interface TestModelCall {
  /** The model id after `test-model:`. */
  readonly modelId: string;
  /** What the service asked the model for. */
  readonly options: ImageModelCallOptions;
  /** Progress events reported so far; each image has `steps` of them. */
  readonly reported: number;
  /** Steps per image. */
  readonly steps: number;
  /** `running` until finished, failed, or aborted by the service (a cancelled job, a stopping worker). */
  readonly state: 'running' | 'finished' | 'failed' | 'aborted';
  /** Reports the next step (with a preview when the call asked for previews). */
  advance(): void;
  /** Reports the steps left, then answers with the images. */
  finish(): void;
  /** Ends the call with `error`, as a provider's failure would. */
  fail(error: Error): void;
  /** Settles with the final state once the call has ended. */
  readonly ended: Promise<'finished' | 'failed' | 'aborted'>;
}

/** The levers tests pull. */
export interface TestModelController {
  /** Whether calls that start now wait for the test instead of finishing at once. */
  readonly holding: boolean;
  /** Calls that start from now on wait for `advance`, `finish` or `fail` (or an abort). */
  hold(): void;
  /** Every call from now on fails with `error` (a retryable error fails each retry too). */
  failWith(error: Error): void;
  /** The running call whose prompt is `prompt` (any running call when absent), waiting up to `timeoutMs` for it to start. */
  call(prompt?: string, options?: { timeoutMs?: number }): Promise<TestModelCall>;
  /** Every call since the last reset, in the order they started. */
  readonly calls: readonly TestModelCall[];
  /** Back to finishing every call at once; calls still running fail (not retryably) and the record of calls is cleared. */
  reset(): void;
}

interface ControllerState {
  holding: boolean;
  failure: Error | undefined;
  calls: ModelCall[];
  /** Woken whenever a call starts. */
  waiters: Set<() => void>;
}

const stateKey = Symbol.for('pixelpipe.testing.test-model');
const state: ControllerState = ((globalThis as Record<symbol, unknown>)[stateKey] as ControllerState | undefined) ?? { holding: false, failure: undefined, calls: [], waiters: new Set() };
(globalThis as Record<symbol, unknown>)[stateKey] = state;

class ModelCall implements TestModelCall {
  readonly modelId: string;
  readonly options: ImageModelCallOptions;
  readonly steps: number;
  readonly ended: Promise<'finished' | 'failed' | 'aborted'>;
  /** Resolves when the test lets the call answer; rejects when it fails or is aborted. */
  readonly answer: Promise<void>;
  reported = 0;
  state: TestModelCall['state'] = 'running';
  readonly #startedAt = performance.now();
  readonly #preview: ImageModelPreview | undefined;
  #resolve!: () => void;
  #reject!: (error: unknown) => void;
  #ended!: (state: 'finished' | 'failed' | 'aborted') => void;

  constructor(modelId: string, options: ImageModelCallOptions, preview: ImageModelPreview | undefined) {
    this.modelId = modelId;
    this.options = options;
    this.steps = options.steps ?? testModelDefaultSteps;
    this.#preview = preview;
    this.answer = new Promise((resolve, reject) => ((this.#resolve = resolve), (this.#reject = reject)));
    // `doGenerate` awaits it; a call that threw before that (a progress callback that failed) must not leave an unhandled rejection behind.
    this.answer.catch(() => {});
    this.ended = new Promise((resolve) => (this.#ended = resolve));
    const signal = options.abortSignal;
    if (signal?.aborted) this.#end('aborted', signal.reason);
    else signal?.addEventListener('abort', () => this.#end('aborted', signal.reason), { once: true });
  }

  advance(): void {
    this.#checkRunning('advance');
    const total = this.steps * this.options.n;
    if (this.reported >= total) throw new Error(`the test model's call for ${JSON.stringify(this.options.prompt)} has reported all its ${total} steps; finish it instead`);
    const imageIndex = Math.floor(this.reported / this.steps);
    const step = (this.reported % this.steps) + 1;
    this.reported += 1;
    this.options.onProgress?.({ imageIndex, step, steps: this.steps, elapsedMs: Math.round(performance.now() - this.#startedAt), ...(this.#preview && { preview: this.#preview }) });
  }

  finish(): void {
    this.#checkRunning('finish');
    while (this.reported < this.steps * this.options.n) this.advance();
    this.#end('finished');
  }

  fail(error: Error): void {
    this.#checkRunning('fail');
    this.#end('failed', error);
  }

  #checkRunning(what: string): void {
    if (this.state !== 'running') throw new Error(`cannot ${what} the test model's call for ${JSON.stringify(this.options.prompt)}: it has already ${this.state}`);
  }

  #end(ending: 'finished' | 'failed' | 'aborted', error?: unknown): void {
    if (this.state !== 'running') return;
    this.state = ending;
    if (ending === 'finished') this.#resolve();
    else this.#reject(error);
    this.#ended(ending);
  }
}

/** The controller of every test-model call in this process. */
export const testModel: TestModelController = {
  get holding() {
    return state.holding;
  },
  hold() {
    state.holding = true;
  },
  failWith(error) {
    state.failure = error;
  },
  async call(prompt, { timeoutMs = 10_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = state.calls.find((call) => call.state === 'running' && (prompt === undefined || call.options.prompt === prompt));
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        const running = state.calls.filter((call) => call.state === 'running').map((call) => JSON.stringify(call.options.prompt));
        throw new Error(`no call of the test model${prompt === undefined ? '' : ` for ${JSON.stringify(prompt)}`} started within ${timeoutMs} ms (running: ${running.join(', ') || 'none'}); is its job queued behind a held one?`);
      }
      await new Promise<void>((resolve) => {
        const wake = () => (clearTimeout(timer), state.waiters.delete(wake), resolve());
        const timer = setTimeout(wake, left);
        state.waiters.add(wake);
      });
    }
  },
  get calls() {
    return state.calls;
  },
  reset() {
    state.holding = false;
    state.failure = undefined;
    for (const call of state.calls) {
      if (call.state === 'running') call.fail(new GenerationFailedError({ provider: testModelProviderName, message: 'the test ended while this call of the test model was held', isRetryable: false }));
    }
    state.calls = [];
  },
};

/** A small solid PNG whose colour follows the seed, so images of different seeds differ. */
async function solidPng(width: number, height: number, seed: bigint): Promise<Uint8Array> {
  const value = Number(seed % 16_777_216n);
  const background = { r: value & 255, g: (value >> 8) & 255, b: (value >> 16) & 255 };
  return new Uint8Array(await sharp({ create: { width, height, channels: 3, background } }).png().toBuffer());
}

/** The asked size; an edit's is its first image's, as a real model's would be; else 64 × 64. */
async function outputSize(options: ImageModelCallOptions): Promise<{ width: number; height: number }> {
  const input = options.images?.[0];
  const metadata = input === undefined ? undefined : await sharp(input).metadata();
  return { width: options.width ?? metadata?.width ?? 64, height: options.height ?? metadata?.height ?? 64 };
}

class TestImageModel implements ImageModel {
  readonly provider = testModelProviderName;
  readonly modelId: string;
  readonly maxImagesPerCall = undefined;

  constructor(modelId: string) {
    this.modelId = modelId;
  }

  async doGenerate(options: ImageModelCallOptions): Promise<ImageModelResult> {
    const startedAt = performance.now();
    const preview = options.previews ? { bytes: await solidPng(8, 8, 0n), mediaType: 'image/png', width: 8, height: 8, method: 'test' } : undefined;
    const call = new ModelCall(this.modelId, options, preview);
    state.calls.push(call);
    for (const wake of [...state.waiters]) wake();
    // A job cancelled before its generation started gives an aborted call, which answers with the abort.
    if (call.state === 'running' && state.failure) call.fail(state.failure);
    else if (call.state === 'running' && !state.holding) call.finish();
    await call.answer;

    // Each image gets its own seed, seed + index, as real models' do; random when none was asked for.
    const firstSeed = options.seed === undefined ? BigInt(randomInt(2 ** 32)) : BigInt(options.seed);
    const { width, height } = await outputSize(options);
    const operation = options.images ? (options.mask ? 'inpaint' : 'image-to-image') : 'text-to-image';
    const images: GeneratedImage[] = [];
    for (let index = 0; index < options.n; index++) {
      const seed = (firstSeed + BigInt(index)) % 2n ** 64n;
      const settings = { prompt: options.prompt, ...(options.negativePrompt !== undefined && { negativePrompt: options.negativePrompt }), seed: String(seed), steps: call.steps, width, height, operation };
      images.push({ bytes: await solidPng(width, height, seed), mediaType: 'image/png', settings });
    }
    return {
      images,
      warnings: [],
      response: { provider: testModelProviderName, modelId: this.modelId, timestamp: new Date(), timings: { denoise: Math.round(performance.now() - startedAt) } },
    };
  }
}

const provider: CustomProvider = {
  name: testModelProviderName,
  imageModel: (modelId) => new TestImageModel(modelId),
};

export default provider;
