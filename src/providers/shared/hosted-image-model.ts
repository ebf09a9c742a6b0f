// What every hosted model shares: option checks and warnings, n split into requests, deadline, abort, result assembly.
import type { z } from 'zod';
import type { ImageModel, ImageModelCheckOptions } from '../../spec/image-model.js';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { EditSettings, GeneratedImage, ImageModelResult, ImageSettings } from '../../spec/image-model-result.js';
import type { ImageModelAttempt, ImageModelCost, ImageModelUsage } from '../../spec/image-model-usage.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import type { ApiClient, CallContext } from './api-client.js';
import { checkImageCount, checkStrength, randomSeed, seedOption } from './call-validation.js';
import { estimateCost } from './cost.js';
import { detectImageMediaType, imageSize, readInputImage, readInputMask, type InputImage, type InputMask } from './image-data.js';

/** Which generic call options a model honours; any other given option becomes an `unsupported-setting` warning. */
export interface HostedSupport {
  negativePrompt?: boolean;
  seed?: boolean;
  steps?: boolean;
  guidance?: boolean;
  sampler?: boolean;
  /** Input images one request takes (0 or absent: text-to-image only). */
  images?: number;
  mask?: boolean;
  strength?: boolean;
  extend?: boolean;
  /** Step previews reach `onProgress` (ComfyUI's websocket sends them). */
  previews?: boolean;
  /** Largest seed the API accepts (default 2^32 − 1). */
  maxSeed?: bigint;
}

/** One request's worth of a call, as the provider's model class sees it. */
export interface HostedRequest<Options> {
  context: CallContext;
  options: ImageModelCallOptions;
  /** `providerOptions[provider]`, parsed by the model's schema. */
  providerOptions: Options;
  /** Images this request should make. */
  n: number;
  /** Seed of this request's first image, when the model takes seeds. */
  seed?: bigint;
  /** Index of this request's first image within the call. */
  firstImageIndex: number;
  /** `performance.now()` when the call began, for progress events' `elapsedMs`. */
  started: number;
  images: InputImage[];
  mask?: InputMask;
  /** Add a warning for the record (sizes rounded, options dropped). */
  warnings: ImageModelWarning[];
}

export interface HostedImage {
  bytes: Uint8Array;
  /** The seed the provider reports for this image, when it does. */
  seed?: string | number | bigint;
  revisedPrompt?: string;
}

export interface HostedResponse {
  images: HostedImage[];
  requestId?: string;
  usage?: Omit<ImageModelUsage, 'images'>;
  /** Milliseconds per stage the provider reports or we measured (queue, inference, download). */
  timings?: Record<string, number>;
  metadata?: Record<string, unknown>;
  /** Settings resolved by the provider (e.g. its default steps), for the record. */
  settings?: Partial<Pick<ImageSettings, 'steps' | 'guidance' | 'sampler'>>;
  /** The price-table variant this request was billed as, e.g. `medium 1024x1024`. */
  priceVariant?: string;
}

export interface HostedModelConfig {
  client: ApiClient;
  timeoutMs: number;
  maxInputPixels?: number;
}

/** For providers that run jobs and poll them. */
export interface PollingModelConfig extends HostedModelConfig {
  pollIntervalMs: number;
  sleep: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
}

export abstract class HostedImageModel<Options> implements ImageModel {
  abstract readonly provider: string;
  abstract readonly maxImagesPerCall: number | undefined;
  protected abstract readonly support: HostedSupport;
  protected abstract readonly optionsSchema: z.ZodType<Options>;

  constructor(
    readonly modelId: string,
    protected readonly config: HostedModelConfig,
  ) {}

  /** Makes `request.n` images in one API request (or one job). */
  protected abstract generate(request: HostedRequest<Options>): Promise<HostedResponse>;

  /**
   * The provider's own refusals of rules a call's settings break (a model it does not have, inputs no
   * endpoint takes), checked before anything is sent or read; `doCheck` and `doGenerate` both run it.
   */
  protected checkModelRules(_options: ImageModelCheckOptions, _providerOptions: Options): void {}

  async doCheck(options: ImageModelCheckOptions): Promise<void> {
    this.checkCall(options, { promptRequired: false });
  }

  /** Everything `doGenerate` refuses before a request: the generic settings, the provider options, the model's own rules. Gives the parsed provider options and the seed (random when none is given). */
  private checkCall(options: ImageModelCheckOptions, { promptRequired }: { promptRequired: boolean }): { providerOptions: Options; seed: bigint | undefined } {
    const { provider, modelId, support } = this;
    const label = `${provider}:${modelId}`;
    const providerOptions = this.parseProviderOptions(options.providerOptions?.[provider]);
    if ((promptRequired || options.prompt !== undefined) && (typeof options.prompt !== 'string' || options.prompt.trim() === '')) {
      throw new InvalidArgumentError({ argument: 'prompt', value: options.prompt, message: `\`prompt\` must be a non-empty string for ${label}, got ${JSON.stringify(options.prompt)}` });
    }
    checkImageCount(options.n);
    if (options.strength !== undefined) checkStrength(options.strength);
    for (const side of ['width', 'height'] as const) {
      const value = options[side];
      if (value !== undefined && (!Number.isInteger(value) || value <= 0)) throw new InvalidArgumentError({ argument: side, value, message: `\`${side}\` must be a positive whole number of pixels, got ${value}` });
    }
    const seed = support.seed ? this.seedOf(options.seed) : undefined;
    const images = options.images ?? 0;
    if (images > 0 && !support.images) throw new InvalidArgumentError({ argument: 'images', value: `${images} image(s)`, message: `\`images\`: ${label} makes images from text only and cannot edit an input image (got ${images}); leave out \`images\` or choose a model that edits` });
    if (options.mask && !support.mask) throw new InvalidArgumentError({ argument: 'mask', value: '<mask>', message: `\`mask\`: ${label} does not take a mask; leave out \`mask\` or choose a model that inpaints` });
    if (options.mask && images === 0) throw new InvalidArgumentError({ argument: 'mask', value: '<mask>', message: '`mask` needs an input image in `images`' });
    this.checkModelRules(options, providerOptions);
    return { providerOptions, seed };
  }

  async doGenerate(options: ImageModelCallOptions): Promise<ImageModelResult> {
    const started = performance.now();
    const { provider, modelId, support } = this;
    const { prompt, images: inputs, mask: inputMask, abortSignal: _abortSignal, onProgress: _onProgress, ...settings } = options;
    const { providerOptions, seed } = this.checkCall({ ...settings, prompt, images: inputs?.length ?? 0, mask: inputMask !== undefined }, { promptRequired: true });
    const n = options.n;
    const warnings = this.unsupportedWarnings(options);
    if (options.abortSignal?.aborted) throw new AbortedError({ cause: options.abortSignal.reason });
    const { images, mask } = await this.readInputs(options, warnings);

    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), this.config.timeoutMs);
    const signal = options.abortSignal ? AbortSignal.any([options.abortSignal, deadline.signal]) : deadline.signal;
    const attempts: ImageModelAttempt[] = [];
    const context: CallContext = { modelId, signal, attempts };
    const perRequest = this.maxImagesPerCall ?? n;
    if (n > perRequest) warnings.push({ type: 'adjusted-setting', setting: 'n', details: `${provider}:${modelId} makes at most ${perRequest} image${perRequest === 1 ? '' : 's'} per request; n=${n} was sent as ${Math.ceil(n / perRequest)} requests` });
    const responses: { response: HostedResponse; request: HostedRequest<Options> }[] = [];
    try {
      for (let first = 0; first < n; first += perRequest) {
        const request: HostedRequest<Options> = { context, options, providerOptions, n: Math.min(perRequest, n - first), seed: seed === undefined ? undefined : (seed + BigInt(first)) % ((support.maxSeed ?? 2n ** 32n - 1n) + 1n), firstImageIndex: first, started, images, mask, warnings };
        const response = await this.generate(request);
        if (response.images.length === 0) throw new InvalidResponseError({ provider, message: `${provider}:${modelId} answered without any image` });
        responses.push({ response, request });
      }
    } catch (error) {
      if (options.abortSignal?.aborted) throw new AbortedError({ message: `the ${provider}:${modelId} call was aborted by its abort signal${this.cancelNote()}`, cause: error });
      if (deadline.signal.aborted) throw new TimeoutError({ provider, timeoutMs: this.config.timeoutMs, cause: error, message: `${provider}:${modelId} did not finish within ${this.config.timeoutMs} ms (the provider's \`timeoutMs\` setting)${this.cancelNote()}` });
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return this.assemble({ options, responses, warnings, attempts, images, mask, started });
  }

  /** Said in abort and timeout errors: whether the provider's job was cancelled too. */
  protected cancelNote(): string {
    return '';
  }

  private parseProviderOptions(value: unknown): Options {
    const parsed = this.optionsSchema.safeParse(value ?? {});
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0]!;
    const argument = ['providerOptions', this.provider, ...issue.path.map(String)].join('.');
    const given = issue.path.reduce<unknown>((object, key) => (object as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey], value);
    throw new InvalidArgumentError({ argument, value: given, message: `\`${argument}\` is invalid for ${this.provider}:${this.modelId}: ${issue.message}${issue.path.length ? `, got ${JSON.stringify(given)}` : ''}` });
  }

  private seedOf(value: ImageModelCallOptions['seed']): bigint {
    const maxSeed = this.support.maxSeed ?? 2n ** 32n - 1n;
    if (value === undefined) return randomSeed() % (maxSeed + 1n);
    const seed = seedOption(value)!;
    if (seed > maxSeed) throw new InvalidArgumentError({ argument: 'seed', value, message: `\`seed\` must be at most ${maxSeed} for ${this.provider}:${this.modelId}, got ${seed}` });
    return seed;
  }

  private unsupportedWarnings(options: ImageModelCallOptions): ImageModelWarning[] {
    const { support } = this;
    const checks: [keyof ImageModelCallOptions, boolean | undefined][] = [
      ['negativePrompt', support.negativePrompt], ['seed', support.seed], ['steps', support.steps], ['guidance', support.guidance],
      ['sampler', support.sampler], ['strength', support.strength], ['extend', support.extend], ['previews', support.previews],
      ['fit', false], ['maskBlur', false], ['composite', false], ['decoder', false],
    ];
    // `previews: false` and `decoder: 'full'` ask for what a hosted model does anyway. (A lone hosted model is refused
    // `decoder: 'fast'` before the call; one reached through a fallback list warns.)
    return checks
      .filter(([setting, supported]) => !supported && options[setting] !== undefined && !(setting === 'previews' && options.previews === false) && !(setting === 'decoder' && options.decoder === 'full'))
      .map(([setting]) => ({ type: 'unsupported-setting' as const, setting, details: `${this.provider}:${this.modelId} has no ${setting} setting; it was ignored` }));
  }

  private async readInputs(options: ImageModelCallOptions, warnings: ImageModelWarning[]): Promise<{ images: InputImage[]; mask?: InputMask }> {
    const given = options.images ?? [];
    const accepted = this.support.images ?? 0;
    const label = `${this.provider}:${this.modelId}`;
    // Images a text-only model cannot take and masks without support were refused by `checkCall`.
    if (given.length > accepted) warnings.push({ type: 'adjusted-setting', setting: 'images', details: `${label} takes at most ${accepted} input image${accepted === 1 ? '' : 's'}; the first ${accepted} of ${given.length} were used` });
    const maxPixels = this.config.maxInputPixels ?? 4096 * 4096;
    const images = await Promise.all(given.slice(0, accepted).map((input, index) => readInputImage(input, given.length === 1 ? 'images[0]' : `images[${index}]`, maxPixels)));
    const mask = options.mask === undefined ? undefined : await readInputMask(options.mask, images[0]!, options.maskConvention, maxPixels);
    return { images, mask };
  }

  private async assemble({ options, responses, warnings, attempts, images, mask, started }: { options: ImageModelCallOptions; responses: { response: HostedResponse; request: HostedRequest<Options> }[]; warnings: ImageModelWarning[]; attempts: ImageModelAttempt[]; images: InputImage[]; mask?: InputMask; started: number }): Promise<ImageModelResult> {
    const operation = images.length === 0 ? 'text-to-image' : options.extend ? 'outpaint' : mask ? 'inpaint' : 'image-to-image';
    const edit: EditSettings | undefined = images.length === 0 ? undefined : {
      image: images[0]!.sha256,
      ...(images.length > 1 ? { moreImages: images.slice(1).map((image) => image.sha256) } : {}),
      ...(mask ? { mask: mask.sha256, maskConvention: mask.convention, maskConventionDetected: mask.detected } : {}),
      ...(this.support.strength && options.strength !== undefined ? { strength: options.strength } : {}),
      ...(this.support.extend && options.extend ? { extend: { left: 0, right: 0, top: 0, bottom: 0, ...options.extend } } : {}),
    };
    const generated: GeneratedImage[] = [];
    const timings: Record<string, number> = {};
    const usage: ImageModelUsage = { images: 0 };
    const prices: ImageModelCost[] = [];
    for (const { response, request } of responses) {
      for (const [index, image] of response.images.entries()) {
        const mediaType = detectImageMediaType(image.bytes);
        if (mediaType === undefined) throw new InvalidResponseError({ provider: this.provider, message: `${this.provider}:${this.modelId} returned ${image.bytes.byteLength} bytes that are not a PNG, JPEG, WebP or GIF image` });
        const { width, height } = await imageSize(image.bytes);
        const seed = image.seed ?? (request.seed !== undefined && request.n === 1 && index === 0 ? request.seed : undefined);
        const settings: ImageSettings = {
          prompt: options.prompt,
          ...(this.support.negativePrompt && options.negativePrompt !== undefined ? { negativePrompt: options.negativePrompt } : {}),
          ...(seed !== undefined ? { seed: String(seed) } : {}),
          ...(this.support.steps && options.steps !== undefined ? { steps: options.steps } : {}),
          ...(this.support.guidance && options.guidance !== undefined ? { guidance: options.guidance } : {}),
          ...response.settings,
          width,
          height,
          operation,
          ...(edit ? { edit } : {}),
        };
        generated.push({ bytes: image.bytes, mediaType, settings, ...(image.revisedPrompt !== undefined ? { revisedPrompt: image.revisedPrompt } : {}) });
        const price = estimateCost({ provider: this.provider, modelId: this.modelId, images: 1, width, height, variant: response.priceVariant });
        if (price) prices.push(price);
      }
      usage.images += response.images.length;
      for (const key of ['inputTokens', 'outputTokens'] as const) if (response.usage?.[key] !== undefined) usage[key] = (usage[key] ?? 0) + response.usage[key]!;
      for (const [stage, milliseconds] of Object.entries(response.timings ?? {})) timings[stage] = (timings[stage] ?? 0) + milliseconds;
    }
    timings.total = Math.round(performance.now() - started);
    const last = responses.at(-1)!.response;
    // Requests of one call often repeat the same warning; the record keeps each once.
    const uniqueWarnings = warnings.filter((warning, index) => warnings.findIndex((other) => JSON.stringify(other) === JSON.stringify(warning)) === index);
    return {
      images: generated,
      warnings: uniqueWarnings,
      response: { provider: this.provider, modelId: this.modelId, timestamp: new Date(), timings, ...(last.requestId ? { requestId: responses.map(({ response }) => response.requestId).join(',') } : {}), ...(last.metadata ? { providerMetadata: last.metadata } : {}) },
      usage,
      ...(prices.length === generated.length && prices.length > 0 ? { cost: sumCosts(prices) } : {}),
      attempts,
    };
  }
}

/** One cost for the call: the per-image estimates summed, their bases counted (`2 × $0.011 (low 1024x1024)`). */
function sumCosts(prices: ImageModelCost[]): ImageModelCost {
  const counts = new Map<string, number>();
  for (const price of prices) {
    const each = price.basis.replace(/^1 × /, '');
    counts.set(each, (counts.get(each) ?? 0) + 1);
  }
  const amountUsd = Math.round(prices.reduce((sum, price) => sum + price.amountUsd, 0) * 1e6) / 1e6;
  return { amountUsd, basis: [...counts].map(([each, count]) => `${count} × ${each}`).join(' + '), source: prices[0]!.source, priceDate: prices[0]!.priceDate };
}
