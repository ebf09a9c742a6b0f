// Factory for Ideogram image models: API key from IDEOGRAM_API_KEY sent as `Api-Key`, base URL settable for gateways.
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { IdeogramImageModel, readIdeogramError, type IdeogramImageModelId } from './ideogram-image-model.js';

export type IdeogramProviderSettings = HostedProviderSettings;

export interface IdeogramProvider {
  (modelId: IdeogramImageModelId): IdeogramImageModel;
  imageModel(modelId: IdeogramImageModelId): IdeogramImageModel;
}

export const ideogramApiKeyVariable = 'IDEOGRAM_API_KEY';

export const ideogramProviderInfo: HostedProviderInfo = {
  name: 'ideogram',
  apiKeyVariables: [ideogramApiKeyVariable],
  defaultBaseUrl: 'https://api.ideogram.ai',
  exampleModels: ['V_3'],
  documentation: 'https://developer.ideogram.ai/api-reference/api-reference/generate-v3',
};

export function createIdeogram(settings: IdeogramProviderSettings = {}): IdeogramProvider {
  const { client, ...config } = createHostedClient(settings, { info: ideogramProviderInfo, readError: readIdeogramError, authenticate: (key) => ({ 'api-key': key() }) });
  const imageModel = (modelId: IdeogramImageModelId) => new IdeogramImageModel(modelId, { client, ...config });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading IDEOGRAM_API_KEY when first used. */
export const ideogram = createIdeogram();
