// What a call consumed and cost, every attempt it took, and how a router chose the model.

/** What the provider billed for, where it says. */
export interface ImageModelUsage {
  /** Images made. */
  images: number;
  /** Prompt tokens, for token-billed models (gpt-image-1, Gemini). */
  inputTokens?: number;
  /** Output tokens, for token-billed models. */
  outputTokens?: number;
}

/** An estimate from pixelpipe's price table, not the provider's invoice. */
export interface ImageModelCost {
  /** Estimated cost of the call in US dollars. */
  amountUsd: number;
  /** How it was computed, e.g. `2 images × $0.04 (1024x1024, standard)`. */
  basis: string;
  /** Where the price comes from (a pricing page URL). */
  source: string;
  /** When that price was read, `YYYY-MM-DD`. */
  priceDate: string;
}

/** One try at one request or one model: retries and fallbacks each add one. */
export interface ImageModelAttempt {
  /** Provider name. */
  provider: string;
  /** Model id within the provider. */
  modelId: string;
  /** The request, e.g. `POST /v1/images/generations`; absent for a whole-model attempt by a router. */
  request?: string;
  /** How it ended. */
  outcome: 'succeeded' | 'failed';
  /** HTTP status, when there was one. */
  statusCode?: number;
  /** The error's class name and message, when it failed. */
  error?: { name: string; message: string; isRetryable: boolean };
  /** How long we waited before the next attempt, when there was one. */
  retryDelayMs?: number;
  /** Milliseconds the attempt took. */
  durationMs: number;
}

/** Why a routing model sent the call where it did. */
export interface ImageModelRouting {
  /** The router's name. */
  router: string;
  /** The rule that chose the candidate list, e.g. `fallback` or `text-rendering`. */
  rule: string;
  /** Why, in words. */
  reason: string;
  /** The candidates in the order they were tried, as `provider:modelId`. */
  candidates: string[];
  /** Candidates left out and why (e.g. above the cost ceiling). */
  skipped: { model: string; reason: string }[];
  /** The candidate that made the images. */
  chosen: string;
}
