// Replicate's image models behind the ImageModel contract: FLUX schnell, dev and 1.1 pro, or any model by name or version.
import { z } from 'zod';
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { GenerationFailedError } from '../../spec/errors/generation-failed-error.js';
import type { CallContext } from '../shared/api-client.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type PollingModelConfig, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { decodeBase64, toDataUri } from '../shared/image-data.js';
import { pollUntilDone } from '../shared/polling.js';
import { nearestAspectRatio, requestedRatio } from '../shared/sizes.js';
import { contentPolicyWording, finishedStatuses, replicateErrorSchema, replicatePredictionSchema, type ReplicatePrediction } from './replicate-api.js';
import { replicateImageOptionsSchema, type ReplicateImageOptions } from './replicate-image-options.js';

export type ReplicateImageModelId = 'black-forest-labs/flux-schnell' | 'black-forest-labs/flux-dev' | 'black-forest-labs/flux-1.1-pro' | (string & {});

/** What pixelpipe knows of a FLUX model's inputs, from its "API" tab (https://replicate.com/black-forest-labs/flux-dev/api). */
interface FluxInputs {
  aspectRatios: readonly string[];
  /** Most images one prediction makes (`num_outputs`); 1 means the model has no such input. */
  maxOutputs: number;
  /** Range of `num_inference_steps`, when the model takes it. */
  steps?: { min: number; max: number };
  /** Range of `guidance`, when the model takes it. */
  guidance?: { min: number; max: number };
  /** Takes `image` and `prompt_strength` (image-to-image; the output takes the input's aspect ratio). */
  editing?: boolean;
  /** Sized by aspect ratio and `megapixels` (1 or 0.25). */
  megapixels?: boolean;
  /** Takes aspect_ratio `custom` with `width` and `height` from 256 to 1440. */
  customSize?: boolean;
  /** The provider options it has. */
  options: readonly (keyof typeof optionInputs)[];
}

const optionInputs = { outputFormat: 'output_format', outputQuality: 'output_quality', goFast: 'go_fast', megapixels: 'megapixels', disableSafetyChecker: 'disable_safety_checker', safetyTolerance: 'safety_tolerance', promptUpsampling: 'prompt_upsampling' } as const;
const openFluxOptions = ['outputFormat', 'outputQuality', 'goFast', 'megapixels', 'disableSafetyChecker'] as const;
const openFluxRatios = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'];

const fluxModels: Record<string, FluxInputs> = {
  'black-forest-labs/flux-schnell': { aspectRatios: openFluxRatios, maxOutputs: 4, steps: { min: 1, max: 4 }, megapixels: true, options: openFluxOptions },
  'black-forest-labs/flux-dev': { aspectRatios: openFluxRatios, maxOutputs: 4, steps: { min: 1, max: 50 }, guidance: { min: 0, max: 10 }, editing: true, megapixels: true, options: openFluxOptions },
  'black-forest-labs/flux-1.1-pro': { aspectRatios: ['1:1', '16:9', '3:2', '2:3', '4:5', '5:4', '9:16', '3:4', '4:3'], maxOutputs: 1, customSize: true, options: ['outputFormat', 'outputQuality', 'safetyTolerance', 'promptUpsampling'] },
};

/** Pixels of FLUX's nominal 1 megapixel (a 1024 × 1024 square). */
const megapixel = 1024 * 1024;

/** `owner/name` and, for `owner/name:version`, the version id. */
function parseModelId(modelId: string): { name: string; version?: string } {
  const [name = '', version] = modelId.split(':');
  if (!/^[\w.-]+\/[\w.-]+$/.test(name) || (version !== undefined && !/^\w+$/.test(version))) {
    throw new InvalidArgumentError({ argument: 'model', value: modelId, message: `\`model\`: replicate model ids look like owner/name or owner/name:version (e.g. replicate:black-forest-labs/flux-schnell), got ${JSON.stringify(modelId)}` });
  }
  return { name, version };
}

/** The last `step/steps [` counter a tqdm progress bar wrote to the logs. */
function progressOf(logs: string | null | undefined): { step?: number; steps?: number } {
  const last = [...(logs ?? '').matchAll(/(\d+)\/(\d+) \[/g)].at(-1);
  const step = Number(last?.[1]);
  const steps = Number(last?.[2]);
  return steps > 0 && step <= steps ? { step, steps } : {};
}

/** The output's file URLs (https:// or data:); FLUX returns one URL or a list of them. */
function outputUrls(output: unknown): string[] {
  const items = Array.isArray(output) ? output : [output];
  return items.filter((item): item is string => typeof item === 'string' && /^(https?|data):/.test(item));
}

const clamp = (value: number, { min, max }: { min: number; max: number }) => Math.min(max, Math.max(min, value));

/** Reads problem details: safety refusals become ContentPolicyError, `invalid_fields` names the field. */
export const readReplicateError: ErrorReader = ({ body, status, text, url }) => {
  const parsed = replicateErrorSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { title, detail, invalid_fields: invalidFields = [] } = parsed.data;
  const message = [detail ?? title, ...invalidFields.map((field) => field.description)].filter(Boolean).join('; ') || undefined;
  if (status < 500 && status !== 429 && message && contentPolicyWording.test(message)) {
    return { error: new ContentPolicyError({ provider: 'replicate', statusCode: status, url, responseBody: text, message: `replicate refused the request under its content policy: ${message}; change the prompt or input image` }) };
  }
  return { message, field: invalidFields.find((field) => field.field)?.field };
};

export class ReplicateImageModel extends HostedImageModel<ReplicateImageOptions> {
  readonly provider = 'replicate';
  protected readonly optionsSchema = replicateImageOptionsSchema;
  private readonly flux: FluxInputs | undefined = fluxModels[this.modelId.split(':')[0]!];
  protected readonly support: HostedSupport = {
    seed: true,
    // The schemas give seeds no bound; 32 bits is what every FLUX deployment takes.
    maxSeed: 2n ** 32n - 1n,
    steps: this.flux?.steps !== undefined,
    guidance: this.flux?.guidance !== undefined,
    images: this.flux?.editing ? 1 : 0,
    strength: this.flux?.editing === true,
  };

  constructor(modelId: string, private readonly polling: PollingModelConfig) {
    super(modelId, polling);
  }

  /** FLUX schnell and dev make up to 4 per prediction; other models are asked for one image at a time. */
  get maxImagesPerCall(): number {
    return this.flux?.maxOutputs ?? 1;
  }

  protected override cancelNote(): string {
    return '; a running prediction was cancelled at replicate';
  }

  protected override checkModelRules(): void {
    parseModelId(this.modelId);
  }

  protected async generate(request: HostedRequest<ReplicateImageOptions>): Promise<HostedResponse> {
    const started = performance.now();
    const { context, options } = request;
    const { client } = this.config;
    const { name, version } = parseModelId(this.modelId);
    const { input, settings } = this.inputOf(request);
    // Sync mode: Replicate holds the request open (up to 60 s) and usually answers with the finished prediction.
    const created = await client.request(context, { path: version ? '/predictions' : `/models/${name}/predictions`, json: version ? { version, input } : { input }, headers: { prefer: 'wait' }, schema: replicatePredictionSchema });
    const { urls } = created.data;
    let prediction = created.data;
    // A sync answer may still say `processing` once every output file exists (https://replicate.com/docs/topics/predictions/create-a-prediction).
    if (!finishedStatuses.has(prediction.status) && outputUrls(prediction.output).length === 0) {
      let reported: number | undefined;
      prediction = await pollUntilDone<ReplicatePrediction>({
        context,
        intervalMs: this.polling.pollIntervalMs,
        sleep: this.polling.sleep,
        cancel: (cancelContext: CallContext) => client.request(cancelContext, { method: 'POST', path: urls.cancel, schema: z.unknown(), retry: false }),
        check: async () => {
          const { data } = await client.request(context, { path: urls.get, schema: replicatePredictionSchema });
          return finishedStatuses.has(data.status) ? { done: true, value: data } : { done: false, ...progressOf(data.logs) };
        },
        onPending: ({ step, steps }) => {
          if (step === undefined || steps === undefined || step === reported) return;
          reported = step;
          options.onProgress?.({ imageIndex: request.firstImageIndex, step, steps, elapsedMs: Math.round(performance.now() - started) });
        },
      });
    }
    const files = this.filesOf(prediction);
    const downloadStarted = performance.now();
    const images = await Promise.all(files.map(async (url) => ({ bytes: url.startsWith('data:') ? decodeBase64(url) : (await client.download(context, url)).bytes })));
    if (images.length < request.n) {
      const why = /nsfw/i.test(prediction.logs ?? '') ? '; its safety checker dropped the outputs it flagged' : '';
      request.warnings.push({ type: 'other', message: `replicate:${this.modelId} prediction ${prediction.id} returned ${images.length} of the ${request.n} images asked for${why}` });
    }
    const predictTime = prediction.metrics?.predict_time;
    return {
      images,
      requestId: prediction.id,
      timings: { ...(predictTime !== undefined ? { inference: Math.round(predictTime * 1000) } : {}), download: Math.round(performance.now() - downloadStarted) },
      settings,
    };
  }

  /** The output URLs of a finished prediction, or the typed error its status stands for. */
  private filesOf(prediction: ReplicatePrediction): string[] {
    const label = `replicate:${this.modelId} prediction ${prediction.id}`;
    if (prediction.status === 'failed') {
      const said = typeof prediction.error === 'string' ? prediction.error : JSON.stringify(prediction.error ?? 'no error message');
      const common = { provider: this.provider, url: prediction.urls.get, responseBody: prediction.logs ?? undefined };
      if (contentPolicyWording.test(said)) throw new ContentPolicyError({ ...common, message: `${label} was refused by the model's safety checker: ${said}; change the prompt or input image` });
      throw new GenerationFailedError({ ...common, message: `${label} failed: ${said}` });
    }
    if (prediction.status === 'canceled' || prediction.status === 'aborted') {
      throw new AbortedError({ message: `${label} was ${prediction.status === 'aborted' ? 'aborted before it started' : 'canceled'} at replicate (not by this call)` });
    }
    const files = outputUrls(prediction.output);
    if (files.length === 0) {
      throw new InvalidResponseError({ provider: this.provider, url: prediction.urls.get, message: `${label} succeeded without an image URL in \`output\` (got ${JSON.stringify(prediction.output)?.slice(0, 200)}); is it an image model?` });
    }
    return files;
  }

  /** The model's `input`: generic options mapped to FLUX's names, then `providerOptions.replicate.input` on top. */
  private inputOf(request: HostedRequest<ReplicateImageOptions>): { input: Record<string, unknown>; settings: HostedResponse['settings'] } {
    const { options, providerOptions, warnings, images, seed } = request;
    const { flux } = this;
    const label = `replicate:${this.modelId}`;
    const input: Record<string, unknown> = { prompt: options.prompt, seed: seed === undefined ? undefined : Number(seed) };
    const settings: NonNullable<HostedResponse['settings']> = {};
    if (flux) {
      if (flux.maxOutputs > 1) input.num_outputs = request.n;
      if (request.n > 1 && options.seed !== undefined && !warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'seed')) {
        warnings.push({ type: 'adjusted-setting', setting: 'seed', details: `${label} makes the ${request.n} images of one prediction from one seed (${seed}), not from seed, seed+1, ...; only one-image predictions record a seed that remakes the image` });
      }
      if (flux.steps && options.steps !== undefined) settings.steps = input.num_inference_steps = this.fitted('steps', options.steps, flux.steps, warnings);
      if (flux.guidance && options.guidance !== undefined) settings.guidance = input.guidance = this.fitted('guidance', options.guidance, flux.guidance, warnings);
      const [image] = images;
      if (image) {
        input.image = toDataUri(image);
        if (options.strength !== undefined) input.prompt_strength = options.strength;
        const ratio = requestedRatio(options);
        if (ratio !== undefined && Math.abs(Math.log(ratio / (image.width / image.height))) > 0.01) {
          warnings.push({ type: 'adjusted-setting', setting: options.aspectRatio !== undefined ? 'aspectRatio' : 'size', details: `${label} keeps the input image's aspect ratio (${image.width}x${image.height}) when editing` });
        }
      } else Object.assign(input, this.sizeInputs(flux, options, providerOptions, warnings));
      for (const key of flux.options) if (providerOptions[key] !== undefined) input[optionInputs[key]] = providerOptions[key];
    } else if (options.width !== undefined || options.height !== undefined || options.aspectRatio !== undefined) {
      warnings.push({ type: 'unsupported-setting', setting: options.aspectRatio !== undefined ? 'aspectRatio' : 'size', details: `pixelpipe does not know the size inputs of ${label}; set them in providerOptions.replicate.input` });
    }
    for (const key of Object.keys(optionInputs) as (keyof typeof optionInputs)[]) {
      if (providerOptions[key] !== undefined && !flux?.options.includes(key)) {
        warnings.push({ type: 'unsupported-setting', setting: `providerOptions.replicate.${key}`, details: `${label} has no ${optionInputs[key]} input; it was not sent (providerOptions.replicate.input sends any input as is)` });
      }
    }
    Object.assign(input, providerOptions.input);
    return { input: Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)), settings };
  }

  /** A value clamped to the model's range, with a warning when it moved. */
  private fitted(setting: 'steps' | 'guidance', value: number, range: { min: number; max: number }, warnings: ImageModelWarning[]): number {
    const fitted = clamp(value, range);
    if (fitted !== value) warnings.push({ type: 'adjusted-setting', setting, details: `replicate:${this.modelId} takes ${setting} from ${range.min} to ${range.max}; ${value} was sent as ${fitted}` });
    return fitted;
  }

  /** `aspect_ratio` (nearest of the model's list), `megapixels`, or a custom width × height on flux-1.1-pro. */
  private sizeInputs(flux: FluxInputs, options: ImageModelCallOptions, providerOptions: ReplicateImageOptions, warnings: ImageModelWarning[]): Record<string, unknown> {
    const label = `replicate:${this.modelId}`;
    const { width, height } = options;
    const inCustomRange = (side: number) => side >= 256 && side <= 1440;
    if (flux.customSize && options.aspectRatio === undefined && width !== undefined && height !== undefined && inCustomRange(width) && inCustomRange(height)) {
      const rounded = { width: Math.round(width / 32) * 32, height: Math.round(height / 32) * 32 };
      if (rounded.width !== width || rounded.height !== height) warnings.push({ type: 'adjusted-setting', setting: 'size', details: `${label} takes custom sizes in multiples of 32; ${width}x${height} was sent as ${rounded.width}x${rounded.height}` });
      return { aspect_ratio: 'custom', ...rounded };
    }
    const aspectRatio = nearestAspectRatio(flux.aspectRatios, options, warnings, label);
    const megapixels = flux.megapixels ? (providerOptions.megapixels ?? (width !== undefined && height !== undefined && width * height <= megapixel / 2 ? '0.25' : undefined)) : undefined;
    if (width !== undefined && height !== undefined) {
      const made = Number(megapixels ?? '1') * megapixel;
      if (Math.abs(Math.log((width * height) / made)) > Math.log(1.1)) {
        const scales = flux.megapixels ? 'about 1 or 0.25 megapixels' : flux.customSize ? 'about 1 megapixel, or custom sizes from 256 to 1440 a side' : 'about 1 megapixel';
        warnings.push({ type: 'adjusted-setting', setting: 'size', details: `${label} makes ${scales}; ${width}x${height} was sent as aspect ratio ${aspectRatio} at ${megapixels ?? '1'} megapixel` });
      }
    }
    return { aspect_ratio: aspectRatio, megapixels };
  }
}
