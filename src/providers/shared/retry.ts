// Exponential backoff with jitter for retryable errors only, honouring the provider's Retry-After.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';

export interface BackoffSettings {
  /** First delay in ms, doubled per retry. */
  retryDelayMs: number;
  /** No computed delay exceeds this (a Retry-After may). */
  maxRetryDelayMs?: number;
  /** Random numbers in [0, 1). */
  random: () => number;
}

/** Milliseconds the error asks us to wait (Retry-After), when it says. */
export function retryAfterOf(error: unknown): number | undefined {
  const value = (error as { retryAfterMs?: unknown } | undefined)?.retryAfterMs;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}

export function isRetryable(error: unknown): boolean {
  return PixelpipeError.isInstance(error) && error.isRetryable;
}

/**
 * Delay before retry number `retry` (0-based). A Retry-After is honoured as given; otherwise
 * "equal jitter": half the exponential delay fixed, half random, so clients that failed together
 * do not come back together.
 */
export function backoffDelay(retry: number, error: unknown, { retryDelayMs, maxRetryDelayMs = 30_000, random }: BackoffSettings): number {
  const retryAfter = retryAfterOf(error);
  if (retryAfter !== undefined) return retryAfter;
  const exponential = Math.min(maxRetryDelayMs, retryDelayMs * 2 ** retry);
  return Math.round(exponential / 2 + random() * (exponential / 2));
}

/**
 * Parses Retry-After (seconds or an HTTP date) and the `retry-after-ms` header some APIs add.
 * Returns undefined when neither is present or readable.
 */
export function parseRetryAfter(headers: Headers, now: number = Date.now()): number | undefined {
  const milliseconds = Number(headers.get('retry-after-ms'));
  if (headers.has('retry-after-ms') && Number.isFinite(milliseconds) && milliseconds >= 0) return milliseconds;
  const value = headers.get('retry-after');
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
