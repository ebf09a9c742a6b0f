// Factory for fal models: key from FAL_KEY, queue base URL settable for proxies and gateways.
import { ApiClient } from '../shared/api-client.js';
import { hostedDefaults, loadApiKey, resolveBaseUrl, type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { FalImageModel, readFalError, type FalImageModelId } from './fal-image-model.js';

export type FalProviderSettings = HostedProviderSettings;

export interface FalProvider {
  (modelId: FalImageModelId): FalImageModel;
  imageModel(modelId: FalImageModelId): FalImageModel;
}

export const falApiKeyVariable = 'FAL_KEY';

export const falProviderInfo: HostedProviderInfo = {
  name: 'fal',
  apiKeyVariables: [falApiKeyVariable],
  defaultBaseUrl: 'https://queue.fal.run',
  exampleModels: ['fal-ai/flux/schnell', 'fal-ai/flux/dev', 'fal-ai/flux-pro/v1.1'],
  documentation: 'https://docs.fal.ai/model-endpoints/queue',
};

export function createFal(settings: FalProviderSettings = {}): FalProvider {
  const { apiKey, baseURL, headers, fetch, maxRetries = hostedDefaults.maxRetries, retryDelayMs = hostedDefaults.retryDelayMs, timeoutMs = hostedDefaults.timeoutMs, pollIntervalMs = hostedDefaults.pollIntervalMs, sleep = hostedDefaults.sleep, random = hostedDefaults.random } = settings;
  const client = new ApiClient({
    provider: 'fal',
    baseURL: resolveBaseUrl('fal', baseURL, falProviderInfo.defaultBaseUrl),
    apiKeyVariable: falApiKeyVariable,
    // fal's scheme is `Key`, not `Bearer` (https://docs.fal.ai/model-endpoints/queue).
    headers: () => ({ authorization: `Key ${loadApiKey({ provider: 'fal', apiKey, variable: falApiKeyVariable })}`, ...headers }),
    fetch,
    maxRetries,
    retryDelayMs,
    sleep,
    random,
    readError: readFalError,
  });
  const imageModel = (modelId: FalImageModelId) => new FalImageModel(modelId, { client, timeoutMs, pollIntervalMs, sleep });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading FAL_KEY when first used. */
export const fal = createFal();
