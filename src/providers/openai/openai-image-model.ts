// OpenAI's image models (gpt-image-1, dall-e-3, dall-e-2) behind the ImageModel contract: generations and edits.
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { HostedImageModel, type HostedImage, type HostedRequest, type HostedResponse, type HostedSupport } from '../shared/hosted-image-model.js';
import { decodeBase64, encodeMask } from '../shared/image-data.js';
import { nearestSize } from '../shared/sizes.js';
import { contentPolicyCodes, openaiErrorSchema, openaiImagesResponseSchema } from './openai-api.js';
import { openaiImageOptionsSchema, type OpenAIImageOptions } from './openai-image-options.js';

export type OpenAIImageModelId = 'gpt-image-1' | 'gpt-image-1-mini' | 'dall-e-3' | 'dall-e-2' | (string & {});

const gptImageSizes = ['1024x1024', '1536x1024', '1024x1536'];
const sizesOf: Record<string, string[]> = {
  'dall-e-3': ['1024x1024', '1792x1024', '1024x1792'],
  'dall-e-2': ['256x256', '512x512', '1024x1024'],
};

const isDallE = (modelId: string) => modelId.startsWith('dall-e');

/** Reads `{error: {code, param, message}}`: policy refusals become ContentPolicyError, `param` names the field. */
export const readOpenAIError: ErrorReader = ({ body, status, text, url }) => {
  const parsed = openaiErrorSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { code, param, message } = parsed.data.error;
  if (code && contentPolicyCodes.has(code)) {
    return { error: new ContentPolicyError({ provider: 'openai', statusCode: status, url, responseBody: text, message: `openai refused the request under its content policy (${code}): ${message ?? 'no details'}; change the prompt or input image` }) };
  }
  return { message: message ?? undefined, field: param ?? undefined };
};

export class OpenAIImageModel extends HostedImageModel<OpenAIImageOptions> {
  readonly provider = 'openai';
  protected readonly optionsSchema = openaiImageOptionsSchema;
  protected readonly support: HostedSupport = {
    images: this.modelId === 'dall-e-3' ? 0 : this.modelId === 'dall-e-2' ? 1 : 16,
    mask: this.modelId !== 'dall-e-3',
  };

  /** dall-e-3 takes n = 1 only; the others up to 10. */
  get maxImagesPerCall(): number {
    return this.modelId === 'dall-e-3' ? 1 : 10;
  }

  protected async generate(request: HostedRequest<OpenAIImageOptions>): Promise<HostedResponse> {
    const { options, providerOptions, context, warnings, images, mask } = request;
    const size = nearestSize(sizesOf[this.modelId] ?? gptImageSizes, options, warnings, `openai:${this.modelId}`);
    const fields: Record<string, string | number | undefined> = {
      model: this.modelId,
      prompt: options.prompt,
      n: request.n,
      size,
      quality: providerOptions.quality,
      style: providerOptions.style,
      background: providerOptions.background,
      output_format: providerOptions.outputFormat,
      output_compression: providerOptions.outputCompression,
      moderation: images.length === 0 ? providerOptions.moderation : undefined,
      input_fidelity: images.length > 0 ? providerOptions.inputFidelity : undefined,
      user: providerOptions.user,
      // dall-e answers with URLs that expire after an hour unless asked for base64; gpt-image always sends base64.
      response_format: isDallE(this.modelId) ? 'b64_json' : undefined,
    };
    let response;
    if (images.length === 0) {
      response = await this.config.client.request(context, { path: '/images/generations', json: Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)), schema: openaiImagesResponseSchema });
    } else {
      // Edits are multipart: `image` for one file, `image[]` for several (gpt-image-1), `mask` a PNG whose transparent pixels are edited.
      const form = new FormData();
      for (const [key, value] of Object.entries(fields)) if (value !== undefined) form.append(key, String(value));
      const imageField = images.length > 1 ? 'image[]' : 'image';
      for (const image of images) form.append(imageField, new Blob([image.bytes], { type: image.mediaType }), image.filename);
      if (mask) form.append('mask', new Blob([await encodeMask(mask, 'alpha', images[0])], { type: 'image/png' }), 'mask.png');
      response = await this.config.client.request(context, { path: '/images/edits', form, schema: openaiImagesResponseSchema });
    }
    const { data } = response;
    const downloaded: HostedImage[] = await Promise.all(data.data.map(async (item) => {
      if (item.b64_json !== undefined) return { bytes: decodeBase64(item.b64_json), revisedPrompt: item.revised_prompt };
      // Some gateways ignore response_format and send a URL; it expires, so it is fetched now.
      if (item.url !== undefined) return { bytes: (await this.config.client.download(context, item.url)).bytes, revisedPrompt: item.revised_prompt };
      throw new InvalidResponseError({ provider: this.provider, message: 'openai answered with an image that has neither `b64_json` nor `url`' });
    }));
    const quality = data.quality ?? providerOptions.quality ?? (isDallE(this.modelId) ? 'standard' : undefined);
    const billedSize = data.size ?? size ?? '1024x1024';
    return {
      images: downloaded,
      requestId: response.headers.get('x-request-id') ?? undefined,
      usage: data.usage ? { inputTokens: data.usage.input_tokens, outputTokens: data.usage.output_tokens } : undefined,
      priceVariant: quality && quality !== 'auto' ? `${quality} ${billedSize}` : undefined,
      metadata: data.output_format || data.background ? { outputFormat: data.output_format, background: data.background } : undefined,
    };
  }
}
