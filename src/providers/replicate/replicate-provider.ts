// Factory for Replicate models: API token from REPLICATE_API_TOKEN, base URL settable for proxies and gateways.
import { ApiClient } from '../shared/api-client.js';
import { hostedDefaults, loadApiKey, resolveBaseUrl, type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { ReplicateImageModel, readReplicateError, type ReplicateImageModelId } from './replicate-image-model.js';

export type ReplicateProviderSettings = HostedProviderSettings;

export interface ReplicateProvider {
  (modelId: ReplicateImageModelId): ReplicateImageModel;
  imageModel(modelId: ReplicateImageModelId): ReplicateImageModel;
}

export const replicateApiKeyVariable = 'REPLICATE_API_TOKEN';

export const replicateProviderInfo: HostedProviderInfo = {
  name: 'replicate',
  apiKeyVariables: [replicateApiKeyVariable],
  defaultBaseUrl: 'https://api.replicate.com/v1',
  exampleModels: ['black-forest-labs/flux-schnell', 'black-forest-labs/flux-dev', 'black-forest-labs/flux-1.1-pro'],
  documentation: 'https://replicate.com/docs/reference/http',
};

export function createReplicate(settings: ReplicateProviderSettings = {}): ReplicateProvider {
  const { apiKey, baseURL, headers, fetch, maxRetries = hostedDefaults.maxRetries, retryDelayMs = hostedDefaults.retryDelayMs, timeoutMs = hostedDefaults.timeoutMs, pollIntervalMs = hostedDefaults.pollIntervalMs, sleep = hostedDefaults.sleep, random = hostedDefaults.random } = settings;
  const client = new ApiClient({
    provider: 'replicate',
    baseURL: resolveBaseUrl('replicate', baseURL, replicateProviderInfo.defaultBaseUrl),
    apiKeyVariable: replicateApiKeyVariable,
    headers: () => ({ authorization: `Bearer ${loadApiKey({ provider: 'replicate', apiKey, variable: replicateApiKeyVariable, description: 'API token' })}`, ...headers }),
    fetch,
    maxRetries,
    retryDelayMs,
    sleep,
    random,
    readError: readReplicateError,
  });
  const imageModel = (modelId: ReplicateImageModelId) => new ReplicateImageModel(modelId, { client, timeoutMs, pollIntervalMs, sleep });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading REPLICATE_API_TOKEN when first used. */
export const replicate = createReplicate();
