// Factory for Google's image models on the Gemini API: API key from GEMINI_API_KEY (or GOOGLE_API_KEY) sent as `x-goog-api-key`.
import { createHostedClient } from '../shared/hosted-client.js';
import { loadApiKey, type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { GoogleImageModel, googleErrorReader, type GoogleImageModelId } from './google-image-model.js';

export type GoogleProviderSettings = HostedProviderSettings;

export interface GoogleProvider {
  (modelId: GoogleImageModelId): GoogleImageModel;
  imageModel(modelId: GoogleImageModelId): GoogleImageModel;
}

export const googleApiKeyVariable = 'GEMINI_API_KEY';
/** The other name Google's own libraries read; when both are set it wins, as it does there (https://ai.google.dev/gemini-api/docs/api-key). */
export const googleAlternateApiKeyVariable = 'GOOGLE_API_KEY';

export const googleProviderInfo: HostedProviderInfo = {
  name: 'google',
  apiKeyVariables: [googleApiKeyVariable],
  alternateVariables: { [googleApiKeyVariable]: [googleAlternateApiKeyVariable] },
  defaultBaseUrl: 'https://generativelanguage.googleapis.com/v1beta',
  exampleModels: ['imagen-4.0-generate-001', 'imagen-4.0-ultra-generate-001', 'imagen-4.0-fast-generate-001', 'gemini-2.5-flash-image'],
  documentation: 'https://ai.google.dev/gemini-api/docs/image-generation',
};

export function createGoogle(settings: GoogleProviderSettings = {}): GoogleProvider {
  const { apiKey } = settings;
  const key = () => {
    const alternate = process.env[googleAlternateApiKeyVariable]?.trim();
    return loadApiKey({ provider: 'google', apiKey: apiKey ?? (alternate ? alternate : undefined), variable: googleApiKeyVariable, description: `API key (${googleApiKeyVariable} or ${googleAlternateApiKeyVariable})` });
  };
  // The key goes in a header, never in a `?key=` query string that proxies and logs keep.
  const { client, ...config } = createHostedClient(settings, { info: googleProviderInfo, readError: googleErrorReader(googleApiKeyVariable), authenticate: () => ({ 'x-goog-api-key': key() }) });
  const imageModel = (modelId: GoogleImageModelId) => new GoogleImageModel(modelId, { client, ...config });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading GEMINI_API_KEY (or GOOGLE_API_KEY) when first used. */
export const google = createGoogle();
