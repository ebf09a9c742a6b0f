// The SD/SDXL UNet as a noise predictor, with classifier-free guidance batched into one session run.
import { summedResiduals, type ResidualLayout } from '../controlnet/control-conditioning.js';
import type { HostTensor, OnnxModel, RunListener } from '../runtime/onnx-model.js';
import type { Denoiser, DenoiserConditioning, LatentShape } from './denoiser.js';

export type { LatentShape } from './denoiser.js';

/** The UNet's conditioning is the generic one; the name stays for existing importers. */
export type UNetConditioning = DenoiserConditioning;

export class UNetDenoiser implements Denoiser {
  /** Whether the timestep input is a scalar (current Optimum) or one value per batch row (Optimum ≤ 1.23). */
  private readonly timestepIsScalar: boolean;
  /** Input channels of `sample`: 4 for ordinary UNets, 9 for inpainting ones. */
  readonly inputChannels: number;

  /** Zero residuals per latent size, for a UNet with residual inputs run without a ControlNet (or outside every control's window). */
  private readonly zeroResiduals = new Map<string, Record<string, HostTensor>>();

  constructor(
    private readonly model: OnnxModel,
    inputChannels: number,
    /** The residual inputs of a UNet exported for ControlNets; undefined for an ordinary UNet. */
    readonly residuals?: ResidualLayout,
  ) {
    this.timestepIsScalar = model.input('timestep').shape.length === 0;
    this.inputChannels = inputChannels;
  }

  /** Whether the UNet takes an input of this name (e.g. SDXL's `time_ids`). */
  hasInput(name: string): boolean {
    return this.model.hasInput(name);
  }

  /**
   * Predicts the model output (ε or v) for one latent. When the context holds two rows
   * ([unconditional, conditional], diffusers' order) the latent is duplicated and guidance applied:
   * uncond + scale·(cond − uncond), each operation rounded to float32 as torch does.
   */
  async predict(latent: Float32Array, shape: LatentShape, timestep: number, conditioning: UNetConditioning, guidanceScale: number, onRun?: RunListener): Promise<Float32Array> {
    const { context, added = {}, concat } = conditioning;
    const batch = context.batch;
    const size = latent.length;
    const rowSize = size + (concat?.data.length ?? 0);
    let sample = latent;
    if (batch > 1 || concat) {
      sample = new Float32Array(rowSize * batch);
      for (let row = 0; row < batch; row++) {
        sample.set(latent, row * rowSize);
        if (concat) sample.set(concat.data, row * rowSize + size);
      }
    }
    const channels = shape.channels + (concat?.channels ?? 0);
    const sampleDims = [batch, channels, shape.height, shape.width];
    const residuals = await this.residualFeeds(sample, sampleDims, shape, timestep, conditioning, onRun);
    const outputs = await this.model.run(
      {
        sample: { data: sample, dims: sampleDims },
        timestep: this.timestepIsScalar ? { data: [timestep], dims: [] } : { data: new Array<number>(batch).fill(timestep), dims: [batch] },
        encoder_hidden_states: { data: context.hiddenStates, dims: [batch, context.sequenceLength, context.hiddenSize] },
        ...added,
        ...residuals,
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

  /**
   * The residual inputs: the summed ControlNet residuals, run on the same batch and timestep as the UNet
   * (diffusers without guess mode), or zeros. An ordinary UNet takes none (a control given to it is refused before the run).
   */
  private async residualFeeds(sample: Float32Array, sampleDims: number[], shape: LatentShape, timestep: number, conditioning: UNetConditioning, onRun?: RunListener): Promise<Record<string, HostTensor>> {
    if (!this.residuals) return {};
    const { context, controls = [] } = conditioning;
    const summed = controls.length > 0 ? await summedResiduals(controls, sample, sampleDims, timestep, context, onRun) : undefined;
    if (summed) return Object.fromEntries(summed);
    const key = `${context.batch}:${shape.height}:${shape.width}`;
    let zeros = this.zeroResiduals.get(key);
    if (!zeros) {
      zeros = {};
      for (const name of this.residuals.names) {
        const [channels, height, width] = this.residuals.shape(name, shape.height, shape.width);
        zeros[name] = { data: new Float32Array(context.batch * channels * height * width), dims: [context.batch, channels, height, width] };
      }
      this.zeroResiduals.set(key, zeros);
    }
    return zeros;
  }
}
