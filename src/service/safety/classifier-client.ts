// The HTTP client a moderation classifier is asked through: the providers' client, with its typed errors and retries, on the policy's base URL.
import { ApiClient, type CallContext } from '../../providers/shared/api-client.js';
import type { ErrorReader } from '../../providers/shared/http-errors.js';
import { hostedDefaults } from '../../providers/shared/provider-settings.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';

/** What a classifier call needs besides the policy. */
export interface ClassifierOptions {
  /** The fetch to use (tests, proxies); the global one when omitted. */
  fetch?: typeof fetch;
  /** Where API keys are read, at call time; `process.env` when omitted. */
  environment?: NodeJS.ProcessEnv;
  /** Stops the call. */
  signal?: AbortSignal;
  /** Longest a call may take, retries included; default 30 000 ms. */
  timeoutMs?: number;
  /** Retries after a retryable failure (429, 5xx, no connection); default 2. */
  maxRetries?: number;
  /** Waits between retries; injectable so tests need not sleep. */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
}

/** Where a classifier is and how it is authenticated, from the policy (never from a client's request). */
export interface ClassifierEndpoint {
  /** `openai` or `llama-guard`: named in errors. */
  provider: string;
  baseURL: string;
  model: string;
  /** The environment variable holding the bearer key; none is sent without it. */
  apiKeyVariable?: string;
  readError?: ErrorReader;
}

/** A client and the call context of one classification. */
export function classifierCall({ provider, baseURL, model, apiKeyVariable, readError }: ClassifierEndpoint, options: ClassifierOptions): { client: ApiClient; context: CallContext } {
  const { fetch, environment = process.env, signal, timeoutMs = 30_000, maxRetries = hostedDefaults.maxRetries, sleep = hostedDefaults.sleep } = options;
  // Read at call time, so a key set after the policy was loaded is used.
  const headers = (): Record<string, string> => {
    if (!apiKeyVariable) return {};
    const key = environment[apiKeyVariable]?.trim();
    if (!key) throw new AuthenticationError({ provider, apiKeyVariable, message: `${provider}: the moderation policy's classifier needs an API key in ${apiKeyVariable}, which is not set; set it, or name another variable as the policy's apiKeyVariable` });
    return { authorization: `Bearer ${key}` };
  };
  const client = new ApiClient({ provider, baseURL, headers, apiKeyVariable, fetch, maxRetries, retryDelayMs: hostedDefaults.retryDelayMs, sleep, random: hostedDefaults.random, readError });
  const deadline = AbortSignal.timeout(timeoutMs);
  return { client, context: { modelId: model, signal: signal ? AbortSignal.any([signal, deadline]) : deadline, attempts: [] } };
}
