// Factory for Black Forest Labs FLUX models: API key from BFL_API_KEY sent as `x-key`, base URL settable for regions and gateways.
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
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
  const { client, ...config } = createHostedClient(settings, { info: bflProviderInfo, readError: readBflError, authenticate: (key) => ({ 'x-key': key(), accept: 'application/json' }) });
  const imageModel = (modelId: BflImageModelId) => new BflImageModel(modelId, { client, ...config });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading BFL_API_KEY when first used. */
export const bfl = createBfl();
