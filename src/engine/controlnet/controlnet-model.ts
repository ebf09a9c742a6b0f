// A ControlNet in ONNX (`controlnet/model.onnx`): one run gives the residuals a UNet with residual inputs adds to its skip connections.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { controlNetPath, hashControlNet } from './controlnet-path.js';
import { OnnxModel, type RunListener, type RuntimeOptions } from '../runtime/onnx-model.js';
import type { TextEmbeddings } from '../text-encoders/clip-text-encoder.js';

/** The residuals of one ControlNet run (or their sum over several), keyed by the UNet input each one feeds. */
export type ControlResiduals = Map<string, { data: Float32Array; dims: readonly number[] }>;

/** The UNet's name for down-block residual `index`, and for the mid-block one. */
export const downResidualInput = (index: number): string => `down_block_${index}`;
export const midResidualInput = 'mid_block_additional_residual';

export class ControlNetModel {
  private constructor(
    private readonly model: OnnxModel,
    /** The `model.onnx` path. */
    readonly path: string,
    /** Its `config.json` beside the graph (diffusers' ControlNetModel config); empty when absent. */
    readonly config: Record<string, unknown>,
    /** sha256 (hex) of the graph and its external data: what records name the ControlNet by. */
    readonly sha256: string,
    /** Down-block residuals it returns (`down_block_res_samples_0..count−1`). */
    readonly downCount: number,
  ) {}

  /** A name for records and messages: the folder holding `controlnet/`, or the file's own folder. */
  get name(): string {
    const folder = dirname(this.path);
    return basename(folder) === 'controlnet' ? basename(dirname(folder)) : basename(folder);
  }

  /** Loads and checks the graph's inputs and outputs (see docs/controlnet.md). */
  static async load(location: string, runtime: RuntimeOptions = {}): Promise<ControlNetModel> {
    const path = controlNetPath(location);
    // Like the UNet it runs beside at every step: at level `all` when a graph cache keeps the build.
    const model = await OnnxModel.load(path, 'controlnet', runtime, runtime.graphCache ? 'all' : 'extended');
    const required = ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond', 'conditioning_scale'];
    const missing = required.filter((name) => !model.hasInput(name));
    const downCount = [...model.outputs.keys()].filter((name) => /^down_block_res_samples_\d+$/.test(name)).length;
    if (missing.length > 0 || downCount === 0 || !model.outputs.has('mid_block_res_sample')) {
      await model.release();
      throw new InvalidModelError({
        model: location,
        file: path,
        message: `${path} is not a ControlNet export pixelpipe reads: it needs inputs ${required.join(', ')} (missing: ${missing.join(', ') || 'none'}) and outputs down_block_res_samples_0..N and mid_block_res_sample`,
      });
    }
    const configPath = join(dirname(path), 'config.json');
    let config: Record<string, unknown> = {};
    if (existsSync(configPath)) {
      try {
        config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
      } catch (error) {
        throw new InvalidModelError({ model: location, file: configPath, message: `${configPath} is not valid JSON: ${(error as Error).message}`, cause: error });
      }
    }
    return new ControlNetModel(model, path, config, await hashControlNet(path), downCount);
  }

  /** The base model family it was trained for, from its config: SDXL ControlNets add SDXL's text-time embedding. */
  get baseFamily(): 'SD 1.x/2.x' | 'SDXL' {
    return this.config.addition_embed_type === 'text_time' ? 'SDXL' : 'SD 1.x/2.x';
  }

  /** Its cross-attention width (768 for SD 1.x, 1024 for SD 2.x), when its config states it. */
  get crossAttentionDim(): number | undefined {
    return typeof this.config.cross_attention_dim === 'number' ? this.config.cross_attention_dim : undefined;
  }

  /**
   * One run on the same batch the UNet sees (diffusers without guess mode: both CFG halves, with the
   * control image in every row). `image` is [3, H, W] in [0, 1]; the residuals come back already scaled.
   */
  async residuals(sample: Float32Array, sampleDims: readonly number[], timestep: number, context: TextEmbeddings, image: { data: Float32Array; width: number; height: number }, scale: number, onRun?: RunListener): Promise<ControlResiduals> {
    const batch = context.batch;
    const condition = new Float32Array(image.data.length * batch);
    for (let row = 0; row < batch; row++) condition.set(image.data, row * image.data.length);
    const timestepIsScalar = this.model.input('timestep').shape.length === 0;
    const scaleIsScalar = this.model.input('conditioning_scale').shape.length === 0;
    const outputs = await this.model.run(
      {
        sample: { data: sample, dims: sampleDims },
        timestep: timestepIsScalar ? { data: [timestep], dims: [] } : { data: new Array<number>(batch).fill(timestep), dims: [batch] },
        encoder_hidden_states: { data: context.hiddenStates, dims: [batch, context.sequenceLength, context.hiddenSize] },
        controlnet_cond: { data: condition, dims: [batch, 3, image.height, image.width] },
        conditioning_scale: { data: [scale], dims: scaleIsScalar ? [] : [1] },
      },
      onRun,
    );
    const residuals: ControlResiduals = new Map();
    for (let index = 0; index < this.downCount; index++) {
      const output = outputs[`down_block_res_samples_${index}`]!;
      residuals.set(downResidualInput(index), { data: output, dims: output.dims ?? [] });
    }
    const mid = outputs.mid_block_res_sample!;
    residuals.set(midResidualInput, { data: mid, dims: mid.dims ?? [] });
    return residuals;
  }

  async release(): Promise<void> {
    await this.model.release();
  }
}

/** sha256 over the graph and the external data files beside it that belong to it. */
