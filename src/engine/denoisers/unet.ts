// The SD UNet as a noise predictor, with classifier-free guidance batched into one session run.
import type { OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { TextEmbeddings } from '../text-encoders/clip-text-encoder.js';

export interface LatentShape {
  channels: number;
  height: number;
  width: number;
}

export class UNetDenoiser {
  /** Whether the timestep input is a scalar (current Optimum) or one value per batch row (Optimum ≤ 1.23). */
  private readonly timestepIsScalar: boolean;

  constructor(private readonly model: OnnxModel) {
    this.timestepIsScalar = model.input('timestep').shape.length === 0;
  }

  /**
   * Predicts the model output (ε or v) for one latent. When `context` holds two rows
   * ([unconditional, conditional], diffusers' order) the latent is duplicated and guidance applied:
   * uncond + scale·(cond − uncond), each operation rounded to float32 as torch does.
   */
  async predict(latent: Float32Array, shape: LatentShape, timestep: number, context: TextEmbeddings, guidanceScale: number, onRun?: RunListener): Promise<Float32Array> {
    const batch = context.batch;
    const size = latent.length;
    let sample = latent;
    if (batch === 2) {
      sample = new Float32Array(size * 2);
      sample.set(latent, 0);
      sample.set(latent, size);
    }
    const outputs = await this.model.run(
      {
        sample: { data: sample, dims: [batch, shape.channels, shape.height, shape.width] },
        timestep: this.timestepIsScalar ? { data: [timestep], dims: [] } : { data: new Array<number>(batch).fill(timestep), dims: [batch] },
        encoder_hidden_states: { data: context.hiddenStates, dims: [batch, context.sequenceLength, context.hiddenSize] },
      },
      onRun,
    );
    const prediction = outputs.out_sample ?? Object.values(outputs)[0]!;
    if (batch === 1) return prediction;
    const guided = new Float32Array(size);
    const scale = Math.fround(guidanceScale);
    for (let i = 0; i < size; i++) {
      const unconditional = prediction[i]!;
      const difference = Math.fround(prediction[size + i]! - unconditional);
      guided[i] = unconditional + Math.fround(scale * difference);
    }
    return guided;
  }
}
