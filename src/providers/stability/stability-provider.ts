// Factory for Stability AI image models: API key from STABILITY_API_KEY sent as a bearer token, base URL settable for gateways.
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
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
  const { clientId } = settings;
  const { client, ...config } = createHostedClient(settings, {
    info: stabilityProviderInfo,
    readError: readStabilityError,
    authenticate: (key) => ({ authorization: `Bearer ${key()}`, ...(clientId ? { 'stability-client-id': clientId } : {}) }),
  });
  const imageModel = (modelId: StabilityImageModelId) => new StabilityImageModel(modelId, { client, ...config });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading STABILITY_API_KEY when first used. */
export const stability = createStability();
