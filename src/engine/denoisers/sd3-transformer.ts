// SD3's MM-DiT transformer as a denoiser: planar 16-channel latents, timestep σ·1000, classifier-free guidance batched.
import type { RunListener } from '../runtime/onnx-model.js';
import { SessionDenoiser, type DenoiserConditioning, type LatentShape } from './denoiser.js';
import { classifierFreeGuidance } from './guidance.js';

export class Sd3TransformerDenoiser extends SessionDenoiser {
  /**
   * The flow velocity for one latent. The conditioning's `added` holds `pooled_projections`; the
   * timestep is the scheduler's (σ·1000), one per batch row, as StableDiffusion3Pipeline expands it.
   */
  async predict(latent: Float32Array, shape: LatentShape, timestep: number, conditioning: DenoiserConditioning, guidanceScale: number, onRun?: RunListener): Promise<Float32Array> {
    const { context, added = {} } = conditioning;
    const batch = context.batch;
    const input = new Float32Array(batch * latent.length);
    for (let row = 0; row < batch; row++) input.set(latent, row * latent.length);
    const outputs = await this.model.run({
      hidden_states: { data: input, dims: [batch, shape.channels, shape.height, shape.width] },
      encoder_hidden_states: { data: context.hiddenStates, dims: [batch, context.sequenceLength, context.hiddenSize] },
      timestep: { data: new Float32Array(batch).fill(timestep), dims: [batch] },
      ...added,
    }, onRun);
    const prediction = outputs.out_hidden_states ?? Object.values(outputs)[0]!;
    if (batch === 1) return prediction;
    return classifierFreeGuidance(prediction.subarray(0, latent.length), prediction.subarray(latent.length), guidanceScale);
  }
}
