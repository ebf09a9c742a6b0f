// Ideogram 3.0 behind the ImageModel contract: text to image, remix (image to image) and masked edits; results downloaded at once.
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type HostedImage, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { encodeMask, type InputImage } from '../shared/image-data.js';
import { nearestAspectRatio, nearestSize } from '../shared/sizes.js';
import { ideogramImageResponseSchema, ideogramSafetyErrorSchema } from './ideogram-api.js';
import { ideogramImageOptionsSchema, type IdeogramImageOptions } from './ideogram-image-options.js';

/** Ideogram 3.0; its rendering speeds (TURBO, QUALITY, ...) are chosen with `providerOptions.ideogram.renderingSpeed`. */
export type IdeogramImageModelId = 'V_3' | (string & {});

/** The ratios Ideogram 3.0 takes as `aspect_ratio` (AspectRatioV3), written W:H here and WxH on the wire. */
const aspectRatios = ['1:3', '3:1', '1:2', '2:1', '9:16', '16:9', '10:16', '16:10', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '1:1'];

/** The sizes Ideogram 3.0 takes as `resolution` (ResolutionV3). */
const resolutions = [
  '512x1536', '576x1408', '576x1472', '576x1536', '640x1344', '640x1408', '640x1472', '640x1536', '704x1152', '704x1216', '704x1280',
  '704x1344', '704x1408', '704x1472', '736x1312', '768x1088', '768x1216', '768x1280', '768x1344', '800x1280', '832x960', '832x1024',
  '832x1088', '832x1152', '832x1216', '832x1248', '864x1152', '896x960', '896x1024', '896x1088', '896x1120', '896x1152', '960x832',
  '960x896', '960x1024', '960x1088', '1024x832', '1024x896', '1024x960', '1024x1024', '1088x768', '1088x832', '1088x896', '1088x960',
  '1120x896', '1152x704', '1152x832', '1152x864', '1152x896', '1216x704', '1216x768', '1216x832', '1248x832', '1280x704', '1280x768',
  '1280x800', '1312x736', '1344x640', '1344x704', '1344x768', '1408x576', '1408x640', '1408x704', '1472x576', '1472x640', '1472x704',
  '1536x512', '1536x576', '1536x640',
];

/** Seeds run from 0 to 2^31 − 1. */
const maxSeed = 2_147_483_647n;

type Operation = 'generate' | 'remix' | 'edit';

/** HTTP 422 `{error}` is the safety check refusing the prompt or an input image. */
export const readIdeogramError: ErrorReader = ({ body, status, text, url }) => {
  const parsed = ideogramSafetyErrorSchema.safeParse(body);
  if (status === 422) {
    const said = parsed.success ? parsed.data.error : text.trim().slice(0, 300) || 'no details';
    return { error: new ContentPolicyError({ provider: 'ideogram', statusCode: status, url, responseBody: text, message: `ideogram refused the request under its content policy: ${said}; change the prompt or input image` }) };
  }
  return parsed.success ? { message: parsed.data.error } : undefined;
};

export class IdeogramImageModel extends HostedImageModel<IdeogramImageOptions> {
  readonly provider = 'ideogram';
  /** `num_images` is 1–8. */
  readonly maxImagesPerCall = 8;
  protected readonly optionsSchema = ideogramImageOptionsSchema;
  protected readonly support: HostedSupport = { negativePrompt: true, seed: true, maxSeed, images: 1, mask: true, strength: true };

  protected override cancelNote(): string {
    return '; Ideogram has no cancel endpoint, so the images may still be made (and billed) on its side';
  }

  protected override checkModelRules(): void {
    if (this.modelId !== 'V_3') {
      throw new InvalidArgumentError({ argument: 'model', value: this.modelId, message: `\`model\` ideogram:${this.modelId} names no Ideogram model; use V_3 (ideogram:V_3), and choose its rendering speed with providerOptions.ideogram.renderingSpeed (FLASH, TURBO, BALANCED, DEFAULT, QUALITY)` });
    }
  }

  protected async generate(request: HostedRequest<IdeogramImageOptions>): Promise<HostedResponse> {
    const { options, providerOptions, context, warnings } = request;
    const image = request.images[0];
    const operation: Operation = image === undefined ? 'generate' : request.mask === undefined ? 'remix' : 'edit';
    this.warnAboutUnused(options, warnings, operation);
    const renderingSpeed = providerOptions.renderingSpeed;
    const fields: Record<string, string | number | undefined> = {
      prompt: options.prompt,
      seed: request.seed === undefined ? undefined : Number(request.seed),
      num_images: request.n,
      rendering_speed: renderingSpeed,
      magic_prompt: providerOptions.magicPrompt,
      style_type: providerOptions.styleType,
      style_preset: providerOptions.stylePreset,
      custom_model_uri: providerOptions.customModelUri,
      color_palette: providerOptions.colorPalette ? JSON.stringify(paletteField(providerOptions.colorPalette)) : undefined,
    };
    if (operation !== 'edit') {
      fields.negative_prompt = options.negativePrompt;
      Object.assign(fields, this.sizeFields(options, warnings, image));
    }
    // Remix keeps `image_weight` (1–100) of the input; pixelpipe's strength is how much changes.
    if (operation === 'remix' && options.strength !== undefined) fields.image_weight = Math.min(100, Math.max(1, Math.round((1 - options.strength) * 100)));
    const form = new FormData();
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) form.append(key, String(value));
    for (const code of providerOptions.styleCodes ?? []) form.append('style_codes', code);
    if (image) form.append('image', new Blob([image.bytes], { type: image.mediaType }), image.filename);
    // Ideogram edits where the mask is black and keeps where it is white, at the input image's size.
    if (operation === 'edit') form.append('mask', new Blob([await encodeMask(request.mask!, 'black-edits', image)], { type: 'image/png' }), 'mask.png');
    const path = `/v1/ideogram-v3/${operation}`;
    const response = await this.config.client.request(context, { path, form, schema: ideogramImageResponseSchema });
    const entries = response.data.data;
    const safe = entries.filter((entry) => entry.is_image_safe && entry.url);
    if (safe.length === 0) {
      throw new ContentPolicyError({ provider: this.provider, statusCode: response.status, url: this.config.client.url(path), message: `ideogram withheld ${entries.length === 1 ? 'the image' : `all ${entries.length} images`}: ${entries.length === 1 ? 'it' : 'they'} failed its safety check; change the prompt or input image` });
    }
    if (safe.length < entries.length) warnings.push({ type: 'other', message: `ideogram withheld ${entries.length - safe.length} of ${entries.length} images that failed its safety check` });
    // The URLs are ephemeral and signed: fetched now, without the API key.
    const downloadStarted = performance.now();
    const images: HostedImage[] = await Promise.all(safe.map(async (entry) => ({
      bytes: (await this.config.client.download(context, entry.url!)).bytes,
      seed: entry.seed,
      // With magic prompt on, `prompt` is Ideogram's rewrite of the caller's prompt.
      revisedPrompt: entry.prompt !== undefined && entry.prompt !== options.prompt ? entry.prompt : undefined,
    })));
    return {
      images,
      timings: { download: Math.round(performance.now() - downloadStarted) },
      priceVariant: renderingSpeed ?? 'DEFAULT',
      metadata: { endpoint: path, styleTypes: safe.map((entry) => entry.style_type ?? undefined), resolutions: safe.map((entry) => entry.resolution) },
    };
  }

  /**
   * Generate and remix: `aspect_ratio` when one is asked for, else the nearest `resolution` to width × height.
   * Remix crops its input to the ratio, so without a size it keeps the input's own shape.
   */
  private sizeFields(options: ImageModelCallOptions, warnings: ImageModelWarning[], image: InputImage | undefined): { aspect_ratio?: string; resolution?: string } {
    const label = `ideogram:${this.modelId}`;
    const found: ImageModelWarning[] = [];
    let result: { aspect_ratio?: string; resolution?: string } = {};
    if (options.aspectRatio !== undefined) {
      result = { aspect_ratio: nearestAspectRatio(aspectRatios, options, found, label)?.replace(':', 'x') };
    } else if (options.width !== undefined || options.height !== undefined) {
      const side = options.width ?? options.height!;
      if (options.width === undefined || options.height === undefined) found.push({ type: 'adjusted-setting', setting: 'size', details: `${label} needs both width and height; ${side}x${side} was assumed` });
      result = { resolution: nearestSize(resolutions, { width: options.width ?? side, height: options.height ?? side }, found, label) };
    } else if (image !== undefined) {
      result = { aspect_ratio: nearestAspectRatio(aspectRatios, { width: image.width, height: image.height }, [], label)?.replace(':', 'x') };
    }
    warnings.push(...found);
    return result;
  }

  /** Edit has no negative prompt, strength or size: the output keeps the input's size. */
  private warnAboutUnused(options: ImageModelCallOptions, warnings: ImageModelWarning[], operation: Operation): void {
    if (operation !== 'edit') return;
    const label = `ideogram:${this.modelId} (edit)`;
    for (const setting of ['negativePrompt', 'strength', 'aspectRatio'] as const) {
      if (options[setting] !== undefined) warnings.push({ type: 'unsupported-setting', setting, details: `${label} has no ${setting} setting; it was ignored` });
    }
    if (options.width !== undefined || options.height !== undefined) warnings.push({ type: 'unsupported-setting', setting: 'size', details: `${label} keeps the size of the input image; width and height were ignored` });
  }
}

/** `colorPalette` in the API's snake_case JSON. */
function paletteField(palette: NonNullable<IdeogramImageOptions['colorPalette']>): unknown {
  if ('name' in palette) return { name: palette.name };
  return { members: palette.members.map((member) => ({ color_hex: member.colorHex, ...(member.colorWeight !== undefined ? { color_weight: member.colorWeight } : {}) })) };
}
