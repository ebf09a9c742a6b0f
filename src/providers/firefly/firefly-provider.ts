// Factory for Adobe Firefly image models: client ID and secret from FIREFLY_SERVICES_CLIENT_ID/_SECRET, IMS token cached.
import { createHostedClient } from '../shared/hosted-client.js';
import { type HostedProviderInfo, type HostedProviderSettings } from '../shared/provider-settings.js';
import { FireflyAccessToken, fireflyClientIdVariable, fireflyClientSecretVariable, fireflyDefaultScope } from './firefly-access-token.js';
import { FireflyImageModel, readFireflyError, type FireflyImageModelId } from './firefly-image-model.js';

export interface FireflyProviderSettings extends HostedProviderSettings {
  /** OAuth server-to-server client ID (Adobe's console also calls it the API key; `apiKey` is taken as the same). Read from FIREFLY_SERVICES_CLIENT_ID on first use when omitted. */
  clientId?: string;
  /** OAuth server-to-server client secret; read from FIREFLY_SERVICES_CLIENT_SECRET on first use when omitted. */
  clientSecret?: string;
  /** Adobe IMS token endpoint; PIXELPIPE_FIREFLY_TOKEN_URL, then https://ims-na1.adobelogin.com/ims/token/v3, when omitted. */
  tokenURL?: string;
  /** Scopes asked for with the token; the ones Adobe's Firefly authentication guide lists when omitted. */
  scope?: string;
}

export interface FireflyProvider {
  (modelId: FireflyImageModelId): FireflyImageModel;
  imageModel(modelId: FireflyImageModelId): FireflyImageModel;
}

export { fireflyClientIdVariable, fireflyClientSecretVariable };

/** Overrides the IMS token endpoint (tests, proxies), as PIXELPIPE_<PROVIDER>_BASE_URL overrides the API. */
export const fireflyTokenUrlVariable = 'PIXELPIPE_FIREFLY_TOKEN_URL';

export const fireflyDefaultTokenUrl = 'https://ims-na1.adobelogin.com/ims/token/v3';

export const fireflyProviderInfo: HostedProviderInfo = {
  name: 'firefly',
  apiKeyVariables: [fireflyClientIdVariable, fireflyClientSecretVariable],
  defaultBaseUrl: 'https://firefly-api.adobe.io',
  exampleModels: ['image4_standard', 'image4_ultra', 'image3'],
  documentation: 'https://developer.adobe.com/firefly-services/docs/firefly-api/',
};

export function createFirefly(settings: FireflyProviderSettings = {}): FireflyProvider {
  const { apiKey, clientId = apiKey, clientSecret, tokenURL, scope = fireflyDefaultScope } = settings;
  // The bearer token is fetched asynchronously, so each request adds it (with `x-api-key`) itself.
  const { client, ...config } = createHostedClient({ ...settings, apiKey: undefined }, { info: fireflyProviderInfo, readError: readFireflyError });
  const credentials = new FireflyAccessToken({ clientId, clientSecret, scope, tokenURL: tokenURL ?? process.env[fireflyTokenUrlVariable] ?? fireflyDefaultTokenUrl });
  const imageModel = (modelId: FireflyImageModelId) => new FireflyImageModel(modelId, { client, ...config, credentials });
  return Object.assign(imageModel, { imageModel });
}

/** A default instance reading FIREFLY_SERVICES_CLIENT_ID and FIREFLY_SERVICES_CLIENT_SECRET when first used. */
export const firefly = createFirefly();
