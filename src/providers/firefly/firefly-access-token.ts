// Firefly's server-to-server OAuth (an IMS token from the client ID and secret, cached until shortly before it
// expires) and the raw-body POST that both the token request and image uploads need.
import type { z } from 'zod';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import { ProviderUnavailableError } from '../../spec/errors/provider-unavailable-error.js';
import type { ApiClient, CallContext } from '../shared/api-client.js';
import { errorFromResponse, type ErrorReader } from '../shared/http-errors.js';
import { loadApiKey } from '../shared/provider-settings.js';
import { backoffDelay, isRetryable } from '../shared/retry.js';
import { fireflyTokenSchema, imsErrorSchema } from './firefly-api.js';

export const fireflyClientIdVariable = 'FIREFLY_SERVICES_CLIENT_ID';
export const fireflyClientSecretVariable = 'FIREFLY_SERVICES_CLIENT_SECRET';

/** The scopes Adobe's Firefly authentication guide asks for. */
export const fireflyDefaultScope = 'openid,AdobeID,session,additional_info,read_organizations,firefly_api,ff_apis';

/** A token is replaced this long before IMS says it expires (at most a tenth of its life), so no call starts with one about to lapse. */
const refreshMarginMs = 5 * 60_000;

/**
 * POSTs a body the shared ApiClient cannot send (form-encoded text, raw image bytes) with the same
 * retries, attempt records and typed errors as its JSON requests.
 */
export async function postRawBody<T>(
  client: ApiClient,
  context: CallContext,
  { url, body, contentType, headers, schema, readError = client.config.readError, apiKeyVariable = client.config.apiKeyVariable }: { url: string; body: string | Uint8Array; contentType: string; headers: Record<string, string>; schema: z.ZodType<T>; readError?: ErrorReader; apiKeyVariable?: string },
): Promise<T> {
  const { provider, maxRetries, sleep } = client.config;
  const label = `POST ${new URL(url).pathname}`;
  for (let retries = 0; ; retries += 1) {
    const started = performance.now();
    const record = (entry: { outcome: 'succeeded' | 'failed'; statusCode?: number; error?: unknown; retryDelayMs?: number }) => {
      const failure = entry.error === undefined ? undefined : { name: (entry.error as Error)?.name ?? 'Error', message: (entry.error as Error)?.message ?? String(entry.error), isRetryable: isRetryable(entry.error) };
      context.attempts.push({ provider, modelId: context.modelId, request: label, outcome: entry.outcome, statusCode: entry.statusCode, ...(failure ? { error: failure } : {}), retryDelayMs: entry.retryDelayMs, durationMs: Math.round(performance.now() - started) });
    };
    try {
      let response: Response;
      try {
        response = await (client.config.fetch ?? fetch)(url, { method: 'POST', headers: { ...headers, 'content-type': contentType }, body, signal: context.signal });
      } catch (cause) {
        if (context.signal.aborted) throw cause;
        throw new ProviderUnavailableError({ provider, url, cause, message: `${provider} could not be reached at ${url}: ${(cause as Error)?.message ?? cause}` });
      }
      const text = await response.text();
      if (!response.ok) throw errorFromResponse({ provider, status: response.status, headers: response.headers, text, url, apiKeyVariable, readError });
      let parsed: z.ZodSafeParseResult<T>;
      try {
        parsed = schema.safeParse(JSON.parse(text));
      } catch (cause) {
        throw new InvalidResponseError({ provider, statusCode: response.status, url, responseBody: text, cause, message: `${provider} answered ${label} with malformed JSON (HTTP ${response.status}): ${text.slice(0, 200)}` });
      }
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new InvalidResponseError({ provider, statusCode: response.status, url, responseBody: text, cause: parsed.error, message: `${provider} answered ${label} without the expected \`${issue.path.join('.')}\` (${issue.message}); the API may have changed` });
      }
      record({ outcome: 'succeeded', statusCode: response.status });
      return parsed.data;
    } catch (error) {
      const again = !context.signal.aborted && isRetryable(error) && retries < maxRetries;
      const retryDelayMs = again ? backoffDelay(retries, error, client.config) : undefined;
      record({ outcome: 'failed', statusCode: PixelpipeError.isInstance(error) ? (error as { statusCode?: number }).statusCode : undefined, error, retryDelayMs });
      if (retryDelayMs === undefined) throw error;
      await sleep(retryDelayMs, context.signal);
    }
  }
}

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
    const answer = await postRawBody(client, context, { url: this.settings.tokenURL, body: form.toString(), contentType: 'application/x-www-form-urlencoded', headers: {}, schema: fireflyTokenSchema, readError: readImsError, apiKeyVariable: fireflyClientSecretVariable });
    const lifetimeMs = answer.expires_in * 1000;
    this.cached = { token: answer.access_token, renewAt: Date.now() + lifetimeMs - Math.min(refreshMarginMs, lifetimeMs / 10), clientId };
    return answer.access_token;
  }
}
