// sha256 of model files, streamed (multi-GB weights), remembered between processes by path, size and mtime.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/**
 * Remembers weight hashes between processes, keyed by path, size and modification time. Hashing a
 * 3.3 GB UNet takes seconds on every start otherwise; `createWeightHashCache` keeps one in a JSON file.
 */
export interface WeightHashCache {
  get(key: string): Promise<string | undefined>;
  set(key: string, hash: string): Promise<void>;
}

/** A JSON file that remembers weight hashes; damaged or absent, it is as if empty (hashes are computed again). */
export function createWeightHashCache(path: string): WeightHashCache {
  const read = async (): Promise<Record<string, string>> => {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    } catch {
      return {}; // absent or damaged: hashes are recomputed, nothing else depends on this file
    }
  };
  // Writes in this process go one at a time, so two hashes learnt together both stay.
  let writing: Promise<void> = Promise.resolve();
  return {
    async get(key) {
      return (await read())[key];
    },
    set(key, hash) {
      const write = async () => {
        const entries = { ...(await read()), [key]: hash };
        await mkdir(dirname(path), { recursive: true });
        const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
        await writeFile(temporary, `${JSON.stringify(entries, null, 1)}\n`);
        await rename(temporary, path); // atomic: concurrent processes never read half a file
      };
      const done = writing.then(write);
      writing = done.catch(() => undefined);
      return done;
    },
  };
}

/** Files that hold a graph's weights beside it: Optimum's `model.onnx_data`, `*.data`, `*.pb`. */
const weightFile = (file: string) => file.endsWith('_data') || file.endsWith('.pb') || file.endsWith('.data');

/** The graph at `path` and the external data files in its folder, sorted: what a model's hash covers. */
export function modelFiles(path: string): string[] {
  const folder = dirname(path);
  return [path, ...readdirSync(folder).filter(weightFile).map((file) => join(folder, file))].sort();
}

/** Every graph and external data file of a folder, sorted (a denoiser folder holds one graph). */
export function folderModelFiles(folder: string): string[] {
  return readdirSync(folder).filter((file) => file.endsWith('.onnx') || weightFile(file)).sort().map((file) => join(folder, file));
}

/** What the remembered hash of `files` is keyed by: each path with its size and modification time. */
function filesFingerprint(files: readonly string[]): string {
  return files.map((file) => { const { size, mtimeMs } = statSync(file); return `${file}:${size}:${mtimeMs}`; }).join('|');
}

// Hashes being computed in this process, by fingerprint: the record's hash and the graph cache's key
// ask for the same UNet at the same time on a first load, and it is read once.
const inFlight = new Map<string, Promise<string>>();

/** The hash of `files` as remembered in `cache`, without reading them; undefined when not remembered. */
export function rememberedHash(files: readonly string[], cache?: WeightHashCache): Promise<string | undefined> {
  return cache ? cache.get(filesFingerprint(files)) : Promise.resolve(undefined);
}

/** sha256 (hex) over `files` in order, found in `cache` when their paths, sizes and mtimes are unchanged. */
export async function hashFiles(files: readonly string[], cache?: WeightHashCache): Promise<string> {
  const key = filesFingerprint(files);
  const cached = await cache?.get(key);
  if (cached) return cached;
  let hashing = inFlight.get(key);
  if (!hashing) {
    hashing = (async () => {
      const hash = createHash('sha256');
      for (const file of files) {
        for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
      }
      return hash.digest('hex');
    })().finally(() => inFlight.delete(key));
    inFlight.set(key, hashing);
  }
  // Every caller's store learns the hash, also one that joined a reading another caller started.
  const digest = await hashing;
  // A store that cannot be written (a read-only cache folder) only means hashing again next time.
  await cache?.set(key, digest).catch(() => undefined);
  return digest;
}
