// The local engine behind the ImageModel contract: validates options, runs the pipeline per seed, writes PNGs.
import type { ImageModel } from '../../spec/image-model.js';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { GeneratedImage, ImageModelResult, ImageSettings } from '../../spec/image-model-result.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { familyById, type ModelFamily } from '../../engine/families/index.js';
import type { LoadedModel } from '../../engine/families/model-loader.js';
import { binarizeMask } from '../../engine/image/mask.js';
import { encodePng } from '../../engine/image/png.js';
import { imageToImage } from '../../engine/pipelines/image-to-image.js';
import { inpaint } from '../../engine/pipelines/inpaint.js';
import { encodePrompts } from '../../engine/pipelines/prompt-conditioning.js';
import { textToImage, type PipelineOutput } from '../../engine/pipelines/text-to-image.js';
import { warmUp, type WarmUpReport } from '../../engine/pipelines/warm-up.js';
import { checkFastDecoder, stepsRunForStrength, type StepListener } from '../../engine/pipelines/denoise.js';
import type { PreviewDecoder } from '../../engine/preview/preview-decoder.js';
import { StageTimer } from '../../engine/runtime/stage-timer.js';
import { onnxRuntimeVersion } from '../../engine/runtime/graph-cache.js';
import { isSamplerName, samplerForSchedulerClass, samplerNames, type SamplerName } from '../../engine/schedulers/index.js';
import { checkDimension, checkGuidance, checkImageCount, checkSteps, checkStrength, randomSeed, seedForImage, seedOption } from './local-call-validation.js';
import { finishEdit, prepareEdit } from './local-edit-inputs.js';
import { previewMaker } from './local-previews.js';
import { a1111Parameters, type GenerationRecord } from './local-record.js';
import { localImageOptionsSchema, type LocalImageOptions } from './local-image-options.js';
import { prepareControls, type PreparedControls } from './local-controls.js';
import type { ControlNetModel } from '../../engine/controlnet/controlnet-model.js';
import { checkMemoryBudget } from './local-memory-check.js';
import type { MemoryEstimate, MemoryProfile } from '../../engine/families/memory-estimate.js';

const runtimeVersion = onnxRuntimeVersion();

/** The fast decoder as a call uses it: the loaded decoder, and what records name it by. */
export interface LoadedFastDecoder {
  decoder: PreviewDecoder;
  /** The file's name (records never hold a server's paths). */
  name: string;
  /** sha256 (hex) of the file, computed once. */
  sha256: string;
}

export interface LocalImageModelConfig {
  /** Loads (once) the model's sessions; called lazily on the first generation. */
  load: () => Promise<LoadedModel>;
  executionProvider: string;
  /** Largest input image or mask, in pixels, decoded for editing (default 4096 × 4096). */
  maxInputPixels?: number;
  /** A tiny latent decoder for step previews (SD 1.x/2.x latents); without it previews are a linear latent→RGB projection. */
  previewDecoder?: () => Promise<PreviewDecoder>;
  /** The small decoder calls with `decoder: 'fast'` decode with (SD 1.x/2.x latents); without it such calls are refused. */
  fastDecoder?: () => Promise<LoadedFastDecoder>;
  /** What the memory estimate needs, read from the folder without loading a session. */
  profile: () => Promise<MemoryProfile>;
  /** Whether the denoiser takes ControlNet residuals (a UNet exported with them), read without loading a session; false when absent. */
  takesControls?: () => Promise<boolean>;
  /** Loads a ControlNet (a model.onnx or a folder holding controlnet/model.onnx); the provider keeps it for later calls. */
  loadControlNet?: (path: string) => Promise<ControlNetModel>;
  /** Largest estimated peak memory of one call, in bytes; calls above it are refused before loading. No limit when absent. */
  memoryBudgetBytes?: number;
}

export const defaultMaxInputPixels = 4096 * 4096;

/** What a local model can do, read from its configs; `GET /v1/models` shows it. */
export interface LocalModelCapabilities {
  /** The model family: its id (`stable-diffusion`, `stable-diffusion-xl`, `stable-diffusion-3`, `flux`) and name. */
  family: { id: string; name: string };
  /** Whether ControlNets can guide it: an SD 1.x/2.x model whose UNet was exported with residual inputs. */
  controls: boolean;
  /** An inpainting model (its UNet takes the mask) repaints masked areas only. */
  operations: ('text-to-image' | 'image-to-image' | 'inpaint' | 'outpaint')[];
  /** Width and height must be multiples of this. */
  sizeMultiple: number;
  defaultSize: { width: number; height: number };
  defaultSteps: number;
  defaultGuidance: number;
  samplers: string[];
  /** `full` (the model's VAE), and `fast` where a fast decoder is configured here and reads this family's latents. */
  decoders: ('full' | 'fast')[];
}

/** What `LocalImageModel.check` looks at: a call's settings, and for an edit its output size and whether it is masked. */
export interface LocalCallCheck extends Pick<ImageModelCallOptions, 'n' | 'steps' | 'guidance' | 'strength' | 'sampler' | 'width' | 'height' | 'providerOptions' | 'decoder'> {
  /** `encodes`: false when the edit turned out to leave the image as it is (no VAE encoder runs); default true. */
  edit?: { width: number; height: number; masked: boolean; encodes?: boolean };
}

export class LocalImageModel implements ImageModel {
  readonly provider = 'local';
  readonly maxImagesPerCall = undefined;
  private loaded: Promise<LoadedModel> | undefined;
  /** The load the last warm-up ran on: a released and reloaded model is warmed again. */
  private warmed: Promise<LoadedModel> | undefined;

  constructor(
    readonly modelId: string,
    private readonly config: LocalImageModelConfig,
  ) {}

  /** What this model can do, from its configs; nothing is loaded. */
  async capabilities(): Promise<LocalModelCapabilities> {
    const profile = await this.config.profile();
    const family = familyById(profile.family);
    const inpainting = profile.unetInputChannels !== profile.latentChannels;
    return {
      family: { id: family.id, name: family.displayName },
      controls: family.id === 'stable-diffusion' && ((await this.config.takesControls?.()) ?? false),
      // Every edit encodes its input: a folder without a VAE encoder runs text-to-image only.
      operations: inpainting ? ['inpaint', 'outpaint'] : [
        'text-to-image',
        ...(family.editing.imageToImage && profile.vaeEncoder ? ['image-to-image' as const] : []),
        ...(family.editing.inpainting && profile.vaeEncoder ? ['inpaint' as const, 'outpaint' as const] : []),
      ],
      sizeMultiple: profile.sizeMultiple,
      defaultSize: { width: profile.defaultWidth, height: profile.defaultHeight },
      defaultSteps: profile.defaultSteps,
      defaultGuidance: profile.defaultGuidance,
      samplers: [...familyById(profile.family).samplers],
      decoders: family.latent.preview.tinyDecoder && this.config.fastDecoder ? ['full', 'fast'] : ['full'],
    };
  }

  /**
   * Checks all of a call that can be known before its inputs are read or a session is loaded (the
   * settings' ranges, the sampler, this model's size rule, what an inpainting model needs, whether a
   * fast decoder is configured and reads this model's latents, memory),
   * throwing `InvalidArgumentError` as the call would; gives the memory estimate. `edit`: an edit's
   * output size (its input's, plus any extension), and whether a mask or an extension comes with it.
   */
  async check(call: LocalCallCheck): Promise<MemoryEstimate> {
    checkCallSettings(call);
    const profile = await this.config.profile();
    const family = familyById(profile.family);
    checkSamplerFits(call.sampler, family);
    const { edit } = call;
    const rule = { reason: profile.sizeReason, largest: profile.largestSide };
    if (!edit) {
      checkDimension('width', call.width ?? profile.defaultWidth, profile.sizeMultiple, rule);
      checkDimension('height', call.height ?? profile.defaultHeight, profile.sizeMultiple, rule);
    }
    checkFamilyEdits(this.modelId, family, edit);
    if (edit && edit.encodes !== false && !profile.vaeEncoder) {
      throw new InvalidArgumentError({ argument: 'images', value: undefined, message: `${this.modelId} has no VAE encoder (vae_encoder/model.onnx in its folder), which every edit needs to read its input image: it runs text-to-image only; leave out \`images\` or choose a model exported with its encoder` });
    }
    checkOperation(this.modelId, profile.unetInputChannels, profile.latentChannels, edit);
    if (call.decoder === 'fast') {
      // The family first: no setting helps a model whose latents the decoder cannot read.
      checkFastDecoder(family, this.modelId);
      if (!this.config.fastDecoder) {
        throw new InvalidArgumentError({ argument: 'decoder', value: 'fast', message: '`decoder` "fast" needs a fast decoder, and none is configured here: set PIXELPIPE_FAST_DECODER (the `fastDecoder` setting; `previewDecoder` serves too) to a VAElight-style decoder .onnx such as VAEpreview.onnx, or use `decoder` "full" (the default)' });
      }
    }
    return this.checkMemory({ width: edit?.width ?? call.width, height: edit?.height ?? call.height, guidance: call.guidance, edit: edit !== undefined && edit.encodes !== false });
  }

  /**
   * Estimates the call's peak memory from the model's configs (nothing is loaded) and refuses it with
   * an `InvalidArgumentError` naming the budget and the largest size that fits when it is over.
   * `width` and `height` are the output's: for an edit, the input's size (plus any extension).
   */
  async checkMemory({ width, height, guidance, edit = false }: { width?: number; height?: number; guidance?: number; edit?: boolean }): Promise<MemoryEstimate> {
    const profile = await this.config.profile();
    const multiple = profile.sizeMultiple;
    const rounded = (side: number) => Math.ceil(side / multiple) * multiple;
    const request = { width: rounded(width ?? profile.defaultWidth), height: rounded(height ?? profile.defaultHeight), guidance: guidance ?? profile.defaultGuidance, edit };
    return checkMemoryBudget(profile, request, this.config.memoryBudgetBytes, this.modelId);
  }

  /** Releases the sessions, if they were ever loaded. */
  async release(): Promise<void> {
    const sessions = this.loaded ? await this.loaded.then((value) => value.sessions, () => []) : [];
    this.loaded = undefined;
    await Promise.all(sessions.map((session) => session.release()));
  }

  /** Loads the sessions now (they are kept for later calls). */
  load(): Promise<LoadedModel> {
    this.loaded ??= this.config.load().catch((error: unknown) => {
      this.loaded = undefined; // let a later call retry, e.g. after the folder was repaired
      throw error;
    });
    return this.loaded;
  }

  /**
   * Loads the sessions and runs one throwaway image through them (see `warmUp`), once per load: what
   * `serve` and `worker` do at start so the first job runs at full speed. Undefined when already warm.
   */
  async warm(): Promise<WarmUpReport | undefined> {
    const loading = this.load();
    if (this.warmed === loading) return undefined;
    this.warmed = loading;
    try {
      return await warmUp(await loading);
    } catch (error) {
      this.warmed = undefined;
      throw error;
    }
  }

  /** Loads the call's ControlNets and reads their control images at the output size; undefined without controls. */
  private async prepareControls(local: LocalImageOptions, { width, height, edit }: { width: number; height: number; edit: boolean }): Promise<PreparedControls | undefined> {
    if (!local.controls?.length) return undefined;
    checkControlOperation(local.controls, edit);
    const loadControlNet = this.config.loadControlNet;
    if (!loadControlNet) throw new InvalidArgumentError({ argument: 'controls', value: local.controls.map((control) => control.model), message: 'this local model was made without a ControlNet loader; create it through createLocal()' });
    return prepareControls(local.controls, { width, height, maxInputPixels: this.config.maxInputPixels ?? defaultMaxInputPixels, loadControlNet });
  }

  async doGenerate(options: ImageModelCallOptions): Promise<ImageModelResult> {
    const started = performance.now();
    const { n, local } = checkCallSettings(options);
    const seed = seedOption(options.seed) ?? randomSeed();
    const prompt = options.prompt;
    if (typeof prompt !== 'string') throw new InvalidArgumentError({ argument: 'prompt', value: prompt, message: `\`prompt\` must be a string, got ${typeof prompt}` });
    const profile = await this.config.profile();
    const edit = await prepareEdit(options, { maxInputPixels: this.config.maxInputPixels ?? defaultMaxInputPixels, multiple: profile.sizeMultiple });
    // The size is known now, and nothing is loaded yet: what cannot fit is refused before a session or a byte of activation.
    await this.check({ ...options, edit: edit && { width: edit.image.width, height: edit.image.height, masked: edit.mask !== undefined, encodes: !edit.nothingToEdit } });
    const model = await this.load();
    const warnings: ImageModelWarning[] = [...(edit?.warnings ?? []), ...model.loraWarnings.map((message) => ({ type: 'other' as const, message }))];
    // Again with the loaded UNet's own inputs, which a folder's config may not state.
    checkOperation(model.name, model.unet.inputChannels, model.latentChannels, edit && { masked: edit.mask !== undefined });

    // Settings: what was asked, else the model's defaults; editing strength defaults as diffusers' pipelines do.
    const defaults = model.modelFamily.defaults(model.schedulerConfig);
    const rule = { reason: model.sizeReason, largest: model.largestSide };
    const width = edit ? edit.image.width : checkDimension('width', options.width ?? model.defaultWidth, model.sizeMultiple, rule);
    const height = edit ? edit.image.height : checkDimension('height', options.height ?? model.defaultHeight, model.sizeMultiple, rule);
    const strength = edit ? (options.strength ?? (edit.operation === 'image-to-image' ? 0.8 : 1)) : undefined;
    let steps = options.steps ?? defaults.steps;
    const rounding = model.modelFamily.editing.strengthRounding;
    if (strength !== undefined && options.steps === undefined && stepsRunForStrength(steps, strength, rounding) < 1) {
      steps = Math.ceil(1 / strength);
      warnings.push({ type: 'adjusted-setting', setting: 'steps', details: `the default ${defaults.steps} step(s) at strength ${strength} would run none; ran ${steps} (⌊steps × strength⌋ must be at least 1)` });
    }
    const guidance = options.guidance ?? defaults.guidance;
    const sampler = (options.sampler as SamplerName | undefined) ?? samplerForSchedulerClass(model.schedulerClass, model.schedulerConfig) ?? model.modelFamily.fallbackSampler;
    const negativePrompt = options.negativePrompt;
    const controls = await this.prepareControls(local, { width, height, edit: edit !== undefined });
    warnings.push(...(controls?.warnings ?? []));
    // A guidance-distilled family without the input (FLUX.1-schnell's transformer has no `guidance`) cannot use one.
    if (options.guidance !== undefined && options.guidance > 0 && !model.modelFamily.classifierFreeGuidance && !model.unet.hasInput('guidance')) {
      warnings.push({ type: 'unsupported-setting', setting: 'guidance', details: `this ${model.modelFamily.displayName} model's transformer takes no guidance input (as FLUX.1-schnell's), so guidance ${options.guidance} has no effect; it was ignored` });
    }
    if (negativePrompt && !model.modelFamily.classifierFreeGuidance) {
      warnings.push({ type: 'unsupported-setting', setting: 'negativePrompt', details: `${model.modelFamily.displayName} models take guidance as a model input, without classifier-free guidance, so a negative prompt has no effect; it was ignored` });
    }

    // The prompts are the same for every image of the call: encode them once.
    const callTimer = new StageTimer();
    const encoded = await encodePrompts(model, prompt, negativePrompt, guidance, callTimer);
    for (const setting of ['prompt', 'negativePrompt'] as const) {
      if (encoded.truncated[setting]) warnings.push({ type: 'adjusted-setting', setting, details: `\`${setting}\` is longer than the text encoder's ${model.prompts.maxLength} tokens; the rest was cut off` });
    }
    if (guidance > 1 && model.schedulerConfig.timestep_spacing === 'trailing' && steps <= 4) {
      warnings.push({ type: 'other', message: `guidance ${guidance} on a few-step (Turbo-style) model usually burns the image; Turbo models are trained for guidance 0` });
    }
    const makePreview = options.previews ? previewMaker(model, this.config.previewDecoder) : undefined;
    // `check` refused `fast` without a decoder; loaded once per provider, its hash computed once.
    const fast = options.decoder === 'fast' ? await this.config.fastDecoder!() : undefined;
    const images: GeneratedImage[] = [];
    for (let index = 0; index < n; index++) {
      const timer = new StageTimer();
      const imageSeed = seedForImage(seed, index);
      const onStep: StepListener = async (call, calls, latents, denoised) => {
        if (!options.onProgress) return;
        // Progress counts the steps the user asked for (an edit runs ⌊steps × strength⌋ of them), not UNet calls: PNDM makes
        // extra warm-up calls first (PLMS one, for its two-evaluation first step), so a step is reported by the call that completes it.
        const userSteps = strength === undefined ? steps : stepsRunForStrength(steps, strength, rounding);
        const extraCalls = Math.max(0, calls - userSteps);
        if (call <= extraCalls) return;
        const preview = makePreview ? await timer.measure('preview', () => makePreview(denoised ?? latents, { channels: model.latentChannels, height: height / model.vaeScaleFactor, width: width / model.vaeScaleFactor })) : undefined;
        options.onProgress({ imageIndex: index, step: call - extraCalls, steps: calls - extraCalls, elapsedMs: performance.now() - started, ...(preview ? { preview } : {}) });
      };
      const common = { prompt, negativePrompt, width, height, steps, guidance, sampler, seed: imageSeed, signal: options.abortSignal, timer, encoded, onStep, ...(fast ? { fastDecoder: fast.decoder } : {}) };
      let output: PipelineOutput;
      if (!edit) output = await textToImage(model, { ...common, ...(controls ? { controls: controls.inputs } : {}) });
      else if (edit.nothingToEdit) output = { rgb: edit.image.data, width, height, timesteps: [], notes: [] };
      else if (edit.mask) output = await inpaint(model, { ...common, image: edit.image, mask: binarizeMask(edit.mask), strength: strength! });
      else output = await imageToImage(model, { ...common, image: edit.image, strength: strength! });
      const finished = edit ? finishEdit(edit, { data: output.rgb, width: output.width, height: output.height }) : { data: output.rgb, width: output.width, height: output.height };
      for (const note of output.notes) if (!warnings.some((warning) => warning.type === 'other' && warning.message === note)) warnings.push({ type: 'other', message: note });

      const settings: ImageSettings = {
        prompt, ...(negativePrompt !== undefined ? { negativePrompt } : {}), seed: imageSeed.toString(), steps, guidance, sampler, width: finished.width, height: finished.height,
        operation: edit?.operation ?? 'text-to-image', ...(edit ? { edit: { ...edit.settings, strength: strength! } } : {}),
        ...(model.loras.length > 0 ? { loras: model.loras.map(({ name, scale, sha256 }) => ({ name, scale, sha256 })) } : {}),
        ...(controls ? { controls: controls.settings } : {}),
        // An edit that left the image as it was decoded nothing.
        ...(fast && !edit?.nothingToEdit ? { decoder: { type: 'fast' as const, name: fast.name, sha256: fast.sha256 } } : {}),
      };
      const record: GenerationRecord = {
        version: 1,
        settings,
        model: { id: this.modelId, hash: `sha256:${await model.unetHash}`, family: model.family },
        runtime: { name: 'onnxruntime-node', version: runtimeVersion, executionProvider: this.config.executionProvider },
        timings: roundTimings(timer.stages),
        warnings,
        createdAt: new Date().toISOString(),
      };
      const bytes = await timer.measure('png', () =>
        encodePng(finished.data, finished.width, finished.height, [
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
        modelHash: `sha256:${await model.unetHash}`,
        runtime: `onnxruntime-node ${runtimeVersion} (${this.config.executionProvider})`,
        timestamp: new Date(),
        timings: { ...roundTimings(callTimer.stages), sessionRun: round(callTimer.sessionMilliseconds), total: round(performance.now() - started) },
      },
    };
  }
}

/** Whether a call's ControlNet work can start: text-to-image only, for now. */
function checkControlOperation(controls: LocalImageOptions['controls'], edit: boolean): void {
  if (!controls?.length || !edit) return;
  throw new InvalidArgumentError({ argument: 'controls', value: controls.map((control) => control.model), message: 'ControlNets run with text-to-image only for now: leave out the input image (`images`), or the `controls`' });
}

/** An inpainting UNet (it takes more channels than the latent's) repaints a masked area of an input image, and nothing else. */
function checkOperation(name: string, inputChannels: number, latentChannels: number, edit: { masked: boolean } | undefined): void {
  if (inputChannels === latentChannels) return;
  if (!edit) throw new InvalidArgumentError({ argument: 'images', value: undefined, message: `${name} is an inpainting model (its UNet takes ${inputChannels} channels): give an input image (\`images\`) and a \`mask\` (or \`extend\`), or choose a text-to-image model` });
  if (!edit.masked) throw new InvalidArgumentError({ argument: 'mask', value: undefined, message: `${name} is an inpainting model: give a \`mask\` (or \`extend\`) with the image; use an ordinary model for image-to-image` });
}

/** Image-to-image exists for SD, SDXL and SD3, inpainting for SD, SDXL and SD3: an edit the family lacks is refused, naming it. */
function checkFamilyEdits(name: string, family: ModelFamily, edit: { masked: boolean } | undefined): void {
  if (!edit || (edit.masked ? family.editing.inpainting : family.editing.imageToImage)) return;
  const operation = edit.masked ? 'inpainting' : 'image-to-image';
  const advice = family.editing.imageToImage
    ? 'text-to-image and image-to-image only: leave out `mask` (and `extend`), or choose an SD 1.x/2.x or SDXL model'
    : 'text-to-image only: leave out `images` (and `mask`), or choose an SD 1.x/2.x or SDXL model';
  throw new InvalidArgumentError({ argument: edit.masked && family.editing.imageToImage ? 'mask' : 'images', value: undefined, message: `${operation} is not supported for ${family.displayName} models (${name}); pixelpipe runs ${family.displayName} ${advice}` });
}

/** A sampler integrates one parameterisation: e.g. flow-matching samplers give wrong images on noise-prediction models. */
function checkSamplerFits(sampler: string | undefined, family: ModelFamily): void {
  if (sampler === undefined || (family.samplers as readonly string[]).includes(sampler)) return;
  throw new InvalidArgumentError({ argument: 'sampler', value: sampler, message: `\`sampler\` must be one of ${family.samplers.join(', ')} for ${family.displayName} models, got ${JSON.stringify(sampler)}` });
}

/** The settings of a call checked before anything is read or loaded; gives the image count and the parsed local options. */
function checkCallSettings(call: LocalCallCheck): { n: number; local: LocalImageOptions } {
  const local = call.providerOptions?.local;
  const parsed = localImageOptionsSchema.safeParse(local ?? {});
  if (!parsed.success) throw new InvalidArgumentError({ argument: 'providerOptions.local', value: local, message: `\`providerOptions.local\` is invalid: ${parsed.error.message}` });
  const n = checkImageCount(call.n);
  if (call.steps !== undefined) checkSteps(call.steps);
  if (call.guidance !== undefined) checkGuidance(call.guidance);
  if (call.strength !== undefined) checkStrength(call.strength);
  // Names pixelpipe has no sampler for are refused here; whether a known one suits the model's family, `check` asks the family.
  if (call.sampler !== undefined && !isSamplerName(call.sampler)) {
    throw new InvalidArgumentError({ argument: 'sampler', value: call.sampler, message: `\`sampler\` must be one of ${samplerNames.join(', ')}, got ${JSON.stringify(call.sampler)}` });
  }
  checkControlOperation(parsed.data.controls, call.edit !== undefined);
  if (call.decoder !== undefined && call.decoder !== 'full' && call.decoder !== 'fast') {
    throw new InvalidArgumentError({ argument: 'decoder', value: call.decoder, message: `\`decoder\` must be "full" (the model's VAE, the default) or "fast", got ${JSON.stringify(call.decoder)}` });
  }
  return { n, local: parsed.data };
}

const round = (value: number): number => Math.round(value * 100) / 100;
function roundTimings(timings: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(timings).map(([key, value]) => [key, round(value)]));
}
