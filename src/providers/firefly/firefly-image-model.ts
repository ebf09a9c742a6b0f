// Adobe Firefly's image models behind the ImageModel contract: text to image and generative fill, as v3 async jobs.
import sharp from 'sharp';
import { z } from 'zod';
import type { ImageModelCheckOptions } from '../../spec/image-model.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { ProviderUnavailableError } from '../../spec/errors/provider-unavailable-error.js';
import type { CallContext } from '../shared/api-client.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type PollingModelConfig, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { encodeMask, type InputImage } from '../shared/image-data.js';
import { pollUntilDone } from '../shared/polling.js';
import { nearestSize } from '../shared/sizes.js';
import type { FireflyAccessToken } from './firefly-access-token.js';
import { contentPolicyCodes, fireflyErrorSchema, fireflyJobAcceptedSchema, fireflyJobStatusSchema, fireflyUploadSchema, type FireflyJobStatus } from './firefly-api.js';
import { fireflyImageOptionsSchema, type FireflyImageOptions } from './firefly-image-options.js';

/** Sent as the `x-model-version` header of text-to-image jobs. */
export type FireflyImageModelId = 'image4_standard' | 'image4_ultra' | 'image3' | 'image4_custom' | 'image3_custom' | (string & {});

// The sizes the API reference lists for each model (GenerateImagesRequestV3 and FillImageRequestV3 `size`).
const image3Sizes = ['2048x2048', '1024x1024', '2304x1792', '1792x2304', '2688x1536', '2688x1512', '1344x768', '1344x756', '1152x896', '896x1152'];
const image4Sizes = ['2048x2048', '2304x1792', '1792x2304', '2688x1536', '1440x2560'];
const fillSizes = ['2048x2048', '1024x1024', '2304x1792', '1792x2304', '2688x1536', '1344x768', '1152x896', '896x1152'];

/** Firefly documents seeds as integers without a range; pixelpipe keeps them within a signed 32-bit integer, which every seed Firefly reports fits. */
const maxSeed = 2n ** 31n - 1n;

/** Job states after which polling stops without images. */
const failedStates = new Set(['failed', 'cancelled', 'canceled', 'timeout']);

/** `{error_code, message, validation_errors}`: policy refusals (and HTTP 451) become ContentPolicyError, `loc` names the field. */
export const readFireflyError: ErrorReader = ({ body, status, text, url, headers }) => {
  const parsed = fireflyErrorSchema.safeParse(body);
  const code = parsed.success ? parsed.data.error_code : undefined;
  if (status === 451 || (code !== undefined && contentPolicyCodes.has(code))) {
    const said = (parsed.success ? parsed.data.message : undefined) ?? code ?? 'no details';
    return { error: new ContentPolicyError({ provider: 'firefly', statusCode: status, url, responseBody: text, message: `firefly refused the request under its content policy (${code ?? `HTTP ${status}`}): ${said}; change the prompt or input image` }) };
  }
  if (!parsed.success) return undefined;
  const first = parsed.data.validation_errors?.[0];
  const field = first?.loc?.filter((part) => part !== 'body').join('.') || undefined;
  const accessError = headers.get('x-access-error');
  const message = [parsed.data.message ?? code, first?.msg, accessError ? `x-access-error: ${accessError}` : undefined].filter(Boolean).join('; ');
  return { message: message || undefined, field };
};

export interface FireflyModelConfig extends PollingModelConfig {
  credentials: FireflyAccessToken;
}

export class FireflyImageModel extends HostedImageModel<FireflyImageOptions> {
  readonly provider = 'firefly';
  /** `numVariations` is 1–4. */
  readonly maxImagesPerCall = 4;
  protected readonly optionsSchema = fireflyImageOptionsSchema;
  protected readonly support: HostedSupport = {
    // Firefly custom models ignore negative prompts (GenerateImagesRequestV3 `negativePrompt`).
    negativePrompt: !this.modelId.endsWith('_custom'),
    seed: true,
    maxSeed,
    images: 1,
    mask: true,
  };

  constructor(
    modelId: string,
    protected override readonly config: FireflyModelConfig,
  ) {
    super(modelId, config);
  }

  protected override cancelNote(): string {
    return '; the job was cancelled at firefly';
  }

  /** Edits are generative fill, which needs a mask; a custom model needs its id. */
  protected override checkModelRules(options: ImageModelCheckOptions, providerOptions: FireflyImageOptions): void {
    const images = options.images ?? 0;
    if (images > 0 && !options.mask) {
      throw new InvalidArgumentError({ argument: 'mask', value: undefined, message: `firefly:${this.modelId} edits by generative fill, which needs a \`mask\` (white = fill); give one with the input image, or leave out \`images\`` });
    }
    if (this.modelId.endsWith('_custom') && images === 0 && providerOptions.customModelId === undefined) {
      throw new InvalidArgumentError({ argument: 'providerOptions.firefly.customModelId', value: undefined, message: `firefly:${this.modelId} runs a Firefly custom model: give its id in \`providerOptions.firefly.customModelId\`` });
    }
  }

  protected async generate(request: HostedRequest<FireflyImageOptions>): Promise<HostedResponse> {
    const { context, images } = request;
    try {
      const auth = await this.config.credentials.headers(this.config.client, context);
      const seeds = this.seeds(request);
      const job = images.length > 0 ? await this.submitFill(request, auth, seeds, images[0]!) : await this.submitGenerate(request, auth, seeds);
      const status = await this.waitFor(request, job, auth);
      const outputs = status.result!.outputs;
      const downloadStarted = performance.now();
      const downloaded = await Promise.all(outputs.map(async (output, index) => ({ bytes: (await this.config.client.download(context, output.image.url)).bytes, seed: output.seed ?? seeds[index] })));
      if (status.result!.promptHasDeniedWords || status.result!.promptHasBlockedArtists) {
        request.warnings.push({ type: 'adjusted-setting', setting: 'prompt', details: `firefly left out part of the prompt: it ${status.result!.promptHasBlockedArtists ? 'names artists Firefly blocks' : 'has words Firefly denies'}` });
      }
      return { images: downloaded, requestId: job.jobId, timings: { download: Math.round(performance.now() - downloadStarted) }, metadata: { jobId: job.jobId } };
    } catch (error) {
      // A 401 means the cached token was revoked or expired early; the next call fetches a new one.
      if (AuthenticationError.isInstance(error) && error.statusCode === 401) this.config.credentials.invalidate();
      throw error;
    }
  }

  /** Seeds for this request's images: seed, seed+1, ... (Firefly wants one per variation, all different). */
  private seeds(request: HostedRequest<FireflyImageOptions>): number[] {
    return Array.from({ length: request.n }, (_, index) => Number((request.seed! + BigInt(index)) % (maxSeed + 1n)));
  }

  private async submitGenerate(request: HostedRequest<FireflyImageOptions>, auth: Record<string, string>, seeds: number[]) {
    const { options, providerOptions, warnings, context } = request;
    const size = nearestSize(this.modelId.startsWith('image3') ? image3Sizes : image4Sizes, options, warnings, `firefly:${this.modelId}`);
    const style = providerOptions.stylePresets || providerOptions.styleStrength !== undefined ? { presets: providerOptions.stylePresets, strength: providerOptions.styleStrength } : undefined;
    const body = compact({
      ...this.commonFields(request, seeds, size),
      contentClass: providerOptions.contentClass,
      visualIntensity: providerOptions.visualIntensity,
      style: style ? compact(style) : undefined,
      customModelId: providerOptions.customModelId,
      upsamplerType: providerOptions.upsamplerType,
    });
    const { data } = await this.config.client.request(context, { path: '/v3/images/generate-async', json: body, schema: fireflyJobAcceptedSchema, headers: { ...auth, 'x-model-version': this.modelId } });
    return data;
  }

  /** Generative fill: the image and a white-is-fill mask are uploaded first, then referenced by upload id. */
  private async submitFill(request: HostedRequest<FireflyImageOptions>, auth: Record<string, string>, seeds: number[], image: InputImage) {
    const { options, warnings, context } = request;
    const asked = options.width !== undefined || options.height !== undefined || options.aspectRatio !== undefined;
    const size = nearestSize(fillSizes, asked ? options : { width: image.width, height: image.height }, warnings, `firefly:${this.modelId} (fill)`);
    const imageId = await this.upload(context, auth, image.mediaType === 'image/gif' ? new Uint8Array(await sharp(image.bytes).png().toBuffer()) : image.bytes, image.mediaType === 'image/gif' ? 'image/png' : image.mediaType);
    const maskId = await this.upload(context, auth, await encodeMask(request.mask!, 'white-edits'), 'image/png');
    const body = compact({
      image: { source: { uploadId: imageId } },
      mask: { source: { uploadId: maskId } },
      ...this.commonFields(request, seeds, size),
    });
    const { data } = await this.config.client.request(context, { path: '/v3/images/fill-async', json: body, schema: fireflyJobAcceptedSchema, headers: auth });
    return data;
  }

  /** The fields text-to-image and fill requests share. */
  private commonFields(request: HostedRequest<FireflyImageOptions>, seeds: number[], size: string | undefined) {
    return {
      prompt: request.options.prompt,
      negativePrompt: this.support.negativePrompt ? request.options.negativePrompt : undefined,
      numVariations: request.n,
      seeds,
      size: size ? sizeObject(size) : undefined,
      promptBiasingLocaleCode: request.providerOptions.locale,
    };
  }

  private async upload(context: CallContext, auth: Record<string, string>, bytes: Uint8Array, mediaType: string): Promise<string> {
    const { data } = await this.config.client.request(context, { path: '/v2/storage/image', raw: { body: bytes, contentType: mediaType }, headers: auth, schema: fireflyUploadSchema });
    return data.images[0]!.id;
  }

  /** Polls the job's status URL until it succeeds; an abort or the deadline cancels it through its cancel URL. */
  private async waitFor(request: HostedRequest<FireflyImageOptions>, job: { jobId: string; statusUrl: string; cancelUrl?: string }, auth: Record<string, string>): Promise<FireflyJobStatus> {
    const { context, options } = request;
    const { client } = this.config;
    return pollUntilDone<FireflyJobStatus>({
      context,
      intervalMs: this.config.pollIntervalMs,
      sleep: this.config.sleep,
      check: async () => {
        const { data } = await client.request(context, { path: job.statusUrl, schema: fireflyJobStatusSchema, headers: auth });
        if (data.status === 'succeeded') {
          if (!data.result || data.result.outputs.length === 0) throw new InvalidResponseError({ provider: this.provider, url: job.statusUrl, message: `firefly job ${job.jobId} succeeded without \`result.outputs\`` });
          return { done: true, value: data };
        }
        if (failedStates.has(data.status)) throw this.jobFailure(data, job);
        return data.progress === undefined ? { done: false } : { done: false, step: Math.round(data.progress), steps: 100 };
      },
      onPending: ({ step, steps }) => {
        if (step !== undefined && steps !== undefined) options.onProgress?.({ imageIndex: request.firstImageIndex, step, steps, elapsedMs: Math.round(performance.now() - request.started) });
      },
      cancel: job.cancelUrl ? (cancelContext) => client.request(cancelContext, { method: 'PUT', path: job.cancelUrl!, schema: z.unknown(), retry: false, headers: auth }) : undefined,
    });
  }

  private jobFailure(status: FireflyJobStatus, job: { jobId: string; statusUrl: string }) {
    const common = { provider: this.provider, url: job.statusUrl, responseBody: JSON.stringify(status) };
    const said = `${status.error_code ?? status.status}${status.message ? `: ${status.message}` : ''}`;
    if (status.error_code !== undefined && contentPolicyCodes.has(status.error_code)) return new ContentPolicyError({ ...common, message: `firefly refused job ${job.jobId} under its content policy (${said}); change the prompt or input image` });
    if (status.error_code === 'validation_error' || status.error_code === 'bad_request') return new InvalidRequestError({ ...common, message: `firefly refused job ${job.jobId} (${said})` });
    return new ProviderUnavailableError({ ...common, message: `firefly job ${job.jobId} ended ${status.status} (${said})` });
  }
}

function sizeObject(size: string): { width: number; height: number } {
  const [width, height] = size.split('x').map(Number) as [number, number];
  return { width, height };
}

/** The object without its undefined fields, so the body holds only what was set. */
function compact<T extends Record<string, unknown>>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}
