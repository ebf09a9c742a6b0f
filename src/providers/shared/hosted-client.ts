// One place where a hosted provider's settings become its HTTP client: defaults, base URL, lazy key, retries.
import { ApiClient } from './api-client.js';
import type { ErrorReader } from './http-errors.js';
import { hostedDefaults, loadApiKey, resolveBaseUrl, type HostedProviderInfo, type HostedProviderSettings } from './provider-settings.js';

export interface HostedClientOptions {
  info: HostedProviderInfo;
  /** Authentication headers per request; `key()` reads the API key (the first of `info.apiKeyVariables`) at that moment. */
  authenticate?: (key: () => string) => Record<string, string>;
  /** What the key is called in the missing-key error, e.g. `API token`. */
  keyDescription?: string;
  readError?: ErrorReader;
}

/** The client and the settings a model needs besides it, with every default filled in. */
export function createHostedClient(settings: HostedProviderSettings, { info, authenticate, keyDescription, readError }: HostedClientOptions) {
  const {
    apiKey, baseURL, headers, fetch,
    maxRetries = hostedDefaults.maxRetries, retryDelayMs = hostedDefaults.retryDelayMs, timeoutMs = hostedDefaults.timeoutMs,
    pollIntervalMs = hostedDefaults.pollIntervalMs, sleep = hostedDefaults.sleep, random = hostedDefaults.random,
  } = settings;
  const variable = info.apiKeyVariables[0];
  const key = () => loadApiKey({ provider: info.name, apiKey, variable: variable ?? `${info.name} API key`, description: keyDescription });
  const client = new ApiClient({
    provider: info.name,
    baseURL: resolveBaseUrl(info.name, baseURL, info.defaultBaseUrl),
    apiKeyVariable: variable,
    headers: () => ({ ...authenticate?.(key), ...headers }),
    fetch,
    maxRetries,
    retryDelayMs,
    sleep,
    random,
    readError,
  });
  return { client, timeoutMs, pollIntervalMs, sleep };
}
