// Captions training images with a vision-language model over any OpenAI-compatible chat-completions endpoint.
//
// The request is the one the vlm ranker sends (src/service/ranking/vlm-ranker.ts): POST {baseUrl}/chat/completions,
// `Authorization: Bearer` when a key is set, the image as an `image_url` content part holding a data URL.
import { z } from 'zod';
import type { CallContext } from '../../providers/shared/api-client.js';
import { chatCompletionsClient } from '../../providers/shared/chat-completions-client.js';
import { hostedDefaults } from '../../providers/shared/provider-settings.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';

export interface ImageCaptionerOptions {
  /** The API's base URL up to `/chat/completions`, e.g. `http://localhost:11434/v1`. */
  baseUrl: string;
  /** The vision model's name on that server. */
  model: string;
  apiKey?: string;
  fetch?: typeof fetch;
  maxRetries?: number;
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
}

const chatResponseSchema = z.object({ choices: z.array(z.object({ message: z.object({ content: z.string().nullable() }) })).min(1) });

// A training caption describes what varies (subject, layout, colours), so the trigger word is left to carry the style.
const instructions =
  'You write captions for images that will train an image model on a visual style. Describe in one sentence of at most 40 words ' +
  'what the image shows: subject, setting, composition, colours and lighting. Do not name or judge the style, do not start with ' +
  '"This image", and answer with the caption only.';

export type Captioner = (image: { file: string; bytes: Uint8Array; mediaType: string }, signal: AbortSignal) => Promise<string>;

export function createImageCaptioner(options: ImageCaptionerOptions): Captioner {
  const { baseUrl, model, apiKey, fetch, maxRetries = hostedDefaults.maxRetries, sleep = hostedDefaults.sleep } = options;
  const client = chatCompletionsClient({ provider: 'captioner', baseUrl, apiKey, fetch, maxRetries, sleep, urlField: '--caption-url' });
  return async ({ file, bytes, mediaType }, signal) => {
    const context: CallContext = { modelId: model, signal, attempts: [] };
    const { data } = await client.request(context, {
      path: '/chat/completions',
      json: {
        model,
        temperature: 0,
        messages: [
          { role: 'system', content: instructions },
          { role: 'user', content: [{ type: 'text', text: 'Caption this image.' }, { type: 'image_url', image_url: { url: `data:${mediaType};base64,${Buffer.from(bytes).toString('base64')}` } }] },
        ],
      },
      schema: chatResponseSchema,
    });
    const caption = (data.choices[0]!.message.content ?? '').replace(/\s+/g, ' ').trim();
    if (caption === '') throw new InvalidResponseError({ provider: 'captioner', url: client.url('/chat/completions'), message: `the captioning model ${model} at ${baseUrl} answered with an empty caption for ${file}; try another model, or write ${file.replace(/\.[^.]+$/, '')}.txt by hand` });
    return caption;
  };
}

/** The caption with the trigger word appended, unless it already holds it. */
export function withTriggerWord(caption: string, triggerWord: string): string {
  const trimmed = caption.trim().replace(/[.\s]+$/, '');
  return new RegExp(`(^|\\W)${triggerWord.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\W|$)`).test(trimmed) ? trimmed : `${trimmed}, ${triggerWord}`;
}
