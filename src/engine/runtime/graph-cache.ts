// Optimized graphs kept on disk: a session is built at graph level `all` once per model and machine,
// saved, and later loaded with optimisation off, so every load gets `all`'s speed without its build time.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { arch, cpus, platform } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createWeightHashCache, hashFiles, modelFiles, rememberedHash, type WeightHashCache } from './weight-hash.js';

/** What a load found in the cache: `hit` (loaded the saved graph), `built` (none yet), `rebuilt` (the saved one was damaged). */
export type GraphCacheOutcome = 'hit' | 'built' | 'rebuilt';

const optimizedFile = 'model.onnx';
const weightsFile = 'model.onnx.data';
const entryFile = 'entry.json';
// Bump when the entry's layout changes: older entries are then never matched.
const layoutVersion = 1;

interface Entry {
  layout: number;
  key: CacheKey;
  /** The source graph, for people reading the cache folder. */
  source: string;
  /** Sizes of the saved files: a truncated copy is known without reading it. */
  sizes: Record<string, number>;
  builtAt: string;
}

interface CacheKey {
  /** sha256 of the source graph and its external data. */
  model: string;
  onnxruntime: string;
  executionProvider: string;
  /** sha256 of the CPU's model name and feature flags: `all` lays weights out for this CPU's vector units. */
  cpu: string;
  level: 'all';
}

let cpuKey: string | undefined;

/** What the saved graph depends on besides the model: the architecture, the CPU model and its feature flags. */
export function cpuFingerprint(): string {
  if (cpuKey) return cpuKey;
  let features = '';
  try {
    // /proc/cpuinfo names the instruction-set extensions (avx2, avx512f, amx…) that NCHWc layouts and kernels are chosen for.
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    features = /^(flags|Features)\s*:\s*(.*)$/m.exec(info)?.[2]?.trim() ?? '';
  } catch {
    // Not Linux: the CPU's model name stands for its features.
  }
  const description = `${platform()} ${arch()} ${cpus()[0]?.model ?? 'unknown cpu'} ${features}`;
  return (cpuKey = createHash('sha256').update(description).digest('hex').slice(0, 16));
}

export function onnxRuntimeVersion(): string {
  return (ort.env.versions as { node?: string; common?: string }).node ?? ort.env.versions.common ?? 'unknown';
}

/**
 * A folder of optimized graphs, one entry per (model hash, ONNX Runtime version, execution provider,
 * CPU). ONNX Runtime warns that a graph saved at `all` may only run on the hardware it was optimised
 * for, so all four are in the key; a changed key builds a new entry. A damaged entry (truncated, or one
 * ONNX Runtime cannot load) is removed and built again, never fatal.
 */
export class GraphCache {
  private readonly hashCache: WeightHashCache;

  /**
   * `hashCache` remembers the source models' hashes (the service shares its own); one is kept in
   * `directory` without it. `machine` replaces what the key reads from this machine (tests of a
   * changed runtime or CPU).
   */
  constructor(readonly directory: string, hashCache?: WeightHashCache, private readonly machine: { onnxruntime?: string; cpu?: string } = {}) {
    this.hashCache = hashCache ?? createWeightHashCache(join(directory, 'weight-hashes.json'));
  }

  /**
   * A session for the graph at `path` at level `all`: the saved graph when there is one for this key,
   * else built, saved and returned. On a first load the model files are hashed while ONNX Runtime
   * builds, so the hash costs no time of its own.
   */
  async session(path: string, options: ort.InferenceSession.SessionOptions, executionProvider: string): Promise<{ session: ort.InferenceSession; outcome: GraphCacheOutcome }> {
    const files = modelFiles(path);
    // A remembered hash answers at once; a new model's hash is read while the graph builds.
    const known = await rememberedHash(files, this.hashCache);
    const hashing = known === undefined ? hashFiles(files, this.hashCache) : Promise.resolve(known);
    hashing.catch(() => undefined); // awaited after the build; a failure then is the load's
    let outcome: GraphCacheOutcome = 'built';
    if (known !== undefined) {
      const folder = this.entryFolder(this.key(known, executionProvider));
      if (existsSync(folder)) {
        const session = await this.open(folder, options);
        if (session) return { session, outcome: 'hit' };
        outcome = 'rebuilt';
      }
    }
    return { session: await this.build(path, files, hashing, options, executionProvider), outcome };
  }

  private key(model: string, executionProvider: string): CacheKey {
    return { model, onnxruntime: this.machine.onnxruntime ?? onnxRuntimeVersion(), executionProvider, cpu: this.machine.cpu ?? cpuFingerprint(), level: 'all' };
  }

  private entryFolder(key: CacheKey): string {
    return join(this.directory, createHash('sha256').update(JSON.stringify({ layoutVersion, ...key })).digest('hex').slice(0, 32));
  }

  // The saved graph, or undefined (and the entry removed) when it is incomplete or ONNX Runtime refuses it.
  private async open(folder: string, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession | undefined> {
    try {
      const entry = JSON.parse(await readFile(join(folder, entryFile), 'utf8')) as Entry;
      for (const [file, size] of Object.entries(entry.sizes)) {
        if (statSync(join(folder, file)).size !== size) throw new Error(`${file} is ${statSync(join(folder, file)).size} bytes, expected ${size}`);
      }
      // Optimised already: loading runs no graph transformer again.
      return await ort.InferenceSession.create(join(folder, optimizedFile), { ...options, graphOptimizationLevel: 'disabled' });
    } catch {
      await rm(folder, { recursive: true, force: true });
      return undefined;
    }
  }

  private async build(path: string, files: string[], hashing: Promise<string>, options: ort.InferenceSession.SessionOptions, executionProvider: string): Promise<ort.InferenceSession> {
    const staging = join(this.directory, `.building-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(staging, { recursive: true });
    } catch {
      // A cache folder that cannot be written (read-only, full) costs the saving, not the load.
      return await ort.InferenceSession.create(path, { ...options, graphOptimizationLevel: 'all' });
    }
    try {
      const session = await ort.InferenceSession.create(path, {
        ...options,
        graphOptimizationLevel: 'all',
        optimizedModelFilePath: join(staging, optimizedFile),
        // Weights go to one external file: a saved UNet is over protobuf's 2 GB limit.
        extra: { 'session.optimized_model_external_initializers_file_name': weightsFile, 'session.optimized_model_external_initializers_min_size_in_bytes': '1024' },
        // ONNX Runtime warns that the saved graph is tied to this hardware; the key says so already.
        logSeverityLevel: 3,
      });
      const key = this.key(await hashing, executionProvider);
      const sizes = Object.fromEntries([optimizedFile, weightsFile].filter((file) => existsSync(join(staging, file))).map((file) => [file, statSync(join(staging, file)).size]));
      const entry: Entry = { layout: layoutVersion, key, source: files[0]!, sizes, builtAt: new Date().toISOString() };
      await writeFile(join(staging, entryFile), `${JSON.stringify(entry, null, 1)}\n`);
      // Atomic: a reader sees the whole entry or none. Another process may have saved the same entry
      // meanwhile (the rename then fails on its folder); either copy serves, so ours is dropped.
      await rename(staging, this.entryFolder(key)).catch(() => rm(staging, { recursive: true, force: true }));
      return session;
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
  }
}
