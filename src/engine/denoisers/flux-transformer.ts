// FLUX.1's transformer as a denoiser: it packs the planar latent into 2×2 tokens and back, takes σ and the guidance as inputs.
import type { RunListener } from '../runtime/onnx-model.js';
import { SessionDenoiser, type DenoiserConditioning, type LatentShape } from './denoiser.js';
import { packLatents, packSize, unpackLatents } from './latent-packing.js';

/**
 * Pipelines keep FLUX latents planar [1, C, h, w] like every other family's: the scheduler's step is
 * elementwise, so stepping planar latents gives the same numbers as stepping packed ones, and previews and
 * the VAE read them as they are. Only the transformer sees the packed layout, whose `in_channels` is 4×
 * the latent's.
 */
export class FluxTransformerDenoiser extends SessionDenoiser {
  /**
   * The flow velocity for one latent. `added` holds `pooled_projections`, `txt_ids` and `img_ids`; there
   * is no classifier-free guidance: FLUX.1-dev takes `guidanceScale` as its `guidance` input, and
   * transformers without that input (FLUX.1-schnell) ignore it.
   */
  async predict(latent: Float32Array, shape: LatentShape, timestep: number, conditioning: DenoiserConditioning, guidanceScale: number, onRun?: RunListener): Promise<Float32Array> {
    const { context, added = {} } = conditioning;
    const tokens = (shape.height / packSize) * (shape.width / packSize);
    const outputs = await this.model.run({
      ...added,
      hidden_states: { data: packLatents(latent, shape), dims: [1, tokens, shape.channels * packSize * packSize] },
      encoder_hidden_states: { data: context.hiddenStates, dims: [1, context.sequenceLength, context.hiddenSize] },
      // diffusers divides the float32 timestep by 1000 rather than passing sigma.
      timestep: { data: new Float32Array([Math.fround(timestep / 1000)]), dims: [1] },
      ...(this.model.hasInput('guidance') ? { guidance: { data: new Float32Array([guidanceScale]), dims: [1] } } : {}),
    }, onRun);
    return unpackLatents(outputs.out_hidden_states ?? Object.values(outputs)[0]!, shape);
  }
}
