// FLUX.1 (FluxPipeline in Optimum's ONNX layout): load, encode prompts and generate as diffusers 0.30.3 does.
import { join, resolve } from 'node:path';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { OnnxModel, type HostTensor, type RunListener, type RuntimeOptions } from '../runtime/onnx-model.js';
import { FlowMatchEulerDiscreteScheduler } from '../schedulers/flow-match-euler-discrete.js';
import type { SchedulerConfig } from '../schedulers/index.js';
import { randn } from '../tensor/torch-random.js';
import { ClipTextEncoder } from '../text-encoders/clip-text-encoder.js';
import { T5TextEncoder } from '../text-encoders/t5-encoder.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { T5Tokenizer } from '../tokenizer/t5-tokenizer.js';
import { checkFiles, checkImageSize, pipelineClassOf, readModelJson, ShiftedVaeDecoder } from './flow-model-parts.js';

const pipelineClass = 'FluxPipeline';
const requiredFiles = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer_2/tokenizer.json',
  'text_encoder/model.onnx',
  'text_encoder_2/model.onnx',
  'transformer/model.onnx',
  'vae_decoder/model.onnx',
  'vae_decoder/config.json',
] as const;

/** FLUX packs each 2×2 block of latent cells into one token of 4·C features. */
const packSize = 2;

/** True when model_index.json names a FluxPipeline. */
export async function isFluxFolder(folder: string): Promise<boolean> {
  return (await pipelineClassOf(resolve(folder))) === pipelineClass;
}

export interface FluxLoadOptions extends RuntimeOptions {
  /** T5 sequence length (the pipeline's `max_sequence_length`); 512 as in diffusers (FLUX.1-schnell uses 256). */
  maxSequenceLength?: number;
}

/** Prompt conditioning for the transformer, one row per prompt. */
export interface FluxPromptEmbeddings {
  /** T5's `last_hidden_state` → `encoder_hidden_states`, [batch, T5 length, width] flattened. */
  hiddenStates: Float32Array;
  /** CLIP's `pooler_output` → `pooled_projections`, [batch, size] flattened. */
  pooled: Float32Array;
  batch: number;
  sequenceLength: number;
  hiddenSize: number;
  pooledSize: number;
}

export interface FluxGenerateOptions {
  prompt: string;
  seed: bigint;
  steps: number;
  /** The distilled guidance the transformer takes as an input (no classifier-free guidance: one call per step); ignored by models without guidance embeddings. */
  guidance: number;
  width: number;
  height: number;
  signal?: AbortSignal;
  onStep?: (step: number, steps: number, packedLatents: Float32Array) => void;
  onRun?: RunListener;
}

export interface FluxOutput {
  /** Interleaved RGB [height, width, 3] in [0, 1]. */
  image: Float32Array;
  width: number;
  height: number;
  /** The initial noise, then the latents after every step, packed [1, h·w/4, 4·C] as diffusers keeps them. */
  latents: Float32Array[];
  /** The scheduler's timesteps (σ·1000); the transformer is given σ = timestep / 1000. */
  timesteps: number[];
}

export class FluxModel {
  private constructor(
    readonly folder: string,
    private readonly tokenizers: { clip: ClipTokenizer; t5: T5Tokenizer },
    private readonly encoders: { clip: OnnxModel; t5: T5TextEncoder },
    private readonly transformer: OnnxModel,
    private readonly vaeDecoder: ShiftedVaeDecoder,
    readonly schedulerConfig: SchedulerConfig,
    private readonly latentChannels: number,
    private readonly sessions: OnnxModel[],
  ) {}

  static async load(modelFolder: string, options: FluxLoadOptions = {}): Promise<FluxModel> {
    const { maxSequenceLength = 512, ...runtime } = options;
    const folder = resolve(modelFolder);
    // The pipeline class first: another family's folder is told so, not listed its "missing" files.
    checkFiles(folder, pipelineClass, ['model_index.json']);
    const index = await readModelJson(folder, 'model_index.json');
    if (index._class_name !== pipelineClass) {
      throw new InvalidModelError({ model: folder, file: 'model_index.json', message: `${join(folder, 'model_index.json')} names ${JSON.stringify(index._class_name)}, not ${pipelineClass}` });
    }
    checkFiles(folder, pipelineClass, requiredFiles);
    const schedulerConfig = (await readModelJson(folder, 'scheduler/scheduler_config.json')) as SchedulerConfig;
    const vae = await ShiftedVaeDecoder.configFrom(folder);
    const load = (component: string) => OnnxModel.load(join(folder, component, 'model.onnx'), component, runtime);
    const [clip, t5, transformer, vaeModel] = await Promise.all([load('text_encoder'), load('text_encoder_2'), load('transformer'), load('vae_decoder')]);
    if (!clip.outputs.has('pooler_output')) {
      throw new InvalidModelError({ model: folder, file: 'text_encoder/model.onnx', message: `${clip.path} has no pooler_output output; FLUX conditions on CLIPTextModel's pooled output` });
    }
    for (const input of ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep', 'txt_ids', 'img_ids']) transformer.input(input);
    return new FluxModel(
      folder,
      { clip: await ClipTokenizer.fromFolder(join(folder, 'tokenizer')), t5: await T5Tokenizer.fromFolder(join(folder, 'tokenizer_2'), { maxLength: maxSequenceLength }) },
      { clip, t5: new T5TextEncoder(t5) },
      transformer,
      new ShiftedVaeDecoder(vaeModel, vae.scalingFactor, vae.shiftFactor, vae.vaeScaleFactor),
      schedulerConfig,
      vae.latentChannels,
      [clip, t5, transformer, vaeModel],
    );
  }

  /** diffusers 0.30.3's `encode_prompt`: CLIP's pooled output and T5's hidden states, one row per prompt. */
  async encodePrompt(prompts: readonly string[], onRun?: RunListener): Promise<FluxPromptEmbeddings> {
    const batch = prompts.length;
    const clipIds = prompts.map((prompt) => this.tokenizers.clip.encode(prompt).ids);
    const clipOutputs = await this.encoders.clip.run({ input_ids: { data: clipIds.flat(), dims: [batch, clipIds[0]!.length] } }, onRun);
    const pooled = clipOutputs.pooler_output!;
    const t5 = await this.encoders.t5.encode(prompts.map((prompt) => this.tokenizers.t5.encode(prompt).ids), onRun);
    return { hiddenStates: t5.hiddenStates, pooled, batch, sequenceLength: t5.sequenceLength, hiddenSize: t5.hiddenSize, pooledSize: pooled.length / batch };
  }

  async generate(options: FluxGenerateOptions): Promise<FluxOutput> {
    const { prompt, seed, steps, guidance, width, height, signal, onStep, onRun } = options;
    const vaeScale = this.vaeDecoder.vaeScaleFactor;
    checkImageSize(width, height, vaeScale * packSize);
    if (!Number.isFinite(guidance)) throw new InvalidArgumentError({ argument: 'guidance', value: guidance, message: `\`guidance\` must be a finite number, got ${guidance}` });

    // Encode prompt: one row, no negative prompt (FLUX.1 is guidance-distilled).
    const conditioning = await this.encodePrompt([prompt], onRun);

    // Prepare latents: torch.randn in the unpacked shape, then packed into 2×2 tokens.
    const shape = { channels: this.latentChannels, height: height / vaeScale, width: width / vaeScale };
    let latents = packLatents(randn([1, shape.channels, shape.height, shape.width], seed), shape);
    const tokens = (shape.height / packSize) * (shape.width / packSize);
    const history = [latents];

    // Denoise: FlowMatch Euler with the shift for this many tokens; the transformer sees σ itself.
    const scheduler = new FlowMatchEulerDiscreteScheduler(this.schedulerConfig);
    scheduler.setTimesteps(steps, { imageSequenceLength: tokens });
    const timesteps = [...scheduler.timesteps];
    const fixedInputs: Record<string, HostTensor> = {
      encoder_hidden_states: { data: conditioning.hiddenStates, dims: [1, conditioning.sequenceLength, conditioning.hiddenSize] },
      pooled_projections: { data: conditioning.pooled, dims: [1, conditioning.pooledSize] },
      // Text tokens sit at position (0, 0, 0); image tokens at (0, row, column) of the packed grid.
      txt_ids: { data: new Array<number>(conditioning.sequenceLength * 3).fill(0), dims: [conditioning.sequenceLength, 3] },
      img_ids: { data: imageIds(shape.height / packSize, shape.width / packSize), dims: [tokens, 3] },
      ...(this.transformer.hasInput('guidance') ? { guidance: { data: new Float32Array([guidance]), dims: [1] } } : {}),
    };
    const unusedNoise = (size: number) => new Float32Array(size);
    for (const [index, timestep] of timesteps.entries()) {
      if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
      const outputs = await this.transformer.run({
        ...fixedInputs,
        hidden_states: { data: latents, dims: [1, tokens, shape.channels * packSize * packSize] },
        // diffusers divides the float32 timestep by 1000 rather than passing sigma.
        timestep: { data: new Float32Array([Math.fround(timestep / 1000)]), dims: [1] },
      }, onRun);
      const velocity = outputs.out_hidden_states ?? Object.values(outputs)[0]!;
      latents = scheduler.step(velocity, timestep, latents, unusedNoise).prevSample;
      history.push(latents);
      onStep?.(index + 1, steps, latents);
    }

    // Decode: unpack, then latents / scaling_factor + shift_factor through the 16-channel VAE.
    if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
    const decoded = await this.vaeDecoder.decode(unpackLatents(latents, shape), shape, onRun);
    return { ...decoded, latents: history, timesteps };
  }

  async release(): Promise<void> {
    await Promise.all(this.sessions.map((session) => session.release()));
  }
}

/** [1, C, h, w] → [1, (h/2)·(w/2), 4C]: diffusers' view(C, h/2, 2, w/2, 2).permute(0, 2, 4, 1, 3, 5). */
export function packLatents(latents: Float32Array, { channels, height, width }: { channels: number; height: number; width: number }): Float32Array {
  const packed = new Float32Array(latents.length);
  const rows = height / packSize;
  const columns = width / packSize;
  let target = 0;
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      for (let channel = 0; channel < channels; channel++) {
        for (let dy = 0; dy < packSize; dy++) {
          for (let dx = 0; dx < packSize; dx++) packed[target++] = latents[(channel * height + row * packSize + dy) * width + column * packSize + dx]!;
        }
      }
    }
  }
  return packed;
}

/** The inverse of packLatents. */
export function unpackLatents(packed: Float32Array, { channels, height, width }: { channels: number; height: number; width: number }): Float32Array {
  const latents = new Float32Array(packed.length);
  const rows = height / packSize;
  const columns = width / packSize;
  let source = 0;
  for (let row = 0; row < rows; row++) {
    for (let column = 0; column < columns; column++) {
      for (let channel = 0; channel < channels; channel++) {
        for (let dy = 0; dy < packSize; dy++) {
          for (let dx = 0; dx < packSize; dx++) latents[(channel * height + row * packSize + dy) * width + column * packSize + dx] = packed[source++]!;
        }
      }
    }
  }
  return latents;
}

/** diffusers' `_prepare_latent_image_ids`: (0, row, column) per packed token, row-major. */
function imageIds(rows: number, columns: number): number[] {
  const ids: number[] = [];
  for (let row = 0; row < rows; row++) for (let column = 0; column < columns; column++) ids.push(0, row, column);
  return ids;
}
