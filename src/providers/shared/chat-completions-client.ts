// A client for any OpenAI-compatible chat-completions endpoint (a VLM judge, an image captioner): the
// URL checked once, the bearer key, and the hosted providers' retries.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { ApiClient } from './api-client.js';
import { hostedDefaults } from './provider-settings.js';

export interface ChatCompletionsClientOptions {
  /** Names the caller in errors and retries (`vlm-ranker`, `captioner`). */
  provider: string;
  /** Up to, not including, `/chat/completions`. */
  baseUrl: string;
  apiKey?: string;
  fetch?: typeof globalThis.fetch;
  maxRetries?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** How the caller's user names the URL in messages: `baseUrl` in code, `--caption-url` on the command line. */
  urlField?: string;
}

export function chatCompletionsClient({ provider, baseUrl, apiKey, fetch, maxRetries = hostedDefaults.maxRetries, sleep = hostedDefaults.sleep, urlField = 'baseUrl' }: ChatCompletionsClientOptions): ApiClient {
  if (!/^https?:\/\//.test(baseUrl)) throw new InvalidArgumentError({ argument: urlField.replace(/^--/, ''), value: baseUrl, message: `\`${urlField}\` must be an http:// or https:// URL up to /chat/completions, got ${JSON.stringify(baseUrl)}` });
  return new ApiClient({
    provider,
    baseURL: baseUrl.replace(/\/+$/, ''),
    headers: (): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    fetch,
    maxRetries,
    retryDelayMs: hostedDefaults.retryDelayMs,
    sleep,
    random: hostedDefaults.random,
  });
}
