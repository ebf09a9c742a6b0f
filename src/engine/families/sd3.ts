// Stable Diffusion 3 (StableDiffusion3Pipeline in Optimum's ONNX layout): load, encode prompts and generate as diffusers 0.29.2 does.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { OnnxModel, type RunListener, type RuntimeOptions } from '../runtime/onnx-model.js';
import { FlowMatchEulerDiscreteScheduler } from '../schedulers/flow-match-euler-discrete.js';
import type { SchedulerConfig } from '../schedulers/index.js';
import { randn } from '../tensor/torch-random.js';
import { ClipTextEncoder } from '../text-encoders/clip-text-encoder.js';
import { T5TextEncoder } from '../text-encoders/t5-encoder.js';
import { ClipTokenizer } from '../tokenizer/clip-tokenizer.js';
import { T5Tokenizer } from '../tokenizer/t5-tokenizer.js';
import { checkFiles, checkImageSize, classifierFreeGuidance, configNumber, pipelineClassOf, readModelJson, ShiftedVaeDecoder } from './flow-model-parts.js';

const pipelineClass = 'StableDiffusion3Pipeline';
const requiredFiles = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer_2/vocab.json',
  'tokenizer_2/merges.txt',
  'text_encoder/model.onnx',
  'text_encoder_2/model.onnx',
  'transformer/model.onnx',
  'transformer/config.json',
  'vae_decoder/model.onnx',
  'vae_decoder/config.json',
] as const;

/** True when model_index.json names a StableDiffusion3Pipeline. */
export async function isSd3Folder(folder: string): Promise<boolean> {
  return (await pipelineClassOf(resolve(folder))) === pipelineClass;
}

export interface Sd3LoadOptions extends RuntimeOptions {
  /** T5 sequence length (the pipeline's `max_sequence_length`); 256 as in diffusers. */
  maxSequenceLength?: number;
}

/** Prompt conditioning for the transformer, rows ordered [negative, positive] when guided, as diffusers concatenates them. */
export interface Sd3PromptEmbeddings {
  /** `encoder_hidden_states`, [batch, 77 + T5 length, joint width] flattened. */
  hiddenStates: Float32Array;
  /** `pooled_projections`, [batch, CLIP-L + CLIP-G projection] flattened. */
  pooled: Float32Array;
  batch: number;
  sequenceLength: number;
  hiddenSize: number;
  pooledSize: number;
}

export interface Sd3GenerateOptions {
  prompt: string;
  /** Used when guidance > 1; `''` when omitted, as diffusers does. */
  negativePrompt?: string;
  seed: bigint;
  steps: number;
  /** Classifier-free guidance scale; at 1 or below the negative prompt is not run (diffusers' `do_classifier_free_guidance`). */
  guidance: number;
  width: number;
  height: number;
  signal?: AbortSignal;
  onStep?: (step: number, steps: number, latents: Float32Array) => void;
  onRun?: RunListener;
}

export interface Sd3Output {
  /** Interleaved RGB [height, width, 3] in [0, 1]. */
  image: Float32Array;
  width: number;
  height: number;
  /** The initial noise, then the latents after every step ([1, 16, h, w] each). */
  latents: Float32Array[];
  /** The timesteps the transformer was given (σ·1000). */
  timesteps: number[];
}

export class Sd3Model {
  private constructor(
    readonly folder: string,
    private readonly tokenizers: { clipL: ClipTokenizer; clipG: ClipTokenizer; t5?: T5Tokenizer },
    private readonly encoders: { clipL: ClipTextEncoder; clipG: ClipTextEncoder; t5?: T5TextEncoder },
    private readonly transformer: OnnxModel,
    private readonly vaeDecoder: ShiftedVaeDecoder,
    readonly schedulerConfig: SchedulerConfig,
    private readonly geometry: { latentChannels: number; patchSize: number; positionEmbeddingMaxSize?: number; jointAttentionDim: number; maxSequenceLength: number },
    private readonly sessions: OnnxModel[],
  ) {}

  static async load(modelFolder: string, options: Sd3LoadOptions = {}): Promise<Sd3Model> {
    const { maxSequenceLength = 256, ...runtime } = options;
    const folder = resolve(modelFolder);
    // The pipeline class first: another family's folder is told so, not listed its "missing" files.
    checkFiles(folder, pipelineClass, ['model_index.json']);
    const index = await readModelJson(folder, 'model_index.json');
    if (index._class_name !== pipelineClass) {
      throw new InvalidModelError({ model: folder, file: 'model_index.json', message: `${join(folder, 'model_index.json')} names ${JSON.stringify(index._class_name)}, not ${pipelineClass}` });
    }
    checkFiles(folder, pipelineClass, requiredFiles);
    // SD3 runs without its T5 encoder (diffusers: text_encoder_3=None), so the pair is optional, but not half of it.
    const hasT5Encoder = existsSync(join(folder, 'text_encoder_3', 'model.onnx'));
    const hasT5Tokenizer = existsSync(join(folder, 'tokenizer_3', 'tokenizer.json'));
    if (hasT5Encoder !== hasT5Tokenizer) {
      throw new InvalidModelError({
        model: folder,
        file: hasT5Encoder ? 'tokenizer_3/tokenizer.json' : 'text_encoder_3/model.onnx',
        message: `${folder} has ${hasT5Encoder ? 'text_encoder_3 but no tokenizer_3/tokenizer.json' : 'tokenizer_3 but no text_encoder_3/model.onnx'}; give both or neither`,
      });
    }
    const schedulerConfig = (await readModelJson(folder, 'scheduler/scheduler_config.json')) as SchedulerConfig;
    const transformerConfig = await readModelJson(folder, 'transformer/config.json');
    const transformerConfigPath = join(folder, 'transformer/config.json');
    const vae = await ShiftedVaeDecoder.configFrom(folder);

    const load = (component: string) => OnnxModel.load(join(folder, component, 'model.onnx'), component, runtime);
    const [clipLModel, clipGModel, t5Model, transformer, vaeModel] = await Promise.all([
      load('text_encoder'), load('text_encoder_2'), hasT5Encoder ? load('text_encoder_3') : undefined, load('transformer'), load('vae_decoder'),
    ]);
    const sessions = [clipLModel, clipGModel, transformer, vaeModel, ...(t5Model ? [t5Model] : [])];
    const positionEmbeddingMaxSize = transformerConfig.pos_embed_max_size;
    return new Sd3Model(
      folder,
      {
        clipL: await ClipTokenizer.fromFolder(join(folder, 'tokenizer')),
        clipG: await ClipTokenizer.fromFolder(join(folder, 'tokenizer_2')),
        t5: hasT5Tokenizer ? await T5Tokenizer.fromFolder(join(folder, 'tokenizer_3'), { maxLength: maxSequenceLength }) : undefined,
      },
      { clipL: new ClipTextEncoder(clipLModel), clipG: new ClipTextEncoder(clipGModel), t5: t5Model ? new T5TextEncoder(t5Model) : undefined },
      transformer,
      new ShiftedVaeDecoder(vaeModel, vae.scalingFactor, vae.shiftFactor, vae.vaeScaleFactor),
      schedulerConfig,
      {
        latentChannels: vae.latentChannels,
        patchSize: configNumber(transformerConfig, 'patch_size', 2, transformerConfigPath),
        positionEmbeddingMaxSize: typeof positionEmbeddingMaxSize === 'number' ? positionEmbeddingMaxSize : undefined,
        jointAttentionDim: configNumber(transformerConfig, 'joint_attention_dim', undefined, transformerConfigPath),
        maxSequenceLength,
      },
      sessions,
    );
  }

  /**
   * diffusers 0.29.2's `encode_prompt` for the given prompts (one row each): both CLIPs' penultimate
   * hidden states side by side, zero-padded to T5's width, then T5's output along the sequence
   * (zeros [77, joint_attention_dim] without text_encoder_3); pooled = both CLIPs' `text_embeds`.
   */
  async encodePrompt(prompts: readonly string[], onRun?: RunListener): Promise<Sd3PromptEmbeddings> {
    const batch = prompts.length;
    const clipL = await this.encoders.clipL.encodePenultimate(prompts.map((prompt) => this.tokenizers.clipL.encode(prompt).ids), onRun);
    const clipG = await this.encoders.clipG.encodePenultimate(prompts.map((prompt) => this.tokenizers.clipG.encode(prompt).ids), onRun);
    if (!clipL.pooled || !clipG.pooled) {
      throw new InvalidModelError({ model: this.folder, message: `${this.folder}: both CLIP text encoders must have a text_embeds output (CLIPTextModelWithProjection)` });
    }
    const t5 = this.encoders.t5 && this.tokenizers.t5
      ? await this.encoders.t5.encode(prompts.map((prompt) => this.tokenizers.t5!.encode(prompt).ids), onRun)
      // diffusers 0.29.2 sizes the stand-in by the CLIP tokenizer's length, not max_sequence_length.
      : { hiddenStates: new Float32Array(batch * this.tokenizers.clipL.maxLength * this.geometry.jointAttentionDim), sequenceLength: this.tokenizers.clipL.maxLength, hiddenSize: this.geometry.jointAttentionDim };
    const clipWidth = clipL.hiddenSize + clipG.hiddenSize;
    if (clipWidth > t5.hiddenSize) {
      throw new InvalidModelError({ model: this.folder, message: `${this.folder}: the CLIP encoders' widths (${clipL.hiddenSize} + ${clipG.hiddenSize}) exceed T5's ${t5.hiddenSize}` });
    }
    const clipLength = clipL.sequenceLength;
    const sequenceLength = clipLength + t5.sequenceLength;
    const hiddenSize = t5.hiddenSize;
    const hiddenStates = new Float32Array(batch * sequenceLength * hiddenSize);
    for (let row = 0; row < batch; row++) {
      const rowStart = row * sequenceLength * hiddenSize;
      for (let token = 0; token < clipLength; token++) {
        const target = rowStart + token * hiddenSize;
        hiddenStates.set(clipL.hiddenStates.subarray((row * clipLength + token) * clipL.hiddenSize, (row * clipLength + token + 1) * clipL.hiddenSize), target);
        hiddenStates.set(clipG.hiddenStates.subarray((row * clipLength + token) * clipG.hiddenSize, (row * clipLength + token + 1) * clipG.hiddenSize), target + clipL.hiddenSize);
      }
      const t5Row = t5.hiddenStates.subarray(row * t5.sequenceLength * hiddenSize, (row + 1) * t5.sequenceLength * hiddenSize);
      hiddenStates.set(t5Row, rowStart + clipLength * hiddenSize);
    }
    const pooledL = clipL.pooled.length / batch;
    const pooledG = clipG.pooled.length / batch;
    const pooled = new Float32Array(batch * (pooledL + pooledG));
    for (let row = 0; row < batch; row++) {
      pooled.set(clipL.pooled.subarray(row * pooledL, (row + 1) * pooledL), row * (pooledL + pooledG));
      pooled.set(clipG.pooled.subarray(row * pooledG, (row + 1) * pooledG), row * (pooledL + pooledG) + pooledL);
    }
    return { hiddenStates, pooled, batch, sequenceLength, hiddenSize, pooledSize: pooledL + pooledG };
  }

  async generate(options: Sd3GenerateOptions): Promise<Sd3Output> {
    const { prompt, negativePrompt = '', seed, steps, guidance, width, height, signal, onStep, onRun } = options;
    const vaeScale = this.vaeDecoder.vaeScaleFactor;
    const { latentChannels, patchSize, positionEmbeddingMaxSize } = this.geometry;
    checkImageSize(width, height, vaeScale * patchSize);
    if (positionEmbeddingMaxSize !== undefined) {
      // The transformer crops a fixed grid of position embeddings; diffusers refuses larger images the same way.
      const largest = positionEmbeddingMaxSize * patchSize * vaeScale;
      for (const [argument, value] of [['width', width], ['height', height]] as const) {
        if (value > largest) throw new InvalidArgumentError({ argument, value, message: `\`${argument}\` must be at most ${largest} for this model (pos_embed_max_size ${positionEmbeddingMaxSize}), got ${value}` });
      }
    }
    if (!Number.isFinite(guidance)) throw new InvalidArgumentError({ argument: 'guidance', value: guidance, message: `\`guidance\` must be a finite number, got ${guidance}` });
    const guided = guidance > 1;

    // Encode prompt: [negative, positive] in one batch when guided.
    const conditioning = await this.encodePrompt(guided ? [negativePrompt, prompt] : [prompt], onRun);

    // Prepare latents: plain torch.randn, no init_noise_sigma scaling.
    const shape = { channels: latentChannels, height: height / vaeScale, width: width / vaeScale };
    let latents = randn([1, shape.channels, shape.height, shape.width], seed);
    const history = [latents];

    // Denoise: FlowMatch Euler; the transformer sees σ·1000 and predicts the velocity.
    const scheduler = new FlowMatchEulerDiscreteScheduler(this.schedulerConfig);
    scheduler.setTimesteps(steps, { imageSequenceLength: (shape.height / patchSize) * (shape.width / patchSize) });
    const timesteps = [...scheduler.timesteps];
    // diffusers' step draws churn noise from the global generator (unused at s_churn 0), never from the seeded one.
    const unusedNoise = (size: number) => new Float32Array(size);
    const batch = conditioning.batch;
    for (const [index, timestep] of timesteps.entries()) {
      if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
      const input = new Float32Array(batch * latents.length);
      for (let row = 0; row < batch; row++) input.set(latents, row * latents.length);
      const outputs = await this.transformer.run({
        hidden_states: { data: input, dims: [batch, shape.channels, shape.height, shape.width] },
        encoder_hidden_states: { data: conditioning.hiddenStates, dims: [batch, conditioning.sequenceLength, conditioning.hiddenSize] },
        pooled_projections: { data: conditioning.pooled, dims: [batch, conditioning.pooledSize] },
        timestep: { data: new Float32Array(batch).fill(timestep), dims: [batch] },
      }, onRun);
      const prediction = outputs.out_hidden_states ?? Object.values(outputs)[0]!;
      const velocity = guided
        ? classifierFreeGuidance(prediction.subarray(0, latents.length), prediction.subarray(latents.length), guidance)
        : prediction;
      latents = scheduler.step(velocity, timestep, latents, unusedNoise).prevSample;
      history.push(latents);
      onStep?.(index + 1, steps, latents);
    }

    // Decode: latents / scaling_factor + shift_factor through the 16-channel VAE.
    if (signal?.aborted) throw new AbortedError({ cause: signal.reason });
    const decoded = await this.vaeDecoder.decode(latents, shape, onRun);
    return { ...decoded, latents: history, timesteps };
  }

  async release(): Promise<void> {
    await Promise.all(this.sessions.map((session) => session.release()));
  }
}
