// Factory for OpenAI image models: API key from OPENAI_API_KEY, base URL settable for proxies and gateways.
import { ApiClient } from '../shared/api-client.js';
import { hostedDefaults, loadApiKey, resolveBaseUrl, type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
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
  const { apiKey, baseURL, headers, organization, project, fetch, maxRetries = hostedDefaults.maxRetries, retryDelayMs = hostedDefaults.retryDelayMs, timeoutMs = hostedDefaults.timeoutMs, sleep = hostedDefaults.sleep, random = hostedDefaults.random } = settings;
  const client = new ApiClient({
    provider: 'openai',
    baseURL: resolveBaseUrl('openai', baseURL, openaiProviderInfo.defaultBaseUrl),
    apiKeyVariable: openaiApiKeyVariable,
    headers: () => ({
      authorization: `Bearer ${loadApiKey({ provider: 'openai', apiKey, variable: openaiApiKeyVariable })}`,
      ...(organization ? { 'openai-organization': organization } : {}),
      ...(project ? { 'openai-project': project } : {}),
      ...headers,
    }),
    fetch,
    maxRetries,
    retryDelayMs,
    sleep,
    random,
    readError: readOpenAIError,
  });
  const imageModel = (modelId: OpenAIImageModelId) => new OpenAIImageModel(modelId, { client, timeoutMs });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading OPENAI_API_KEY when first used. */
export const openai = createOpenAI();
