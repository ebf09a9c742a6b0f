// Factory for local ONNX models: one loaded model (sessions) per folder and runtime setting, reused across calls.
import { resolve } from 'node:path';
import { loadStableDiffusion, type WeightHashCache } from '../../engine/families/stable-diffusion.js';
import type { ExecutionProviderName } from '../../engine/runtime/execution-provider.js';
import { LocalImageModel } from './local-image-model.js';

export interface LocalProviderSettings {
  /** ONNX Runtime execution provider: `cpu` (default) or `cuda`. */
  executionProvider?: ExecutionProviderName;
  /** Intra-op threads; ONNX Runtime's default when omitted. */
  threads?: number;
  /** Remembers UNet hashes between processes (the service keeps one beside the model cache). */
  hashCache?: WeightHashCache;
}

export interface LocalProvider {
  /**
   * The model in `folder` (Optimum ONNX layout). `modelId` is what records call it
   * (a hub id, or the folder's path when the caller gave a path).
   */
  imageModel(modelId: string, options: { folder: string }): LocalImageModel;
  /** Releases every loaded session. */
  close(): Promise<void>;
}

export function createLocal(settings: LocalProviderSettings = {}): LocalProvider {
  const { executionProvider = 'cpu', threads, hashCache } = settings;
  const models = new Map<string, LocalImageModel>();
  return {
    imageModel(modelId, { folder }) {
      const key = `${modelId}\0${resolve(folder)}`;
      let model = models.get(key);
      if (!model) {
        model = new LocalImageModel(modelId, { executionProvider, load: () => loadStableDiffusion(folder, { executionProvider, threads, hashCache }) });
        models.set(key, model);
      }
      return model;
    },
    async close() {
      const loaded = [...models.values()];
      models.clear();
      await Promise.all(loaded.map(async (model) => {
        const sessions = await model.load().then((value) => value.sessions, () => []);
        await Promise.all(sessions.map((session) => session.release()));
      }));
    },
  };
}
