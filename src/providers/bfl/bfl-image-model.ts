// Black Forest Labs' FLUX models (FLUX1.1 [pro], Ultra, [dev], Kontext, FLUX.2) behind the ImageModel contract: submit, poll, download.
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { GenerationFailedError } from '../../spec/errors/generation-failed-error.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type PollingModelConfig, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { pollUntilDone } from '../shared/polling.js';
import { nearestAspectRatio, parseAspectRatio } from '../shared/sizes.js';
import { bflResultResponseSchema, bflSubmitResponseSchema, bflValidationErrorSchema, type BflResultResponse } from './bfl-api.js';
import { bflImageOptionsSchema, type BflImageOptions } from './bfl-image-options.js';

export type BflImageModelId =
  | 'flux-2-pro' | 'flux-2-max' | 'flux-2-flex' | 'flux-2-klein-4b' | 'flux-2-klein-9b'
  | 'flux-kontext-pro' | 'flux-kontext-max' | 'flux-pro-1.1' | 'flux-pro-1.1-ultra' | 'flux-dev'
  | (string & {});

interface Range {
  min: number;
  max: number;
}

/** What one model takes, from its API reference page. */
interface BflTraits {
  /** `pixels`: width and height in multiples of `step`; `ratio`: an aspect_ratio string at a fixed pixel count. */
  sizing: { kind: 'pixels'; step: number; minSide: number; maxSide: number; maxPixels: number } | { kind: 'ratio'; megapixels: number };
  /** Input images one task takes (input_image, input_image_2, ...). */
  images: number;
  steps?: Range;
  guidance?: Range;
  maxSafetyTolerance: number;
}

const flux1Pixels = { kind: 'pixels', step: 32, minSide: 256, maxSide: 1440, maxPixels: 1440 * 1440 } as const;
// FLUX.2: any shape from 64 px a side to 4 MP, in multiples of 16 (https://help.bfl.ai/articles/4029171097-flux-2-technical-specifications).
const flux2Pixels = { kind: 'pixels', step: 16, minSide: 64, maxSide: 4096, maxPixels: 2048 * 2048 } as const;
// Ultra and Kontext take "an aspect ratio between 21:9 and 9:21"; these are the usual ones in that range.
const ratios = ['21:9', '16:9', '3:2', '4:3', '5:4', '1:1', '4:5', '3:4', '2:3', '9:16', '9:21'];
const oneMegapixel = 1024 * 1024;

export function bflTraits(modelId: string): BflTraits {
  if (modelId.startsWith('flux-2-')) {
    return {
      sizing: flux2Pixels,
      images: modelId.includes('klein') ? 4 : 8,
      maxSafetyTolerance: 5,
      ...(modelId.startsWith('flux-2-flex') ? { steps: { min: 1, max: 50 }, guidance: { min: 1.5, max: 10 } } : {}),
    };
  }
  if (modelId.includes('kontext')) return { sizing: { kind: 'ratio', megapixels: 1 }, images: 4, maxSafetyTolerance: 6 };
  if (modelId.includes('ultra')) return { sizing: { kind: 'ratio', megapixels: 4 }, images: 0, maxSafetyTolerance: 6 };
  if (modelId === 'flux-dev') return { sizing: flux1Pixels, images: 0, steps: { min: 1, max: 50 }, guidance: { min: 1.5, max: 5 }, maxSafetyTolerance: 6 };
  return { sizing: flux1Pixels, images: 0, maxSafetyTolerance: 6 };
}

/** Reads 422 validation failures so the error names the field (`loc: ['body', 'width']` → `width`). */
export const readBflError: ErrorReader = ({ body }) => {
  const parsed = bflValidationErrorSchema.safeParse(body);
  if (!parsed.success || parsed.data.detail.length === 0) return undefined;
  const [first] = parsed.data.detail;
  const field = first?.loc?.filter((part) => part !== 'body').join('.') || undefined;
  return { field, message: parsed.data.detail.map((item) => `${item.loc?.filter((part) => part !== 'body').join('.') ?? ''}: ${item.msg ?? 'invalid'}`).join('; ') };
};

/** Sides rounded to the API's step and fitted into its limits, keeping the shape; undefined when nothing was asked. */
export function fitPixels(options: Pick<ImageModelCallOptions, 'width' | 'height' | 'aspectRatio'>, sizing: BflTraits['sizing'] & { kind: 'pixels' }, warnings: ImageModelWarning[], label: string): { width: number; height: number } | undefined {
  const { width, height, aspectRatio } = options;
  if (width === undefined && height === undefined && aspectRatio === undefined) return undefined;
  let ratio: number;
  let pixels: number;
  if (aspectRatio !== undefined) {
    ratio = parseAspectRatio(aspectRatio);
    pixels = width !== undefined && height !== undefined ? width * height : oneMegapixel;
  } else if (width !== undefined && height !== undefined) {
    ratio = width / height;
    pixels = width * height;
  } else {
    const side = (width ?? height)!;
    warnings.push({ type: 'adjusted-setting', setting: 'size', details: `${label} needs both width and height; ${side}x${side} was assumed` });
    ratio = 1;
    pixels = side * side;
  }
  const { step, minSide, maxSide, maxPixels } = sizing;
  const scale = Math.min(1, Math.sqrt(maxPixels / pixels));
  const fit = (side: number) => Math.min(maxSide, Math.max(minSide, Math.round(side / step) * step));
  const fitted = { width: fit(Math.sqrt(pixels * ratio) * scale), height: fit(Math.sqrt(pixels / ratio) * scale) };
  const limits = `sides of ${minSide}–${maxSide} px in multiples of ${step}, at most ${(maxPixels / 1e6).toFixed(1)} MP`;
  if (aspectRatio === undefined && (fitted.width !== width || fitted.height !== height)) {
    warnings.push({ type: 'adjusted-setting', setting: 'size', details: `${label} makes ${limits}; ${width ?? '?'}x${height ?? '?'} was sent as ${fitted.width}x${fitted.height}` });
  } else if (aspectRatio !== undefined && Math.abs(Math.log(fitted.width / fitted.height / ratio)) > 0.01) {
    warnings.push({ type: 'adjusted-setting', setting: 'aspectRatio', details: `${label} makes ${limits}; aspect ratio ${aspectRatio} was sent as ${fitted.width}x${fitted.height}` });
  }
  return fitted;
}

/** A generic setting kept inside the API's range, with a warning when it moves. */
function clampSetting(value: number | undefined, range: Range | undefined, setting: string, warnings: ImageModelWarning[], label: string): number | undefined {
  if (value === undefined || range === undefined) return undefined;
  const clamped = Math.min(range.max, Math.max(range.min, value));
  if (clamped !== value) warnings.push({ type: 'adjusted-setting', setting, details: `${label} takes ${setting} from ${range.min} to ${range.max}; ${value} was sent as ${clamped}` });
  return clamped;
}

export class BflImageModel extends HostedImageModel<BflImageOptions> {
  readonly provider = 'bfl';
  /** Every BFL task makes one image. */
  readonly maxImagesPerCall = 1;
  protected readonly optionsSchema = bflImageOptionsSchema;
  private readonly traits: BflTraits;
  protected readonly support: HostedSupport;

  constructor(modelId: BflImageModelId, protected override readonly config: PollingModelConfig) {
    super(modelId, config);
    this.traits = bflTraits(modelId);
    this.support = { seed: true, steps: this.traits.steps !== undefined, guidance: this.traits.guidance !== undefined, images: this.traits.images };
  }

  protected override cancelNote(): string {
    return '; Black Forest Labs has no cancel endpoint, so the task may still run to the end and be billed';
  }

  protected async generate(request: HostedRequest<BflImageOptions>): Promise<HostedResponse> {
    const { options, providerOptions, context, warnings, images } = request;
    const label = `bfl:${this.modelId}`;
    const { traits } = this;
    const body: Record<string, unknown> = { prompt: options.prompt, seed: request.seed === undefined ? undefined : Number(request.seed) };
    if (traits.sizing.kind === 'pixels') {
      // With an input image and no size, FLUX.2 keeps the input's size.
      const size = fitPixels(options, traits.sizing, warnings, label);
      Object.assign(body, size);
    } else {
      body.aspect_ratio = nearestAspectRatio(ratios, options, warnings, label);
      if (options.aspectRatio === undefined && options.width !== undefined && options.height !== undefined) {
        warnings.push({ type: 'adjusted-setting', setting: 'size', details: `${label} is sized by aspect ratio at about ${traits.sizing.megapixels} MP; ${options.width}x${options.height} was sent as ${body.aspect_ratio}` });
      }
    }
    body.steps = clampSetting(options.steps, traits.steps, 'steps', warnings, label);
    body.guidance = clampSetting(options.guidance, traits.guidance, 'guidance', warnings, label);
    if (providerOptions.safetyTolerance !== undefined && providerOptions.safetyTolerance > traits.maxSafetyTolerance) {
      warnings.push({ type: 'adjusted-setting', setting: 'providerOptions.bfl.safetyTolerance', details: `${label} takes safety_tolerance up to ${traits.maxSafetyTolerance}; ${providerOptions.safetyTolerance} was sent as ${traits.maxSafetyTolerance}` });
    }
    body.safety_tolerance = providerOptions.safetyTolerance === undefined ? undefined : Math.min(providerOptions.safetyTolerance, traits.maxSafetyTolerance);
    body.output_format = providerOptions.outputFormat;
    body.prompt_upsampling = providerOptions.promptUpsampling;
    if (providerOptions.raw !== undefined && !this.modelId.includes('ultra')) {
      warnings.push({ type: 'unsupported-setting', setting: 'providerOptions.bfl.raw', details: `${label} has no raw mode (FLUX1.1 [pro] Ultra only); it was ignored` });
    } else body.raw = providerOptions.raw;
    body.webhook_url = providerOptions.webhookUrl;
    body.webhook_secret = providerOptions.webhookSecret;
    for (const [index, image] of images.entries()) body[index === 0 ? 'input_image' : `input_image_${index + 1}`] = Buffer.from(image.bytes).toString('base64');

    const started = performance.now();
    const json = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
    const submitted = await this.config.client.request(context, { path: `/v1/${this.modelId}`, json, schema: bflSubmitResponseSchema });
    const taskId = submitted.data.id;
    // The polling URL names the region that runs the task; get_result on the base URL is the older way.
    const pollingUrl = submitted.data.polling_url ?? `/v1/get_result?id=${encodeURIComponent(taskId)}`;
    const finished = await pollUntilDone<BflResultResponse>({
      context,
      intervalMs: this.config.pollIntervalMs,
      sleep: this.config.sleep,
      check: async () => {
        const { data } = await this.config.client.request(context, { path: pollingUrl, schema: bflResultResponseSchema });
        if (data.status === 'Ready') return { done: true, value: data };
        this.throwIfFailed(data, taskId, pollingUrl);
        return typeof data.progress === 'number' ? { done: false, step: Math.round(data.progress * 100), steps: 100 } : { done: false };
      },
      onPending: (state) => {
        if (state.step !== undefined && state.steps !== undefined) options.onProgress?.({ imageIndex: request.firstImageIndex, step: state.step, steps: state.steps, elapsedMs: Math.round(performance.now() - started) });
      },
    });
    const generatedMs = Math.round(performance.now() - started);
    const sample = finished.result?.sample;
    if (sample === undefined) throw new InvalidResponseError({ provider: this.provider, url: pollingUrl, message: `bfl reported task ${taskId} Ready without \`result.sample\`; the API may have changed` });
    // The sample URL is signed and expires within minutes: fetched now, without the API key.
    const downloaded = await this.config.client.download(context, sample);
    const promptAsRun = finished.result?.prompt;
    return {
      images: [{ bytes: downloaded.bytes, seed: finished.result?.seed, revisedPrompt: promptAsRun !== undefined && promptAsRun !== options.prompt ? promptAsRun : undefined }],
      requestId: taskId,
      timings: { generation: generatedMs, download: Math.round(performance.now() - started) - generatedMs },
      metadata: { taskId },
    };
  }

  /** Moderation and failures end the task; they are not worth repeating as they are. */
  private throwIfFailed(data: BflResultResponse, taskId: string, url: string): void {
    const details = data.details ? `: ${JSON.stringify(data.details)}` : '';
    const common = { provider: this.provider, url, responseBody: JSON.stringify(data) };
    if (data.status === 'Request Moderated' || data.status === 'Content Moderated') {
      const what = data.status === 'Request Moderated' ? 'the prompt or input image' : 'the generated image';
      throw new ContentPolicyError({ ...common, message: `bfl moderated ${what} of task ${taskId} (${data.status})${details}; change the prompt or input image, or raise providerOptions.bfl.safetyTolerance` });
    }
    if (data.status === 'Error') {
      throw new GenerationFailedError({ ...common, message: `bfl task ${taskId} failed (status Error)${details || ' without details'}` });
    }
    if (data.status === 'Task not found') {
      throw new InvalidRequestError({ ...common, message: `bfl has no task ${taskId} at ${url} (Task not found): it expired, or was polled at another region's host` });
    }
  }
}
