// What a pipeline asks of a denoiser (the SD/SDXL UNet, SD3's and FLUX.1's transformers): one guided prediction per step.
import type { HostTensor, OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { TextEmbeddings } from '../text-encoders/clip-text-encoder.js';
import type { ControlInput } from '../controlnet/control-conditioning.js';

export interface LatentShape {
  channels: number;
  height: number;
  width: number;
}

/** Everything besides the latent that the denoiser is conditioned on; the model family builds it. */
export interface DenoiserConditioning {
  /** Cross-attention context: [negative, positive] rows with guidance, [positive] without. */
  context: TextEmbeddings;
  /** Further named inputs (SDXL's `text_embeds` and `time_ids`; SD3's and FLUX's `pooled_projections`; FLUX's `txt_ids`, `img_ids`). */
  added?: Record<string, HostTensor>;
  /** Channels appended to the scaled latent in every batch row (inpainting UNets: mask, then masked-image latents). */
  concat?: { data: Float32Array; channels: number };
  /**
   * ControlNets to run at this step (the denoise loop keeps only those whose guidance window holds it);
   * their residuals are summed into a UNet exported with residual inputs. Such a UNet gets zeros without any.
   */
  controls?: readonly ControlInput[];
}

export interface Denoiser {
  /** Channels the model takes: the latent's, or more for inpainting models (mask and masked-image latents). */
  readonly inputChannels: number;
  /** Whether the model takes an input of this name (e.g. SDXL's `time_ids`). */
  hasInput(name: string): boolean;
  /**
   * The model output for one latent, in the model's parameterisation (see parameterisation.ts), with
   * classifier-free guidance applied where the conditioning holds [unconditional, conditional] rows.
   */
  predict(latent: Float32Array, shape: LatentShape, timestep: number, conditioning: DenoiserConditioning, guidanceScale: number, onRun?: RunListener): Promise<Float32Array>;
}

/** A denoiser that is one ONNX session (SD3's and FLUX's transformers): the session and the latent channels it takes. */
export abstract class SessionDenoiser implements Denoiser {
  constructor(
    protected readonly model: OnnxModel,
    /** The latent's channels, as the family's latent format has them. */
    readonly inputChannels: number,
  ) {}

  hasInput(name: string): boolean {
    return this.model.hasInput(name);
  }

  abstract predict(latent: Float32Array, shape: LatentShape, timestep: number, conditioning: DenoiserConditioning, guidanceScale: number, onRun?: RunListener): Promise<Float32Array>;
}
