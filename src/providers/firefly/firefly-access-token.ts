// Firefly's server-to-server OAuth: an IMS token from the client ID and secret, cached until shortly before it expires.
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import type { ApiClient, CallContext } from '../shared/api-client.js';
import type { ErrorReader } from '../shared/http-errors.js';
import { loadApiKey } from '../shared/provider-settings.js';
import { fireflyTokenSchema, imsErrorSchema } from './firefly-api.js';

export const fireflyClientIdVariable = 'FIREFLY_SERVICES_CLIENT_ID';
export const fireflyClientSecretVariable = 'FIREFLY_SERVICES_CLIENT_SECRET';

/** The scopes Adobe's Firefly authentication guide asks for. */
export const fireflyDefaultScope = 'openid,AdobeID,session,additional_info,read_organizations,firefly_api,ff_apis';

/** A token is replaced this long before IMS says it expires (at most a tenth of its life), so no call starts with one about to lapse. */
const refreshMarginMs = 5 * 60_000;

/** IMS says `invalid_client` (or similar) for a wrong ID or secret: that is an authentication failure, whatever the status. */
const readImsError: ErrorReader = ({ body, status, text, url }) => {
  const parsed = imsErrorSchema.safeParse(body);
  if (!parsed.success) return undefined;
  const { error, error_description: description } = parsed.data;
  if (['invalid_client', 'unauthorized_client', 'invalid_scope', 'invalid_grant'].includes(error)) {
    return { error: new AuthenticationError({ provider: 'firefly', statusCode: status, url, responseBody: text, apiKeyVariable: fireflyClientSecretVariable, message: `Adobe IMS refused the Firefly credentials (${error}${description ? `: ${description}` : ''}); check ${fireflyClientIdVariable} and ${fireflyClientSecretVariable}` }) };
  }
  return { message: description ?? error };
};

export interface FireflyCredentialSettings {
  clientId: string | undefined;
  clientSecret: string | undefined;
  tokenURL: string;
  scope: string;
}

/** One provider's access token: fetched on first use, reused by later calls, renewed before it expires. */
export class FireflyAccessToken {
  private cached: { token: string; renewAt: number; clientId: string } | undefined;

  constructor(private readonly settings: FireflyCredentialSettings) {}

  /** `Authorization` and `x-api-key` for one API request; the credentials are read now, so a missing one is named before anything is sent. */
  async headers(client: ApiClient, context: CallContext): Promise<Record<string, string>> {
    const clientId = loadApiKey({ provider: 'firefly', apiKey: this.settings.clientId, variable: fireflyClientIdVariable, description: 'client ID' });
    const clientSecret = loadApiKey({ provider: 'firefly', apiKey: this.settings.clientSecret, variable: fireflyClientSecretVariable, description: 'client secret' });
    return { authorization: `Bearer ${await this.token(client, context, clientId, clientSecret)}`, 'x-api-key': clientId };
  }

  /** Drops the cached token (Firefly answered 401 with it), so the next call fetches a new one. */
  invalidate(): void {
    this.cached = undefined;
  }

  // Calls that start together before the first token arrives each fetch one; sharing a request would tie
  // every call to the abort signal of the call that started it.
  private async token(client: ApiClient, context: CallContext, clientId: string, clientSecret: string): Promise<string> {
    if (this.cached && this.cached.clientId === clientId && Date.now() < this.cached.renewAt) return this.cached.token;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, scope: this.settings.scope });
    const { data: answer } = await client.request(context, { path: this.settings.tokenURL, raw: { body: form.toString(), contentType: 'application/x-www-form-urlencoded' }, authenticated: false, schema: fireflyTokenSchema, readError: readImsError, apiKeyVariable: fireflyClientSecretVariable });
    const lifetimeMs = answer.expires_in * 1000;
    this.cached = { token: answer.access_token, renewAt: Date.now() + lifetimeMs - Math.min(refreshMarginMs, lifetimeMs / 10), clientId };
    return answer.access_token;
  }
}
