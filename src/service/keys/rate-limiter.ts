// Requests per minute per API key, counted in this process with a token bucket that forgets idle keys.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

/** Options of the limiter. */
export interface RateLimiterOptions {
  /** The clock, in milliseconds. */
  now?: () => number;
}

/** The answer to one request. */
export interface RateLimitDecision {
  /** Whether the request may go ahead; it used up one request of the allowance when it may. */
  allowed: boolean;
  /** When refused, milliseconds until one request is allowed again (for `Retry-After`); 0 when allowed. */
  retryAfterMs: number;
}

// Credit is counted in request-milliseconds per minute: a request costs `minuteMs`, each millisecond
// adds `perMinute`. With whole limits and a whole-millisecond clock every step is an exact integer,
// so a request that arrives exactly on time is never refused for a rounding error.
interface Bucket {
  credit: number;
  updatedAt: number;
}

const minuteMs = 60_000;

/**
 * A token bucket per key: it holds up to `perMinute` requests and refills at `perMinute` per
 * minute, so a key may spend its whole minute in a burst, then goes at the steady rate. Counts
 * live in this process only: behind a load balancer with N server processes a key gets up to N
 * times its limit. A bucket left alone for a minute is full again, which is the same as having no
 * bucket, so idle keys are dropped and memory stays proportional to the keys active in the last
 * minute or two.
 */
export class RateLimiter {
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #lastSweep: number;

  constructor({ now = Date.now }: RateLimiterOptions = {}) {
    this.#now = now;
    this.#lastSweep = now();
  }

  /** Takes one request from `keyId`'s allowance of `perMinute` requests per minute. */
  take(keyId: string, perMinute: number): RateLimitDecision {
    if (typeof perMinute !== 'number' || !Number.isFinite(perMinute) || perMinute < 1) {
      throw new InvalidArgumentError({ argument: 'perMinute', value: perMinute, message: `\`perMinute\` must be a number of requests of at least 1, got ${JSON.stringify(perMinute)}` });
    }
    const now = this.#now();
    this.#sweep(now);
    const capacity = perMinute * minuteMs;
    const bucket = this.#buckets.get(keyId);
    // A clock that steps back refills nothing; a lowered limit caps what was saved up.
    const elapsed = bucket ? Math.max(0, now - bucket.updatedAt) : 0;
    const credit = bucket ? Math.min(capacity, bucket.credit + elapsed * perMinute) : capacity;
    const updatedAt = bucket ? Math.max(now, bucket.updatedAt) : now;
    if (credit >= minuteMs) {
      this.#buckets.set(keyId, { credit: credit - minuteMs, updatedAt });
      return { allowed: true, retryAfterMs: 0 };
    }
    this.#buckets.set(keyId, { credit, updatedAt });
    return { allowed: false, retryAfterMs: Math.ceil((minuteMs - credit) / perMinute) };
  }

  /** How many keys the limiter holds a bucket for (for tests and metrics). */
  get size(): number {
    return this.#buckets.size;
  }

  // At most once a minute, drop buckets untouched for a minute: any limit has refilled them by then.
  #sweep(now: number): void {
    if (now - this.#lastSweep < minuteMs) return;
    this.#lastSweep = now;
    for (const [keyId, bucket] of this.#buckets) {
      if (now - bucket.updatedAt >= minuteMs) this.#buckets.delete(keyId);
    }
  }
}
