// Factory for fal models: key from FAL_KEY, queue base URL settable for proxies and gateways.
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
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
  // fal's scheme is `Key`, not `Bearer` (https://docs.fal.ai/model-endpoints/queue).
  const { client, ...config } = createHostedClient(settings, { info: falProviderInfo, readError: readFalError, authenticate: (key) => ({ authorization: `Key ${key()}` }) });
  const imageModel = (modelId: FalImageModelId) => new FalImageModel(modelId, { client, ...config });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading FAL_KEY when first used. */
export const fal = createFal();
