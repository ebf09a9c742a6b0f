// Factory for OpenAI image models: API key from OPENAI_API_KEY, base URL settable for proxies and gateways.
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { OpenAIImageModel, readOpenAIError, type OpenAIImageModelId } from './openai-image-model.js';

export interface OpenAIProviderSettings extends HostedProviderSettings {
  /** Sent as `OpenAI-Organization`. */
  organization?: string;
  /** Sent as `OpenAI-Project`. */
  project?: string;
}

export interface OpenAIProvider {
  (modelId: OpenAIImageModelId): OpenAIImageModel;
  imageModel(modelId: OpenAIImageModelId): OpenAIImageModel;
}

export const openaiApiKeyVariable = 'OPENAI_API_KEY';

export const openaiProviderInfo: HostedProviderInfo = {
  name: 'openai',
  apiKeyVariables: [openaiApiKeyVariable],
  defaultBaseUrl: 'https://api.openai.com/v1',
  exampleModels: ['gpt-image-1', 'dall-e-3', 'dall-e-2'],
  documentation: 'https://platform.openai.com/docs/api-reference/images',
};

export function createOpenAI(settings: OpenAIProviderSettings = {}): OpenAIProvider {
  const { organization, project } = settings;
  const { client, ...config } = createHostedClient(settings, {
    info: openaiProviderInfo,
    readError: readOpenAIError,
    authenticate: (key) => ({ authorization: `Bearer ${key()}`, ...(organization ? { 'openai-organization': organization } : {}), ...(project ? { 'openai-project': project } : {}) }),
  });
  const imageModel = (modelId: OpenAIImageModelId) => new OpenAIImageModel(modelId, { client, ...config });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading OPENAI_API_KEY when first used. */
export const openai = createOpenAI();
