// One loaded CLIP model per folder and runtime options, shared by the rankers that use it and released when the last one closes.
import { resolve } from 'node:path';
import { ClipModel } from '../../engine/clip/clip-model.js';
import type { RuntimeOptions } from '../../engine/runtime/onnx-model.js';

interface CacheEntry {
  model: Promise<ClipModel>;
  users: number;
}

// A CLIP ranker and an aesthetic ranker on the same folder (the usual pairing) load its towers once.
const entries = new Map<string, CacheEntry>();

/** A ranker's hold on a shared CLIP model: loaded on first `get`, its sessions released on `release` when no one else holds it; `get` after `release` loads again. */
export interface ClipModelLease {
  get(): Promise<ClipModel>;
  release(): Promise<void>;
}

export function leaseClipModel(folder: string, runtime: RuntimeOptions = {}): ClipModelLease {
  const key = JSON.stringify([resolve(folder), runtime.executionProvider ?? 'cpu', runtime.threads ?? 0]);
  let entry: CacheEntry | undefined;
  return {
    async get() {
      if (!entry) {
        entry = entries.get(key);
        if (!entry) {
          entry = { model: ClipModel.load(folder, runtime), users: 0 };
          entries.set(key, entry);
        }
        entry.users += 1;
      }
      const held = entry;
      try {
        return await held.model;
      } catch (error) {
        // A failed load is forgotten, so a later call (after the files are fixed) loads again.
        held.users -= 1;
        if (entries.get(key) === held) entries.delete(key);
        if (entry === held) entry = undefined;
        throw error;
      }
    },
    async release() {
      const held = entry;
      if (!held) return;
      entry = undefined;
      held.users -= 1;
      if (held.users > 0) return;
      if (entries.get(key) === held) entries.delete(key);
      const model = await held.model.catch(() => undefined);
      await model?.release();
    },
  };
}
