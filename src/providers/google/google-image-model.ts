// Google's image models on the Gemini API behind the ImageModel contract: Imagen 4 (:predict) and Gemini image models (:generateContent).
import type { ImageModelCallOptions } from '../../spec/image-model-call-options.js';
import type { ImageModelWarning } from '../../spec/warning.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { RateLimitError } from '../../spec/errors/rate-limit-error.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type HostedImage, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { decodeBase64 } from '../shared/image-data.js';
import { parseRetryAfter } from '../shared/retry.js';
import { nearestAspectRatio } from '../shared/sizes.js';
import { contentPolicyFinishReasons, geminiGenerateContentResponseSchema, googleErrorSchema, imagenPredictResponseSchema, type GeminiGenerateContentResponse } from './google-api.js';
import { googleImageOptionsSchema, type GoogleImageOptions } from './google-image-options.js';

export type GoogleImageModelId =
  | 'imagen-4.0-generate-001' | 'imagen-4.0-ultra-generate-001' | 'imagen-4.0-fast-generate-001'
  | 'gemini-2.5-flash-image' | 'gemini-3-pro-image-preview'
  | (string & {});

// https://ai.google.dev/gemini-api/docs/imagen ("aspectRatio") and https://ai.google.dev/gemini-api/docs/image-generation ("Aspect ratios").
const imagenRatios = ['1:1', '3:4', '4:3', '9:16', '16:9'];
const geminiRatios = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'];

const isImagen = (modelId: string) => modelId.startsWith('imagen');

/** Size tiers a model takes; the first is its default. */
function imageSizesOf(modelId: string): string[] {
  if (isImagen(modelId)) return modelId.includes('fast') ? ['1K'] : ['1K', '2K'];
  return modelId.startsWith('gemini-2') ? ['1K'] : ['1K', '2K', '4K'];
}

/** `"30s"` or `"1.5s"` (a protobuf Duration in JSON) in milliseconds. */
function durationMs(text: string | undefined): number | undefined {
  const match = text === undefined ? null : /^(\d+(?:\.\d+)?)s$/.exec(text.trim());
  return match ? Math.round(Number(match[1]) * 1000) : undefined;
}

/**
 * Reads `{error: {status, message, details}}`: RESOURCE_EXHAUSTED waits as long as its RetryInfo says,
 * an invalid key is an authentication failure, a BadRequest names its field.
 */
export function googleErrorReader(apiKeyVariable: string): ErrorReader {
  return ({ body, status, headers, text, url }) => {
    const parsed = googleErrorSchema.safeParse(body);
    if (!parsed.success) return undefined;
    const { message = 'no details', status: code, details = [] } = parsed.data.error;
    const common = { provider: 'google', statusCode: status, url, responseBody: text };
    if (code === 'RESOURCE_EXHAUSTED' || status === 429) {
      const retryAfterMs = parseRetryAfter(headers) ?? durationMs(details.find((detail) => detail['@type']?.endsWith('google.rpc.RetryInfo'))?.retryDelay);
      return { error: new RateLimitError({ ...common, retryAfterMs, message: `google is rate limiting this key (HTTP ${status} ${code ?? ''})${retryAfterMs === undefined ? '' : `, retry after ${Math.ceil(retryAfterMs / 1000)} s`}: ${message}` }) };
    }
    if (details.some((detail) => detail.reason === 'API_KEY_INVALID')) {
      return { error: new AuthenticationError({ ...common, apiKeyVariable, message: `google refused the API key (HTTP ${status} ${code ?? ''}): ${message}; check ${apiKeyVariable}` }) };
    }
    // Imagen refuses prompts it will not draw with a 400 that cites Google's Responsible AI practices.
    if (/Responsible AI practices/i.test(message)) {
      return { error: new ContentPolicyError({ ...common, message: `google refused the prompt under its content policy: ${message}; change the prompt` }) };
    }
    const field = details.flatMap((detail) => detail.fieldViolations ?? []).find((violation) => violation.field)?.field;
    return { message: code ? `${code}: ${message}` : message, field };
  };
}

export class GoogleImageModel extends HostedImageModel<GoogleImageOptions> {
  readonly provider = 'google';
  protected readonly optionsSchema = googleImageOptionsSchema;
  protected readonly support: HostedSupport = isImagen(this.modelId)
    ? { images: 0 }
    : // Gemini takes a decoding seed (an int32) and edits with input images: 3 work best on 2.5 Flash Image, Gemini 3 takes up to 14.
      { seed: true, maxSeed: 2n ** 31n - 1n, images: this.modelId.startsWith('gemini-2') ? 3 : 14 };

  /** Imagen makes 1–4 images per request; a Gemini request answers with one. */
  get maxImagesPerCall(): number {
    return isImagen(this.modelId) ? 4 : 1;
  }

  protected async generate(request: HostedRequest<GoogleImageOptions>): Promise<HostedResponse> {
    return isImagen(this.modelId) ? this.generateImagen(request) : this.generateGemini(request);
  }

  private async generateImagen(request: HostedRequest<GoogleImageOptions>): Promise<HostedResponse> {
    const { options, providerOptions, context, warnings } = request;
    const label = `google:${this.modelId}`;
    this.warnUnused(providerOptions, ['responseModalities', 'temperature', 'safetySettings'], 'Gemini', warnings);
    const aspectRatio = nearestAspectRatio(imagenRatios, options, warnings, label);
    const parameters = {
      // The API makes 4 when sampleCount is left out, so it is always sent.
      sampleCount: request.n,
      aspectRatio,
      personGeneration: providerOptions.personGeneration,
      imageSize: this.imageSize(options, providerOptions, warnings, label, aspectRatio),
    };
    const response = await this.config.client.request(context, {
      path: `/models/${this.modelId}:predict`,
      json: { instances: [{ prompt: options.prompt }], parameters: Object.fromEntries(Object.entries(parameters).filter(([, value]) => value !== undefined)) },
      schema: imagenPredictResponseSchema,
    });
    const predictions = response.data.predictions ?? [];
    const images: HostedImage[] = predictions.flatMap((prediction) => (prediction.bytesBase64Encoded ? [{ bytes: decodeBase64(prediction.bytesBase64Encoded) }] : []));
    const reasons = predictions.flatMap((prediction) => (prediction.raiFilteredReason ? [prediction.raiFilteredReason] : []));
    if (images.length === 0) {
      // The Gemini API drops filtered images; an answer with none left means every one was filtered.
      throw new ContentPolicyError({ provider: this.provider, statusCode: response.status, message: `google's safety filters withheld every image of ${label}${reasons.length ? `: ${reasons.join('; ')}` : ''}; change the prompt${providerOptions.personGeneration ? '' : ' or set providerOptions.google.personGeneration'}` });
    }
    if (images.length < request.n) {
      warnings.push({ type: 'other', message: `google's safety filters withheld ${request.n - images.length} of ${request.n} images of ${label}${reasons.length ? `: ${reasons.join('; ')}` : ''}` });
    }
    return { images };
  }

  private async generateGemini(request: HostedRequest<GoogleImageOptions>): Promise<HostedResponse> {
    const { options, providerOptions, context, warnings, images } = request;
    const label = `google:${this.modelId}`;
    this.warnUnused(providerOptions, ['personGeneration'], 'Imagen', warnings);
    // With input images and no shape asked, the model keeps the input's shape.
    const aspectRatio = nearestAspectRatio(geminiRatios, options, warnings, label);
    const imageSize = this.imageSize(options, providerOptions, warnings, label, aspectRatio);
    const imageConfig = Object.fromEntries(Object.entries({ aspectRatio, imageSize }).filter(([, value]) => value !== undefined));
    const generationConfig = {
      responseModalities: providerOptions.responseModalities ?? ['TEXT', 'IMAGE'],
      ...(Object.keys(imageConfig).length > 0 ? { imageConfig } : {}),
      ...(request.seed !== undefined ? { seed: Number(request.seed) } : {}),
      ...(providerOptions.temperature !== undefined ? { temperature: providerOptions.temperature } : {}),
    };
    const parts = [{ text: options.prompt }, ...images.map((image) => ({ inlineData: { mimeType: image.mediaType, data: Buffer.from(image.bytes).toString('base64') } }))];
    const response = await this.config.client.request(context, {
      path: `/models/${this.modelId}:generateContent`,
      json: { contents: [{ role: 'user', parts }], generationConfig, ...(providerOptions.safetySettings ? { safetySettings: providerOptions.safetySettings } : {}) },
      schema: geminiGenerateContentResponseSchema,
    });
    const { data } = response;
    const candidate = data.candidates?.[0];
    const answerParts = (candidate?.content?.parts ?? []).filter((part) => !part.thought);
    const text = answerParts.flatMap((part) => (part.text !== undefined ? [part.text] : []));
    const generated = answerParts.flatMap((part) => (part.inlineData ? [{ bytes: decodeBase64(part.inlineData.data) }] : []));
    if (generated.length === 0) this.throwWithoutImage(data, text, label, response.status);
    return {
      images: generated,
      requestId: data.responseId,
      usage: data.usageMetadata ? { inputTokens: data.usageMetadata.promptTokenCount, outputTokens: data.usageMetadata.candidatesTokenCount } : undefined,
      metadata: { ...(text.length > 0 ? { text } : {}), finishReason: candidate?.finishReason, modelVersion: data.modelVersion },
    };
  }

  /** An answer without an image: a block or a safety finish is a policy refusal, anything else is quoted. */
  private throwWithoutImage(data: GeminiGenerateContentResponse, text: string[], label: string, statusCode: number): never {
    const candidate = data.candidates?.[0];
    const blockReason = data.promptFeedback?.blockReason;
    const common = { provider: this.provider, statusCode, responseBody: JSON.stringify(data).slice(0, 2000) };
    if (blockReason !== undefined) {
      throw new ContentPolicyError({ ...common, message: `google blocked the prompt of ${label} (${blockReason})${data.promptFeedback?.blockReasonMessage ? `: ${data.promptFeedback.blockReasonMessage}` : ''}; change the prompt or input images` });
    }
    const finishReason = candidate?.finishReason;
    if (finishReason !== undefined && contentPolicyFinishReasons.has(finishReason)) {
      throw new ContentPolicyError({ ...common, message: `google withheld the output of ${label} under its content policy (${finishReason})${candidate?.finishMessage ? `: ${candidate.finishMessage}` : ''}; change the prompt or input images` });
    }
    const said = text.join(' ').trim();
    throw new InvalidResponseError({ ...common, message: `${label} answered without an image (finishReason ${finishReason ?? 'none'})${said ? `; it said: ${said.slice(0, 300)}` : ''}` });
  }

  /** The size tier: the provider option, else 2K or 4K when the asked size needs it and the model makes it. */
  private imageSize(options: ImageModelCallOptions, providerOptions: GoogleImageOptions, warnings: ImageModelWarning[], label: string, aspectRatio: string | undefined): string | undefined {
    const sizes = imageSizesOf(this.modelId);
    if (providerOptions.imageSize !== undefined && !sizes.includes(providerOptions.imageSize)) {
      warnings.push({ type: 'unsupported-setting', setting: 'providerOptions.google.imageSize', details: `${label} makes ${sizes.join(', ')}; imageSize ${providerOptions.imageSize} was left out` });
      return undefined;
    }
    const longSide = Math.max(options.width ?? 0, options.height ?? 0);
    const wanted = providerOptions.imageSize ?? (longSide > 3072 ? '4K' : longSide > 1536 ? '2K' : undefined);
    const chosen = wanted === undefined ? undefined : sizes.includes(wanted) ? wanted : sizes.at(-1);
    if (options.width !== undefined && options.height !== undefined && options.aspectRatio === undefined) {
      warnings.push({ type: 'adjusted-setting', setting: 'size', details: `${label} is sized by aspect ratio and size tier (${sizes.join(', ')}); ${options.width}x${options.height} was sent as ${aspectRatio} at ${chosen ?? sizes[0]}; the image's own size is in its settings` });
    }
    return sizes.length > 1 ? chosen : undefined;
  }

  private warnUnused(providerOptions: GoogleImageOptions, keys: (keyof GoogleImageOptions)[], family: string, warnings: ImageModelWarning[]): void {
    for (const key of keys) {
      if (providerOptions[key] !== undefined) warnings.push({ type: 'unsupported-setting', setting: `providerOptions.google.${key}`, details: `only ${family} models take ${key}; google:${this.modelId} ignored it` });
    }
  }
}
