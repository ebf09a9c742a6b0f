// One throwaway image per loaded model, so that the first user's image does not pay ONNX Runtime's first-run costs.
import type { LoadedModel } from '../families/model-loader.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { inpaint } from './inpaint.js';
import { textToImage } from './text-to-image.js';

export interface WarmUpReport {
  /** Milliseconds of the whole warm-up. */
  milliseconds: number;
  /** Each session's runs during the warm-up (its first runs), in milliseconds, by session name. */
  runs: Record<string, number[]>;
  width: number;
  height: number;
}

/**
 * Runs the prompt encoder, the denoiser once and the VAE decoder once, at the model's default size
 * and guidance (so the denoiser sees the batch a default call gives it): a session's first run
 * allocates its memory arena and prepares its kernels, which on the full-size SD-Turbo UNet made the
 * first step about twice as slow as the next. An inpainting model warms through inpainting, the only
 * call it serves; its VAE encoder then warms too.
 */
export async function warmUp(model: LoadedModel, size: { width?: number; height?: number } = {}): Promise<WarmUpReport> {
  const started = performance.now();
  const width = size.width ?? model.defaultWidth;
  const height = size.height ?? model.defaultHeight;
  const timer = new StageTimer();
  const { guidance } = model.modelFamily.defaults(model.schedulerConfig);
  const call = { prompt: '', width, height, steps: 1, guidance, sampler: model.modelFamily.samplers[0]!, seed: 0n, timer };
  if (model.unet.inputChannels === model.latentChannels) {
    await textToImage(model, call);
  } else {
    const image = { data: new Uint8Array(width * height * 3).fill(128), width, height };
    await inpaint(model, { ...call, image, mask: new Float32Array(width * height).fill(1), strength: 1 });
  }
  return { milliseconds: performance.now() - started, runs: timer.runs, width, height };
}
