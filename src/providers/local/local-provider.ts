// Factory for local ONNX models: one loaded model (sessions) per folder and runtime setting, reused across calls.
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { hashUnet, loadModel, type WeightHashCache } from '../../engine/families/model-loader.js';
import type { VaeTiling } from '../../engine/vae/vae-tiling.js';
import type { ExecutionProviderName } from '../../engine/runtime/execution-provider.js';
import { PreviewDecoder } from '../../engine/preview/preview-decoder.js';
import { readMemoryProfile } from '../../engine/families/memory-estimate.js';
import { LoraWeights } from '../../engine/lora/lora-weights.js';
import { ControlNetModel, midResidualInput } from '../../engine/controlnet/controlnet-model.js';
import { readOnnxInputNames } from '../../engine/runtime/onnx-reader.js';
import { GraphCache } from '../../engine/runtime/graph-cache.js';
import { LocalImageModel } from './local-image-model.js';
import { fastDecoderLoader } from './local-fast-decoder.js';

// Reads a model's configs once; a failed read is tried again next time (the folder may be repaired).
function lazily<Value>(read: () => Promise<Value>): () => Promise<Value> {
  let reading: Promise<Value> | undefined;
  return () => (reading ??= read().catch((error: unknown) => {
    reading = undefined;
    throw error;
  }));
}

export interface LocalProviderSettings {
  /** ONNX Runtime execution provider: `cpu` (default) or `cuda`. */
  executionProvider?: ExecutionProviderName;
  /** Intra-op threads; ONNX Runtime's default when omitted. */
  threads?: number;
  /** Remembers UNet hashes between processes (the service keeps one beside the model cache). */
  hashCache?: WeightHashCache;
  /** A folder where graphs optimised at level `all` are kept (see GraphCache); without it the text encoder and UNet load at `extended`. */
  graphCache?: string;
  /** Load the text encoders for each prompt encoding and release them before the denoiser runs (see LoadOptions). */
  offloadTextEncoders?: boolean;
  /** Largest input image or mask accepted for editing, in pixels (default 4096 × 4096). */
  maxInputPixels?: number;
  /** Path of a tiny latent decoder (ONNX, SD 1.x/2.x latents) for step previews; a linear projection without it. */
  previewDecoder?: string;
  /** Path of the small decoder (ONNX, SD 1.x/2.x latents) that calls with `decoder: 'fast'` decode with; `previewDecoder` when absent. */
  fastDecoder?: string;
  /** When the VAE works in tiles (default: tiles of the VAE config's sample_size above 1024 × 1024 pixels, as diffusers' `enable_vae_tiling()`); `false` never tiles. */
  vaeTiling?: Partial<VaeTiling> | false;
  /** Largest estimated peak memory of one call, in bytes; larger calls are refused before anything loads. No limit when absent. */
  memoryBudgetBytes?: number;
  /**
   * LoRA'd variants of models kept loaded at once (default 2); the least recently used beyond that is
   * released. Each holds its own UNet and text encoder sessions, and every folder with LoRAs keeps its
   * base UNet and text encoder bytes in memory besides, so a new LoRA set never rereads them from disk.
   */
  maxLoraVariants?: number;
}

export interface LocalProvider {
  /**
   * The model in `folder` (Optimum ONNX layout). `modelId` is what records call it: a hub id, or
   * the folder's name (records travel with the images, so they should not hold a server's paths).
   */
  imageModel(modelId: string, options: { folder: string; vaeDecoderFallback?: string; loras?: ReadonlyArray<{ path: string; scale: number }> }): LocalImageModel;
  /** `sha256:<hex>` of the model's UNet files in `folder`, as its records name the weights, without loading it (remembered in `hashCache`). */
  weightHash(folder: string): Promise<string>;
  /** Releases every loaded session. */
  close(): Promise<void>;
}

/** Size, modification time and inode: what tells a replaced file from the one merged before, without reading it. */
function fileIdentity(path: string): string {
  try {
    const { size, mtimeMs, ino } = statSync(path);
    return `${size}:${mtimeMs}:${ino}`;
  } catch {
    return 'missing';
  }
}

export function createLocal(settings: LocalProviderSettings = {}): LocalProvider {
  const { executionProvider = 'cpu', threads, hashCache, graphCache: graphCacheFolder, offloadTextEncoders = false, maxInputPixels, previewDecoder: previewDecoderPath, vaeTiling, memoryBudgetBytes, maxLoraVariants = 2 } = settings;
  const models = new Map<string, LocalImageModel>();
  const graphCache = graphCacheFolder === undefined ? undefined : new GraphCache(graphCacheFolder, hashCache);
  // Keys of LoRA'd models, least recently used first; and each folder's base weights for merging.
  const loraVariants: string[] = [];
  const loraWeights = new Map<string, LoraWeights>();
  // ControlNets by resolved path, shared by every model and call: loaded once, released on close.
  const controlNets = new Map<string, Promise<ControlNetModel>>();
  const loadControlNet = (path: string): Promise<ControlNetModel> => {
    const key = resolve(path);
    let net = controlNets.get(key);
    if (!net) {
      net = ControlNetModel.load(key, { executionProvider, threads, ...(graphCache ? { graphCache } : {}) });
      net.catch(() => controlNets.delete(key));
      controlNets.set(key, net);
    }
    return net;
  };
  // One preview decoder for every model, loaded when previews are first asked for.
  let previewDecoder: Promise<PreviewDecoder> | undefined;
  const loadPreviewDecoder = previewDecoderPath === undefined ? undefined : () => (previewDecoder ??= PreviewDecoder.load(previewDecoderPath, { executionProvider, threads }));
  // The fast decoder, without a file of its own the previews' one: one session when both name the same file.
  const fastDecoderPath = settings.fastDecoder ?? previewDecoderPath;
  const fastDecoder = fastDecoderPath === undefined ? undefined : fastDecoderLoader(fastDecoderPath, { path: previewDecoderPath, load: loadPreviewDecoder }, { executionProvider, threads });
  return {
    imageModel(modelId, { folder, vaeDecoderFallback, loras = [] }) {
      // A LoRA file replaced under the same name (a retrained LoRA) is another variant, not the cached merge.
      const loraKey = loras.map((lora) => `${resolve(lora.path)}:${fileIdentity(lora.path)}:${lora.scale}`).join('|');
      const key = `${modelId}\0${resolve(folder)}\0${vaeDecoderFallback ?? ''}\0${loraKey}`;
      let model = models.get(key);
      if (loras.length > 0) {
        const position = loraVariants.indexOf(key);
        if (position >= 0) loraVariants.splice(position, 1);
        loraVariants.push(key);
        while (loraVariants.length > maxLoraVariants) {
          const evicted = loraVariants.shift()!;
          const released = models.get(evicted);
          models.delete(evicted);
          void released?.release();
        }
      }
      if (!model) {
        let weights: LoraWeights | undefined;
        if (loras.length > 0) {
          weights = loraWeights.get(resolve(folder)) ?? new LoraWeights(resolve(folder));
          loraWeights.set(resolve(folder), weights);
        }
        model = new LocalImageModel(modelId, {
          executionProvider,
          maxInputPixels,
          previewDecoder: loadPreviewDecoder,
          fastDecoder: fastDecoder?.load,
          loadControlNet,
          load: () => loadModel(folder, { executionProvider, threads, hashCache, graphCache, offloadTextEncoders, vaeDecoderFallback, vaeTiling, ...(weights ? { loras, loraWeights: weights } : {}) }),
          profile: lazily(() => readMemoryProfile(folder, vaeTiling)),
          // Whether the UNet was exported with ControlNet residual inputs, read from its graph's inputs alone.
          takesControls: lazily(async () => existsSync(join(folder, 'unet', 'model.onnx')) && readOnnxInputNames(join(folder, 'unet', 'model.onnx')).includes(midResidualInput)),
          memoryBudgetBytes,
        });
        models.set(key, model);
      }
      return model;
    },
    weightHash: async (folder) => `sha256:${await hashUnet(folder, hashCache)}`,
    async close() {
      const loaded = [...models.values()];
      models.clear();
      const decoder = previewDecoder;
      previewDecoder = undefined;
      await decoder?.then((value) => value.release(), () => undefined);
      await fastDecoder?.release();
      const nets = [...controlNets.values()];
      controlNets.clear();
      await Promise.all([...loaded.map((model) => model.release()), ...nets.map((net) => net.then((value) => value.release(), () => undefined))]);
    },
  };
}
