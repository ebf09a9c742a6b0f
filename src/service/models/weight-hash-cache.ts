// A JSON file beside the model cache that remembers weight hashes by path, size and mtime.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { WeightHashCache } from '../../engine/families/model-loader.js';

export function createWeightHashCache(path: string): WeightHashCache {
  const read = async (): Promise<Record<string, string>> => {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    } catch {
      return {}; // absent or damaged: hashes are recomputed, nothing else depends on this file
    }
  };
  return {
    async get(key) {
      return (await read())[key];
    },
    async set(key, hash) {
      const entries = { ...(await read()), [key]: hash };
      await mkdir(dirname(path), { recursive: true });
      const temporary = `${path}.${process.pid}.tmp`;
      await writeFile(temporary, `${JSON.stringify(entries, null, 1)}\n`);
      await rename(temporary, path); // atomic: concurrent processes never read half a file
    },
  };
}
