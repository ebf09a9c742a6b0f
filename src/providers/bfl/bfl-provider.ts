// Factory for Black Forest Labs FLUX models: API key from BFL_API_KEY sent as `x-key`, base URL settable for regions and gateways.
import { ApiClient } from '../shared/api-client.js';
import { hostedDefaults, loadApiKey, resolveBaseUrl, type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { BflImageModel, readBflError, type BflImageModelId } from './bfl-image-model.js';

export type BflProviderSettings = HostedProviderSettings;

export interface BflProvider {
  (modelId: BflImageModelId): BflImageModel;
  imageModel(modelId: BflImageModelId): BflImageModel;
}

export const bflApiKeyVariable = 'BFL_API_KEY';

export const bflProviderInfo: HostedProviderInfo = {
  name: 'bfl',
  apiKeyVariables: [bflApiKeyVariable],
  defaultBaseUrl: 'https://api.bfl.ai',
  exampleModels: ['flux-2-pro', 'flux-kontext-pro', 'flux-pro-1.1', 'flux-pro-1.1-ultra', 'flux-dev'],
  documentation: 'https://docs.bfl.ai/',
};

export function createBfl(settings: BflProviderSettings = {}): BflProvider {
  const { apiKey, baseURL, headers, fetch, maxRetries = hostedDefaults.maxRetries, retryDelayMs = hostedDefaults.retryDelayMs, timeoutMs = hostedDefaults.timeoutMs, pollIntervalMs = hostedDefaults.pollIntervalMs, sleep = hostedDefaults.sleep, random = hostedDefaults.random } = settings;
  const client = new ApiClient({
    provider: 'bfl',
    baseURL: resolveBaseUrl('bfl', baseURL, bflProviderInfo.defaultBaseUrl),
    apiKeyVariable: bflApiKeyVariable,
    headers: () => ({ 'x-key': loadApiKey({ provider: 'bfl', apiKey, variable: bflApiKeyVariable }), accept: 'application/json', ...headers }),
    fetch,
    maxRetries,
    retryDelayMs,
    sleep,
    random,
    readError: readBflError,
  });
  const imageModel = (modelId: BflImageModelId) => new BflImageModel(modelId, { client, timeoutMs, pollIntervalMs, sleep });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading BFL_API_KEY when first used. */
export const bfl = createBfl();
