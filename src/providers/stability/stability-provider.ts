// Factory for Stability AI image models: API key from STABILITY_API_KEY sent as a bearer token, base URL settable for gateways.
import { ApiClient } from '../shared/api-client.js';
import { hostedDefaults, loadApiKey, resolveBaseUrl, type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { readStabilityError, StabilityImageModel, type StabilityImageModelId } from './stability-image-model.js';

export interface StabilityProviderSettings extends HostedProviderSettings {
  /** Sent as `stability-client-id`: the application's name, which Stability uses when it contacts you about moderation. */
  clientId?: string;
}

export interface StabilityProvider {
  (modelId: StabilityImageModelId): StabilityImageModel;
  imageModel(modelId: StabilityImageModelId): StabilityImageModel;
}

export const stabilityApiKeyVariable = 'STABILITY_API_KEY';

export const stabilityProviderInfo: HostedProviderInfo = {
  name: 'stability',
  apiKeyVariables: [stabilityApiKeyVariable],
  defaultBaseUrl: 'https://api.stability.ai',
  exampleModels: ['core', 'ultra', 'sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium'],
  documentation: 'https://platform.stability.ai/docs/api-reference',
};

export function createStability(settings: StabilityProviderSettings = {}): StabilityProvider {
  const { apiKey, baseURL, headers, clientId, fetch, maxRetries = hostedDefaults.maxRetries, retryDelayMs = hostedDefaults.retryDelayMs, timeoutMs = hostedDefaults.timeoutMs, sleep = hostedDefaults.sleep, random = hostedDefaults.random } = settings;
  const client = new ApiClient({
    provider: 'stability',
    baseURL: resolveBaseUrl('stability', baseURL, stabilityProviderInfo.defaultBaseUrl),
    apiKeyVariable: stabilityApiKeyVariable,
    headers: () => ({
      authorization: `Bearer ${loadApiKey({ provider: 'stability', apiKey, variable: stabilityApiKeyVariable })}`,
      ...(clientId ? { 'stability-client-id': clientId } : {}),
      ...headers,
    }),
    fetch,
    maxRetries,
    retryDelayMs,
    sleep,
    random,
    readError: readStabilityError,
  });
  const imageModel = (modelId: StabilityImageModelId) => new StabilityImageModel(modelId, { client, timeoutMs });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading STABILITY_API_KEY when first used. */
export const stability = createStability();
