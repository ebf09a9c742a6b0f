// The local engine behind the ImageModel contract: validates options, runs text-to-image per seed, writes PNGs.
import { createRequire } from 'node:module';
import type { ImageModel } from '../../spec/image-model.js';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { GeneratedImage, ImageModelResult } from '../../spec/image-model-result.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { StableDiffusionModel } from '../../engine/families/stable-diffusion.js';
import { encodePng } from '../../engine/image/png.js';
import { encodePrompts } from '../../engine/pipelines/prompt-conditioning.js';
import { textToImage } from '../../engine/pipelines/text-to-image.js';
import { StageTimer } from '../../engine/runtime/stage-timer.js';
import { samplerForSchedulerClass, samplerNames, type SamplerName } from '../../engine/schedulers/index.js';
import { checkDimension, checkGuidance, checkImageCount, checkSeed, checkSteps, seedForImage } from './local-call-validation.js';
import { a1111Parameters, type GenerationRecord } from './local-record.js';
import { localImageOptionsSchema } from './local-image-options.js';

const runtimeVersion: string = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;

export interface LocalImageModelConfig {
  /** Loads (once) the model's sessions; called lazily on the first generation. */
  load: () => Promise<StableDiffusionModel>;
  executionProvider: string;
}

/** Defaults for a model family when the caller gives none. Turbo-style schedules get 1 step and no guidance. */
function defaultsFor(model: StableDiffusionModel): { steps: number; guidance: number } {
  const trailing = model.schedulerConfig.timestep_spacing === 'trailing';
  return trailing ? { steps: 1, guidance: 0 } : { steps: 25, guidance: 7.5 };
}

export class LocalImageModel implements ImageModel {
  readonly provider = 'local';
  readonly maxImagesPerCall = undefined;
  private loaded: Promise<StableDiffusionModel> | undefined;

  constructor(
    readonly modelId: string,
    private readonly config: LocalImageModelConfig,
  ) {}

  /** Loads the sessions now (they are kept for later calls). */
  load(): Promise<StableDiffusionModel> {
    this.loaded ??= this.config.load().catch((error: unknown) => {
      this.loaded = undefined; // let a later call retry, e.g. after the folder was repaired
      throw error;
    });
    return this.loaded;
  }

  async doGenerate(options: ImageModelCallOptions): Promise<ImageModelResult> {
    const started = performance.now();
    const parsedOptions = localImageOptionsSchema.safeParse(options.providerOptions?.local ?? {});
    if (!parsedOptions.success) {
      throw new InvalidArgumentError({ argument: 'providerOptions.local', value: options.providerOptions?.local, message: `\`providerOptions.local\` is invalid: ${parsedOptions.error.message}` });
    }
    const n = checkImageCount(options.n);
    const seed = checkSeed(options.seed);
    if (options.steps !== undefined) checkSteps(options.steps);
    if (options.guidance !== undefined) checkGuidance(options.guidance);
    if (options.sampler !== undefined && !(samplerNames as readonly string[]).includes(options.sampler)) {
      throw new InvalidArgumentError({ argument: 'sampler', value: options.sampler, message: `\`sampler\` must be one of ${samplerNames.join(', ')}, got ${JSON.stringify(options.sampler)}` });
    }
    const model = await this.load();
    const defaults = defaultsFor(model);
    const width = checkDimension('width', options.width ?? model.defaultWidth, model.vaeScaleFactor);
    const height = checkDimension('height', options.height ?? model.defaultHeight, model.vaeScaleFactor);
    const steps = options.steps ?? defaults.steps;
    const guidance = options.guidance ?? defaults.guidance;
    const sampler = (options.sampler as SamplerName | undefined) ?? samplerForSchedulerClass(model.schedulerClass, model.schedulerConfig) ?? 'euler';
    const prompt = options.prompt;
    const negativePrompt = options.negativePrompt ?? '';
    if (typeof prompt !== 'string') throw new InvalidArgumentError({ argument: 'prompt', value: prompt, message: `\`prompt\` must be a string, got ${typeof prompt}` });

    // The prompts are the same for every image of the call: encode them once.
    const callTimer = new StageTimer();
    const encoded = await encodePrompts(model, prompt, negativePrompt, guidance, callTimer);
    const warnings: ImageModelWarning[] = [];
    for (const setting of ['prompt', 'negativePrompt'] as const) {
      if (encoded.truncated[setting]) warnings.push({ type: 'adjusted-setting', setting, details: `\`${setting}\` is longer than the text encoder's ${model.tokenizer.maxLength} tokens; the rest was cut off` });
    }
    if (guidance > 1 && model.schedulerConfig.timestep_spacing === 'trailing' && steps <= 4) {
      warnings.push({ type: 'other', message: `guidance ${guidance} on a few-step (Turbo-style) model usually burns the image; Turbo models are trained for guidance 0` });
    }
    const images: GeneratedImage[] = [];
    for (let index = 0; index < n; index++) {
      const timer = new StageTimer();
      const imageSeed = seedForImage(seed, index);
      const output = await textToImage(model, {
        prompt, negativePrompt, width, height, steps, guidance, sampler, seed: imageSeed, signal: options.abortSignal, timer, encoded,
        onStep: (step, total) => options.onProgress?.({ imageIndex: index, step, steps: total, elapsedMs: performance.now() - started }),
      });
      const settings = { prompt, negativePrompt, seed: imageSeed.toString(), steps, guidance, sampler, width, height };
      const record: GenerationRecord = {
        version: 1,
        settings,
        model: { id: this.modelId, hash: `sha256:${model.unetHash}`, family: 'stable-diffusion' },
        runtime: { name: 'onnxruntime-node', version: runtimeVersion, executionProvider: this.config.executionProvider },
        timings: roundTimings(timer.stages),
        warnings,
        createdAt: new Date().toISOString(),
      };
      const bytes = await timer.measure('png', () =>
        encodePng(output.rgb, output.width, output.height, [
          { keyword: 'parameters', text: a1111Parameters(record) },
          { keyword: 'pixelpipe', text: JSON.stringify(record), international: true },
        ]),
      );
      images.push({ bytes, mediaType: 'image/png', settings });
      callTimer.absorb(timer);
    }
    return {
      images,
      warnings,
      response: {
        provider: this.provider,
        modelId: this.modelId,
        modelHash: `sha256:${model.unetHash}`,
        runtime: `onnxruntime-node ${runtimeVersion} (${this.config.executionProvider})`,
        timestamp: new Date(),
        timings: { ...roundTimings(callTimer.stages), sessionRun: round(callTimer.sessionMilliseconds), total: round(performance.now() - started) },
      },
    };
  }
}

const round = (value: number): number => Math.round(value * 100) / 100;
function roundTimings(timings: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).map(([key, value]) => [key, round(value)]));
}
