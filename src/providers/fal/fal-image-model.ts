// fal's image models behind the ImageModel contract, run through its queue: FLUX schnell, dev and pro 1.1, or any model id.
import { z } from 'zod';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { CallContext } from '../shared/api-client.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type PollingModelConfig, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { decodeBase64 } from '../shared/image-data.js';
import { pollUntilDone } from '../shared/polling.js';
import { nearestAspectRatio } from '../shared/sizes.js';
import { contentPolicyErrorType, falErrorSchema, falImageResultSchema, falStatusSchema, falSubmitSchema, imageSizePresets } from './fal-api.js';
import { falImageOptionsSchema, type FalImageOptions } from './fal-image-options.js';

export type FalImageModelId = 'fal-ai/flux/schnell' | 'fal-ai/flux/dev' | 'fal-ai/flux-pro/v1.1' | (string & {});

/** What pixelpipe knows of a FLUX endpoint's inputs, from its API page (https://fal.ai/models/fal-ai/flux/dev/api). */
interface FluxInputs {
  /** Takes `num_inference_steps`. */
  steps?: boolean;
  /** Takes `guidance_scale`. */
  guidance?: boolean;
  /** The provider options it has. */
  options: readonly (keyof typeof optionInputs)[];
}

const optionInputs = { outputFormat: 'output_format', enableSafetyChecker: 'enable_safety_checker', safetyTolerance: 'safety_tolerance', enhancePrompt: 'enhance_prompt', acceleration: 'acceleration', syncMode: 'sync_mode' } as const;
const openFluxOptions = ['outputFormat', 'enableSafetyChecker', 'acceleration', 'syncMode'] as const;

const fluxModels: Record<string, FluxInputs> = {
  'fal-ai/flux/schnell': { steps: true, options: openFluxOptions },
  'fal-ai/flux/dev': { steps: true, guidance: true, options: openFluxOptions },
  'fal-ai/flux-pro/v1.1': { options: ['outputFormat', 'enableSafetyChecker', 'safetyTolerance', 'enhancePrompt', 'syncMode'] },
};

/** Reads `{detail: [{loc, msg, type}]}` and `{detail, error_type}`: content_policy_violation becomes ContentPolicyError, `loc` names the field. */
export const readFalError: ErrorReader = ({ body, status, text, url }) => {
  const parsed = falErrorSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { detail, error_type: errorType } = parsed.data;
  if (typeof detail === 'string') return { message: errorType ? `${detail} (${errorType})` : detail };
  const message = detail.map((item) => item.msg ?? item.type).filter(Boolean).join('; ') || undefined;
  if (detail.some((item) => item.type === contentPolicyErrorType)) {
    return { error: new ContentPolicyError({ provider: 'fal', statusCode: status, url, responseBody: text, message: `fal refused the request under its content policy: ${message ?? 'no details'}; change the prompt or input image` }) };
  }
  const location = detail.find((item) => item.loc?.[0] === 'body' && item.loc.length > 1)?.loc;
  return { message, field: location?.slice(1).join('.') };
};

export class FalImageModel extends HostedImageModel<FalImageOptions> {
  readonly provider = 'fal';
  protected readonly optionsSchema = falImageOptionsSchema;
  private readonly flux: FluxInputs | undefined = fluxModels[this.modelId];
  protected readonly support: HostedSupport = {
    seed: true,
    // The schemas give seeds no bound; 32 bits is what every FLUX deployment takes.
    maxSeed: 2n ** 32n - 1n,
    steps: this.flux?.steps === true,
    guidance: this.flux?.guidance === true,
  };

  constructor(modelId: string, private readonly polling: PollingModelConfig) {
    super(modelId, polling);
  }

  /** FLUX makes up to 4 per request (`num_images`); other models are asked for one image at a time. */
  get maxImagesPerCall(): number {
    return this.flux ? 4 : 1;
  }

  protected override cancelNote(): string {
    return '; the request was cancelled in fal\'s queue';
  }

  protected override checkModelRules(): void {
    if (!/^[\w.-]+\/[\w.-]+(\/[\w./-]+)?$/.test(this.modelId)) {
      throw new InvalidArgumentError({ argument: 'model', value: this.modelId, message: `\`model\`: fal model ids look like owner/app or owner/app/path (e.g. fal:fal-ai/flux/dev), got ${JSON.stringify(this.modelId)}` });
    }
  }

  protected async generate(request: HostedRequest<FalImageOptions>): Promise<HostedResponse> {
    const started = performance.now();
    const { context } = request;
    const { client } = this.config;
    const submitted = await client.request(context, { path: `/${this.modelId}`, json: this.inputOf(request), schema: falSubmitSchema });
    const { request_id: requestId, status_url: statusUrl, response_url: responseUrl, cancel_url: cancelUrl } = submitted.data;
    let runningAt: number | undefined;
    await pollUntilDone({
      context,
      intervalMs: this.polling.pollIntervalMs,
      sleep: this.polling.sleep,
      // Removes a queued request; one already running gets a cancellation signal (https://fal.ai/docs/inference-api/queue/cancel).
      cancel: (cancelContext: CallContext) => client.request(cancelContext, { method: 'PUT', path: cancelUrl, schema: z.unknown(), retry: false }),
      check: async () => {
        const { data } = await client.request(context, { path: statusUrl, schema: falStatusSchema });
        if (data.status !== 'IN_QUEUE') runningAt ??= performance.now();
        // The queue position is not progress through the steps, so nothing is reported until the result.
        return data.status === 'COMPLETED' ? { done: true, value: data } : { done: false };
      },
    });
    const { data: result } = await client.request(context, { path: responseUrl, schema: falImageResultSchema });
    const label = `fal:${this.modelId} request ${requestId}`;
    const flagged = result.has_nsfw_concepts ?? [];
    const kept = result.images.filter((_, index) => flagged[index] !== true);
    if (kept.length === 0 && result.images.length > 0) {
      throw new ContentPolicyError({ provider: this.provider, url: responseUrl, message: `${label}: fal's safety checker flagged every image (${result.images.length}) and blacked it out; change the prompt` });
    }
    if (kept.length < result.images.length) {
      request.warnings.push({ type: 'other', message: `${label}: fal's safety checker flagged ${result.images.length - kept.length} of ${result.images.length} images and blacked them out; they were left out` });
    }
    const downloadStarted = performance.now();
    const images = await Promise.all(kept.map(async ({ url }) => ({
      bytes: url.startsWith('data:') ? decodeBase64(url) : (await client.download(context, url)).bytes,
      // fal reports one seed per request; it remakes the image only when the request made one.
      seed: request.n === 1 && result.seed != null ? result.seed : undefined,
    })));
    const inference = result.timings?.inference;
    return {
      images,
      requestId,
      timings: {
        queue: Math.round((runningAt ?? downloadStarted) - started),
        ...(inference !== undefined ? { inference: Math.round(inference * 1000) } : {}),
        download: Math.round(performance.now() - downloadStarted),
      },
    };
  }

  /** The request body: generic options mapped to FLUX's names, then `providerOptions.fal.input` on top. */
  private inputOf(request: HostedRequest<FalImageOptions>): Record<string, unknown> {
    const { options, providerOptions, warnings, seed } = request;
    const { flux } = this;
    const label = `fal:${this.modelId}`;
    const input: Record<string, unknown> = { prompt: options.prompt, seed: seed === undefined ? undefined : Number(seed) };
    if (flux) {
      input.num_images = request.n;
      if (request.n > 1 && options.seed !== undefined && !warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'seed')) {
        warnings.push({ type: 'adjusted-setting', setting: 'seed', details: `${label} makes the ${request.n} images of one request from one seed (${seed}), not from seed, seed+1, ...; only one-image requests record a seed that remakes the image` });
      }
      input.image_size = this.imageSizeOf(options, providerOptions, warnings);
      if (flux.steps) input.num_inference_steps = options.steps;
      if (flux.guidance) input.guidance_scale = options.guidance;
      for (const key of flux.options) if (providerOptions[key] !== undefined) input[optionInputs[key]] = key === 'safetyTolerance' ? String(providerOptions[key]) : providerOptions[key];
    } else if (options.width !== undefined || options.height !== undefined || options.aspectRatio !== undefined || providerOptions.imageSize !== undefined) {
      warnings.push({ type: 'unsupported-setting', setting: options.aspectRatio !== undefined ? 'aspectRatio' : 'size', details: `pixelpipe does not know the size inputs of ${label}; set them in providerOptions.fal.input` });
    }
    for (const key of Object.keys(optionInputs) as (keyof typeof optionInputs)[]) {
      if (providerOptions[key] !== undefined && !flux?.options.includes(key)) {
        warnings.push({ type: 'unsupported-setting', setting: `providerOptions.fal.${key}`, details: `${label} has no ${optionInputs[key]} input; it was not sent (providerOptions.fal.input sends any input as is)` });
      }
    }
    Object.assign(input, providerOptions.input);
    return Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
  }

  /** A preset from `imageSize`, the exact width × height, or the preset nearest the aspect ratio; undefined keeps fal's default (landscape_4_3). */
  private imageSizeOf(options: ImageModelCallOptions, providerOptions: FalImageOptions, warnings: ImageModelWarning[]): string | { width: number; height: number } | undefined {
    const label = `fal:${this.modelId}`;
    if (providerOptions.imageSize !== undefined) {
      if (options.width !== undefined || options.height !== undefined || options.aspectRatio !== undefined) {
        warnings.push({ type: 'adjusted-setting', setting: options.aspectRatio !== undefined ? 'aspectRatio' : 'size', details: `${label}: providerOptions.fal.imageSize ${providerOptions.imageSize} was sent instead` });
      }
      return providerOptions.imageSize;
    }
    if (options.aspectRatio === undefined && options.width !== undefined && options.height !== undefined) return { width: options.width, height: options.height };
    const ratio = nearestAspectRatio(Object.keys(imageSizePresets), options, warnings, label);
    return ratio === undefined ? undefined : imageSizePresets[ratio as keyof typeof imageSizePresets];
  }
}
