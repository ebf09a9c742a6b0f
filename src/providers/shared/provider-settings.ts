// Settings every hosted provider factory takes, and the two things read from the environment: key and base URL.
import { setTimeout as delay } from 'node:timers/promises';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';

export interface HostedProviderSettings {
  /** API key; read from the provider's environment variable on first use when omitted. */
  apiKey?: string;
  /** API base URL (proxies, gateways, tests); `PIXELPIPE_<PROVIDER>_BASE_URL`, then the provider's own, when omitted. */
  baseURL?: string;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
  /** The fetch to use (proxies, tests); the global one when omitted. */
  fetch?: typeof fetch;
  /** Retries of one request after a retryable error (429, 5xx, connection failure); default 2. */
  maxRetries?: number;
  /** First backoff delay in ms, doubled on each retry, with jitter; default 1000. A Retry-After header wins. */
  retryDelayMs?: number;
  /** Overall limit of one `doGenerate` call in ms, polling included; default 300 000. */
  timeoutMs?: number;
  /** Delay between status polls in ms, for providers that run jobs; default 1000. */
  pollIntervalMs?: number;
  /** Waits; injectable so tests need not sleep. */
  sleep?: (milliseconds: number, signal?: AbortSignal) => Promise<void>;
  /** Random numbers in [0, 1) for backoff jitter; injectable for tests. */
  random?: () => number;
}

/** The defaults, filled in where the settings are destructured by each provider. */
export const hostedDefaults = {
  maxRetries: 2,
  retryDelayMs: 1000,
  timeoutMs: 300_000,
  pollIntervalMs: 1000,
  sleep: (milliseconds: number, signal?: AbortSignal) => delay(milliseconds, undefined, { signal }),
  random: Math.random,
} as const;

/** `PIXELPIPE_OPENAI_BASE_URL` for `openai`; dashes become underscores. */
export function baseUrlVariable(provider: string): string {
  return `PIXELPIPE_${provider.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_BASE_URL`;
}

/** The configured base URL without a trailing slash: explicit, then the environment, then the provider's default. */
export function resolveBaseUrl(provider: string, baseURL: string | undefined, fallback: string, environment: NodeJS.ProcessEnv = process.env): string {
  return (baseURL ?? environment[baseUrlVariable(provider)] ?? fallback).replace(/\/+$/, '');
}

/**
 * The API key: explicit, else the provider's usual environment variable, read now (at call time) so a
 * provider can be created before the key is set. Missing → an error naming the variable.
 */
export function loadApiKey(
  { provider, apiKey, variable, description = 'API key' }: { provider: string; apiKey: string | undefined; variable: string; description?: string },
  environment: NodeJS.ProcessEnv = process.env,
): string {
  const key = apiKey ?? environment[variable];
  if (key === undefined || key.trim() === '') {
    throw new AuthenticationError({
      provider,
      apiKeyVariable: variable,
      message: `${provider}: no ${description} found; set the ${variable} environment variable or pass \`apiKey\` to the provider factory`,
    });
  }
  return key.trim();
}

/** What `pixelpipe models --providers` shows about a hosted provider, and how the registry finds its key. */
export interface HostedProviderInfo {
  /** The `PROVIDER` in `PROVIDER:MODEL`. */
  name: string;
  /** Environment variables that configure it, all needed (the first is the API key, when it has one). */
  apiKeyVariables: string[];
  /** Other names a variable may be set under, e.g. GOOGLE_API_KEY for GEMINI_API_KEY. */
  alternateVariables?: Record<string, string[]>;
  /** Base URL used when neither the settings nor PIXELPIPE_<PROVIDER>_BASE_URL give one. */
  defaultBaseUrl: string;
  /** Model ids to show as examples. */
  exampleModels: string[];
  /** Documentation page of its image API. */
  documentation: string;
}
