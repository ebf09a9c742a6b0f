// One ONNX Runtime session: created once, inputs cast to the dtypes the model declares, run time measured.
import { existsSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { InsufficientMemoryError } from '../../spec/errors/insufficient-memory-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { checkExecutionProvider, sessionExecutionProviders, type ExecutionProviderName } from './execution-provider.js';
import { float16ArrayToFloat32, float32ToFloat16Array } from './float16.js';
import type { GraphCache, GraphCacheOutcome } from './graph-cache.js';

export interface RuntimeOptions {
  /** `cpu` (default) or `cuda`. */
  executionProvider?: ExecutionProviderName;
  /** Intra-op threads; ONNX Runtime's default (all cores) when omitted. */
  threads?: number;
  /** Where graphs optimised at level `all` are kept; sessions asked for at `all` are built once and then loaded from it. */
  graphCache?: GraphCache;
}

/**
 * Graph optimisation level per model. `all` adds layout transforms (NCHWc): for the full-size SD-Turbo
 * UNet on 2 cores its steps were ~5% faster than at `extended` and its first run half as long, but
 * building it took 17 s against 3.4 s, so sessions at `all` go through a GraphCache, which builds once
 * per machine (`npm run bench -- --only full`; see the README's speed section). onnxruntime-node 1.30.
 */
export type OptimizationLevel = 'basic' | 'extended' | 'all';

/** A tensor on the host before casting: values as numbers, shape as dims. */
export interface HostTensor {
  data: Float32Array | Int32Array | BigInt64Array | number[];
  dims: readonly number[];
}

export interface TensorInfo {
  name: string;
  /** ONNX element type as ONNX Runtime names it: float32, float16, int64, int32, ... */
  type: string;
  /** Dimensions: numbers, or names for symbolic ones. */
  shape: ReadonlyArray<number | string>;
}

/** Receives the wall time of each session.run, so callers can tell engine overhead from model time. */
export type RunListener = (modelName: string, milliseconds: number) => void;

export class OnnxModel {
  static #live = 0;
  /** Sessions of this process created and not yet released: what sequential offload keeps down (tests, memory reports). */
  static get liveSessions(): number {
    return OnnxModel.#live;
  }

  #released = false;

  private constructor(
    /** Short name for timings and errors, e.g. `unet`. */
    readonly name: string,
    readonly path: string,
    private readonly session: ort.InferenceSession,
    readonly inputs: ReadonlyMap<string, TensorInfo>,
    readonly outputs: ReadonlyMap<string, TensorInfo>,
    /** Whether the session came from the graph cache (`hit`) or was built and saved to it; undefined when not cached. */
    readonly graphCacheOutcome?: GraphCacheOutcome,
  ) {
    OnnxModel.#live++;
  }

  static async load(path: string, name: string, options: RuntimeOptions = {}, optimizationLevel: OptimizationLevel = 'extended'): Promise<OnnxModel> {
    const { executionProvider = 'cpu' } = options;
    const model = basename(dirname(dirname(path)));
    if (!existsSync(path)) throw new InvalidModelError({ model, file: path, message: `${path} is missing: the model folder has no ${name} model` });
    checkExecutionProvider(executionProvider);
    let session: ort.InferenceSession;
    let outcome: GraphCacheOutcome | undefined;
    try {
      if (options.graphCache && optimizationLevel === 'all') {
        ({ session, outcome } = await options.graphCache.session(path, sessionOptions(options, optimizationLevel), executionProvider));
      } else {
        session = await ort.InferenceSession.create(path, sessionOptions(options, optimizationLevel));
      }
    } catch (error) {
      throw new InvalidModelError({
        model,
        file: path,
        message: `${path} could not be loaded by ONNX Runtime (corrupt, truncated or not an ONNX model; external data files must sit beside it): ${(error as Error).message}`,
        cause: error,
      });
    }
    return new OnnxModel(name, path, session, describe(session.inputMetadata), describe(session.outputMetadata), outcome);
  }

  /**
   * A model built in memory (e.g. converted from another format, or with LoRAs merged); `label` stands
   * for the path in errors. `externalData`: the external data files the graph names, also in memory.
   */
  static async fromBytes(bytes: Uint8Array, name: string, label: string, options: RuntimeOptions = {}, optimizationLevel: OptimizationLevel = 'extended', externalData: ReadonlyArray<{ path: string; data: Uint8Array }> = []): Promise<OnnxModel> {
    checkExecutionProvider(options.executionProvider ?? 'cpu');
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { ...sessionOptions(options, optimizationLevel), ...(externalData.length > 0 ? { externalData } : {}) });
    } catch (error) {
      throw new InvalidModelError({ model: label, file: label, message: `${label} could not be loaded by ONNX Runtime: ${(error as Error).message}`, cause: error });
    }
    return new OnnxModel(name, label, session, describe(session.inputMetadata), describe(session.outputMetadata));
  }

  hasInput(name: string): boolean {
    return this.inputs.has(name);
  }

  input(name: string): TensorInfo {
    const info = this.inputs.get(name);
    if (!info) throw new InvalidModelError({ model: this.path, file: this.path, message: `${this.path} has no input named "${name}" (inputs: ${[...this.inputs.keys()].join(', ')})` });
    return info;
  }

  /** Runs the model; every output comes back as float32 whatever the model's precision. */
  async run(feeds: Record<string, HostTensor>, onRun?: RunListener): Promise<Record<string, Float32Array & { dims?: readonly number[] }>> {
    const tensors: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) tensors[name] = castTensor(tensor, this.input(name).type);
    const started = performance.now();
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(tensors);
    } catch (error) {
      throw allocationFailure(error, this.name, feeds) ?? error;
    }
    onRun?.(this.name, performance.now() - started);
    const outputs: Record<string, Float32Array & { dims?: readonly number[] }> = {};
    for (const [name, tensor] of Object.entries(results)) {
      const values = toFloat32(tensor);
      outputs[name] = Object.assign(values, { dims: tensor.dims });
    }
    return outputs;
  }

  async release(): Promise<void> {
    if (this.#released) return;
    this.#released = true;
    OnnxModel.#live--;
    await this.session.release();
  }
}

function sessionOptions({ executionProvider = 'cpu', threads }: RuntimeOptions, optimizationLevel: OptimizationLevel): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: sessionExecutionProviders(executionProvider),
    graphOptimizationLevel: optimizationLevel,
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  };
}

function describe(metadata: readonly ort.InferenceSession.ValueMetadata[]): Map<string, TensorInfo> {
  return new Map(metadata.map((entry) => [entry.name, { name: entry.name, type: entry.isTensor ? entry.type : 'non-tensor', shape: entry.isTensor ? entry.shape : [] }]));
}

// ONNX Runtime reports an arena or allocator failure as a plain error with a C++ message; it means the call is too large for this machine.
function allocationFailure(error: unknown, part: string, feeds: Record<string, HostTensor>): InsufficientMemoryError | undefined {
  const message = (error as Error | undefined)?.message ?? String(error);
  if (!/Failed to allocate memory|bad_alloc|Allocation failed|out of memory|Tried to allocate/i.test(message)) return undefined;
  const shapes = Object.entries(feeds).map(([name, tensor]) => `${name} [${tensor.dims.join(', ')}]`).join(', ');
  return new InsufficientMemoryError({
    part,
    message: `ONNX Runtime could not allocate the memory the ${part} needs for inputs ${shapes}: the image is too large for this machine's memory; ask for a smaller width and height (${message.split('\n')[0]!.slice(0, 200)})`,
    cause: error,
  });
}

function castTensor({ data, dims }: HostTensor, type: string): ort.Tensor {
  const shape = [...dims];
  switch (type) {
    case 'float32':
      return new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>, Number), shape);
    case 'float16':
      return new ort.Tensor('float16', float32ToFloat16Array(Array.isArray(data) ? data : Array.from(data as ArrayLike<number | bigint>, Number)), shape);
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(data as ArrayLike<number>, Number), shape);
    case 'int64':
      return new ort.Tensor('int64', data instanceof BigInt64Array ? data : BigInt64Array.from(Array.from(data as ArrayLike<number>, (value) => BigInt(Math.round(Number(value))))), shape);
    case 'int32':
      return new ort.Tensor('int32', data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>, (value) => Math.round(Number(value))), shape);
    default:
      throw new Error(`input dtype ${type} is not supported`);
  }
}

function toFloat32(tensor: ort.Tensor): Float32Array {
  switch (tensor.type) {
    case 'float32':
      return tensor.data as Float32Array;
    case 'float16':
      return float16ArrayToFloat32(tensor.data as Uint16Array);
    default:
      return Float32Array.from(tensor.data as ArrayLike<number>, Number);
  }
}
