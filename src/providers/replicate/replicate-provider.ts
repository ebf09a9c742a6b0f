// Factory for Replicate models: API token from REPLICATE_API_TOKEN, base URL settable for proxies and gateways.
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
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
  const { client, ...config } = createHostedClient(settings, { info: replicateProviderInfo, keyDescription: 'API token', readError: readReplicateError, authenticate: (key) => ({ authorization: `Bearer ${key()}` }) });
  const imageModel = (modelId: ReplicateImageModelId) => new ReplicateImageModel(modelId, { client, ...config });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading REPLICATE_API_TOKEN when first used. */
export const replicate = createReplicate();
