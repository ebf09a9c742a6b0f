// Stability AI's Stable Image models (Core, Ultra, SD 3.5) behind the ImageModel contract: text to image, image to image, inpaint, outpaint.
import type { CanvasExtension, ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import type { ImageModelCheckOptions } from '../../spec/image-model.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { decodeBase64, encodeMask } from '../shared/image-data.js';
import { nearestAspectRatio, parseAspectRatio } from '../shared/sizes.js';
import { contentPolicyNames, stabilityErrorSchema, stabilityImageResponseSchema } from './stability-api.js';
import { stabilityImageOptionsSchema, type StabilityImageOptions } from './stability-image-options.js';

export type StabilityImageModelId = 'core' | 'ultra' | 'sd3.5-large' | 'sd3.5-large-turbo' | 'sd3.5-medium' | (string & {});

/** The ratios every generate endpoint takes (components.schemas.AspectRatio). */
const aspectRatios = ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'];

/** What Ultra and SD 3.5 make for each ratio (about 1 MP), as Stability's own ComfyUI nodes list them. Core's sizes are not published. */
const oneMegapixelSizes: Record<string, string> = {
  '1:1': '1024x1024', '5:4': '1088x896', '3:2': '1216x832', '16:9': '1344x768', '21:9': '1536x640',
  '4:5': '896x1088', '2:3': '832x1216', '9:16': '768x1344', '9:21': '640x1536',
};

/** Seeds run from 0 to 4294967294; 0 asks Stability to pick one, and its answer says which it used. */
const maxSeed = 4_294_967_294n;

/** Image to image needs `strength` and the API has no default; Stability's own ComfyUI nodes start from this value. */
export const stabilityDefaultStrength = 0.7;

/** Outpainting adds 0 to 2000 pixels a side. */
const maxExtension = 2000;

/** SD 3.5's `cfg_scale` range. */
const cfgScale = { min: 1, max: 10 };

type Operation = 'text-to-image' | 'image-to-image' | 'inpaint' | 'outpaint';

const isSd3 = (modelId: string) => modelId.startsWith('sd3');

/** Reads `{id, name, errors}`: moderation refusals become ContentPolicyError; `errors[0]` names the field (`aspect_ratio: must be ...`). */
export const readStabilityError: ErrorReader = ({ body, status, text, url }) => {
  const parsed = stabilityErrorSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { name, errors = [] } = parsed.data;
  const said = errors.join('; ') || undefined;
  if (name !== undefined && contentPolicyNames.has(name)) {
    return { error: new ContentPolicyError({ provider: 'stability', statusCode: status, url, responseBody: text, message: `stability refused the request under its content policy (${name}): ${said ?? 'no details'}; change the prompt or input image` }) };
  }
  const field = /^([a-z_][a-z0-9_]*):\s/i.exec(errors[0] ?? '')?.[1];
  return { message: said === undefined ? name : `${name ? `${name}: ` : ''}${said}`, field: field === 'body' ? undefined : field };
};

export class StabilityImageModel extends HostedImageModel<StabilityImageOptions> {
  readonly provider = 'stability';
  /** Every endpoint makes one image per request. */
  readonly maxImagesPerCall = 1;
  protected readonly optionsSchema = stabilityImageOptionsSchema;
  protected readonly support: HostedSupport = {
    negativePrompt: true,
    seed: true,
    maxSeed,
    guidance: isSd3(this.modelId),
    images: 1,
    mask: true,
    // Core has no image to image; Ultra and SD 3.5 take `strength` with an input image.
    strength: this.modelId !== 'core',
    extend: true,
  };

  protected override cancelNote(): string {
    return '; Stability AI has no cancel endpoint, so the generation may still finish (and be billed) on its side';
  }

  /** The model id, the endpoint the inputs select and the extension's sides: what the API would refuse, refused before a request. */
  protected override checkModelRules(options: ImageModelCheckOptions): void {
    this.generateEndpoint();
    this.operationOf(options, (options.images ?? 0) > 0, options.mask === true);
    if (options.extend !== undefined) this.extensionOf(options.extend);
  }

  protected async generate(request: HostedRequest<StabilityImageOptions>): Promise<HostedResponse> {
    const { options, providerOptions, context } = request;
    const endpoint = this.generateEndpoint();
    const operation = this.operationOf(options, request.images.length > 0, request.mask !== undefined);
    this.warnAboutUnused(request, operation);
    const fields: Record<string, string | number | undefined> = {
      prompt: options.prompt,
      seed: request.seed === undefined ? undefined : request.seed.toString(),
      output_format: providerOptions.outputFormat,
      style_preset: providerOptions.stylePreset,
    };
    const form = new FormData();
    const image = request.images[0];
    let path: string;
    if (operation === 'outpaint') {
      path = '/v2beta/stable-image/edit/outpaint';
      Object.assign(fields, this.extensionOf(options.extend!), { creativity: providerOptions.creativity });
    } else {
      fields.negative_prompt = options.negativePrompt;
      if (operation === 'inpaint') {
        path = '/v2beta/stable-image/edit/inpaint';
        fields.grow_mask = providerOptions.growMask;
        // White regenerates, black keeps; the mask is sent at the input image's size.
        form.append('mask', new Blob([await encodeMask(request.mask!, 'white-edits', image)], { type: 'image/png' }), 'mask.png');
      } else {
        path = endpoint.path;
        fields.model = endpoint.model;
        fields.cfg_scale = this.cfgScaleOf(options.guidance, request.warnings);
        if (operation === 'image-to-image') {
          // SD 3.5 is told the mode; Ultra switches to image to image when it gets an image.
          if (endpoint.model !== undefined) fields.mode = 'image-to-image';
          fields.strength = options.strength ?? stabilityDefaultStrength;
        } else {
          fields.aspect_ratio = this.aspectRatioOf(options, request.warnings);
        }
      }
    }
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) form.append(key, String(value));
    if (image) form.append('image', new Blob([image.bytes], { type: image.mediaType }), image.filename);
    const response = await this.config.client.request(context, { path, form, schema: stabilityImageResponseSchema, headers: { accept: 'application/json' } });
    const { data } = response;
    if (data.finish_reason === 'CONTENT_FILTERED') {
      throw new ContentPolicyError({ provider: this.provider, statusCode: response.status, url: this.config.client.url(path), message: `stability filtered the result of stability:${this.modelId} under its content policy (finish_reason CONTENT_FILTERED: the image came back blurred); change the prompt or input image` });
    }
    return {
      images: [{ bytes: decodeBase64(data.image), seed: data.seed }],
      requestId: response.headers.get('x-request-id') ?? undefined,
      // Inpaint and outpaint are priced per operation, whatever the model id.
      priceVariant: operation === 'inpaint' || operation === 'outpaint' ? operation : undefined,
      metadata: { finishReason: data.finish_reason, endpoint: path },
    };
  }

  /** The generate endpoint of this model id; SD 3.5 models share one and are told apart by `model`. */
  private generateEndpoint(): { path: string; model?: string } {
    if (this.modelId === 'core' || this.modelId === 'ultra') return { path: `/v2beta/stable-image/generate/${this.modelId}` };
    if (isSd3(this.modelId)) return { path: '/v2beta/stable-image/generate/sd3', model: this.modelId };
    throw new InvalidArgumentError({ argument: 'model', value: this.modelId, message: `\`model\` stability:${this.modelId} names no Stability AI model; use stability:core, ultra, sd3.5-large, sd3.5-large-turbo or sd3.5-medium` });
  }

  /** Which endpoint the call's inputs select; refuses combinations no endpoint takes, before anything is sent. */
  private operationOf(options: Pick<ImageModelCallOptions, 'extend'>, hasImage: boolean, hasMask: boolean): Operation {
    if (options.extend !== undefined) {
      if (!hasImage) throw new InvalidArgumentError({ argument: 'extend', value: options.extend, message: `\`extend\` (${JSON.stringify(options.extend)}) grows an input image: give one in \`images\`` });
      if (hasMask) throw new InvalidArgumentError({ argument: 'extend', value: options.extend, message: `\`extend\` (${JSON.stringify(options.extend)}) builds its own mask from the new area; give either \`mask\` (inpainting) or \`extend\` (outpainting), not both` });
      return 'outpaint';
    }
    if (hasMask) return 'inpaint';
    if (!hasImage) return 'text-to-image';
    if (this.modelId === 'core') {
      throw new InvalidArgumentError({ argument: 'images', value: '1 image', message: '`images`: stability:core makes images from text only, and an input image needs a `mask` (inpainting) or `extend` (outpainting) with it; give one, or use ultra or an sd3.5 model for image to image' });
    }
    return 'image-to-image';
  }

  /** `extend` as the outpaint endpoint's `left`, `right`, `up` and `down`, each 0–2000, at least one above 0. */
  private extensionOf(extend: CanvasExtension): { left: number; right: number; up: number; down: number } {
    const sides = { left: extend.left ?? 0, right: extend.right ?? 0, top: extend.top ?? 0, bottom: extend.bottom ?? 0 };
    for (const [side, value] of Object.entries(sides)) {
      if (!Number.isInteger(value) || value < 0 || value > maxExtension) {
        throw new InvalidArgumentError({ argument: `extend.${side}`, value, message: `\`extend.${side}\` must be a whole number of pixels from 0 to ${maxExtension} for stability, got ${value}` });
      }
    }
    if (Object.values(sides).every((value) => value === 0)) throw new InvalidArgumentError({ argument: 'extend', value: extend, message: '`extend` adds nothing: give at least one side, e.g. {"right": 128}' });
    return { left: sides.left, right: sides.right, up: sides.top, down: sides.bottom };
  }

  /** Text to image is sized by aspect ratio; the model picks the pixel count, so a width × height it does not make is warned about. */
  private aspectRatioOf(options: ImageModelCallOptions, warnings: ImageModelWarning[]): string | undefined {
    const label = `stability:${this.modelId}`;
    const found: ImageModelWarning[] = [];
    const ratio = nearestAspectRatio(aspectRatios, options, found, label);
    const { width, height } = options;
    if (ratio !== undefined && options.aspectRatio === undefined && width !== undefined && height !== undefined && Math.abs(parseAspectRatio(ratio) - width / height) < 0.005) {
      const made = this.modelId === 'core' ? undefined : oneMegapixelSizes[ratio];
      if (made !== `${width}x${height}`) found.push({ type: 'adjusted-setting', setting: 'size', details: `${label} is sized by aspect ratio and makes ${made ?? 'about 1.5 MP'} at ${ratio}; ${width}x${height} was sent as ${ratio}` });
    }
    warnings.push(...found);
    return ratio;
  }

  /** SD 3.5's `cfg_scale`, kept within 1–10. */
  private cfgScaleOf(guidance: number | undefined, warnings: ImageModelWarning[]): number | undefined {
    if (guidance === undefined || !this.support.guidance) return undefined;
    const clamped = Math.min(cfgScale.max, Math.max(cfgScale.min, guidance));
    if (clamped !== guidance) warnings.push({ type: 'adjusted-setting', setting: 'guidance', details: `stability:${this.modelId} takes cfg_scale from ${cfgScale.min} to ${cfgScale.max}; ${guidance} was sent as ${clamped}` });
    return clamped;
  }

  /** Settings the chosen endpoint has no field for: the base class warned about the model, this warns about the operation. */
  private warnAboutUnused({ options, providerOptions, warnings }: HostedRequest<StabilityImageOptions>, operation: Operation): void {
    const label = `stability:${this.modelId} (${operation})`;
    const unused: string[] = [];
    if (operation === 'inpaint' || operation === 'outpaint') {
      if (options.strength !== undefined && this.support.strength) unused.push('strength');
      if (options.guidance !== undefined && this.support.guidance) unused.push('guidance');
    }
    if (operation === 'outpaint' && options.negativePrompt !== undefined) unused.push('negativePrompt');
    if (providerOptions.growMask !== undefined && operation !== 'inpaint') unused.push('providerOptions.stability.growMask');
    if (providerOptions.creativity !== undefined && operation !== 'outpaint') unused.push('providerOptions.stability.creativity');
    for (const setting of unused) warnings.push({ type: 'unsupported-setting', setting, details: `${label} has no ${setting} setting; it was ignored` });
    if (operation !== 'text-to-image') {
      const output = operation === 'outpaint' ? 'the input image grown by `extend`' : operation === 'inpaint' ? 'the size of the input image' : 'the aspect ratio of the input image';
      if (options.aspectRatio !== undefined) warnings.push({ type: 'unsupported-setting', setting: 'aspectRatio', details: `${label} makes ${output}; aspectRatio was ignored` });
      if (options.width !== undefined || options.height !== undefined) warnings.push({ type: 'unsupported-setting', setting: 'size', details: `${label} makes ${output}; width and height were ignored` });
    }
  }
}
