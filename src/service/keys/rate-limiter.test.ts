// The per-key token bucket on an injected clock: bursts, steady refill, Retry-After, and forgetting idle keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isInvalidArgument } from '../../testing/assertions.js';
import { RateLimiter } from './rate-limiter.js';

function limiterAt(start = 1_000_000) {
  let now = start;
  const limiter = new RateLimiter({ now: () => now });
  return { limiter, advance: (milliseconds: number) => void (now += milliseconds), set: (time: number) => void (now = time) };
}

const takeMany = (limiter: RateLimiter, keyId: string, perMinute: number, count: number) => Array.from({ length: count }, () => limiter.take(keyId, perMinute).allowed);

test('a key may spend its whole minute at once, then is refused with the wait until the next request', () => {
  const { limiter, advance } = limiterAt();
  assert.deepEqual(takeMany(limiter, 'a', 60, 60), Array(60).fill(true));
  assert.deepEqual(limiter.take('a', 60), { allowed: false, retryAfterMs: 1000 });
  advance(400);
  assert.deepEqual(limiter.take('a', 60), { allowed: false, retryAfterMs: 600 });
  advance(600);
  assert.deepEqual(limiter.take('a', 60), { allowed: true, retryAfterMs: 0 });
  assert.equal(limiter.take('a', 60).allowed, false);
});

test('after the burst it refills at the steady rate, and never holds more than one minute’s worth', () => {
  const { limiter, advance } = limiterAt();
  takeMany(limiter, 'a', 6, 6);
  // 6 per minute: one every 10 s.
  let allowed = 0;
  for (let second = 0; second < 60; second += 1) {
    advance(1000);
    if (limiter.take('a', 6).allowed) allowed += 1;
  }
  assert.equal(allowed, 6);
  // An hour idle saves up one minute, not sixty.
  advance(3_600_000);
  assert.deepEqual(takeMany(limiter, 'a', 6, 7), [true, true, true, true, true, true, false]);
});

test('keys have separate buckets', () => {
  const { limiter } = limiterAt();
  assert.deepEqual(takeMany(limiter, 'a', 2, 3), [true, true, false]);
  assert.deepEqual(takeMany(limiter, 'b', 2, 3), [true, true, false]);
  assert.deepEqual(takeMany(limiter, 'c', 1, 2), [true, false]);
});

test('a lowered limit caps what was saved up; a raised one refills faster', () => {
  const { limiter, advance } = limiterAt();
  limiter.take('a', 100);
  assert.deepEqual(takeMany(limiter, 'a', 3, 4), [true, true, true, false]);
  assert.deepEqual(limiter.take('a', 600), { allowed: false, retryAfterMs: 100 });
  advance(100);
  assert.equal(limiter.take('a', 600).allowed, true);
});

test('a clock that steps back refills nothing and breaks nothing', () => {
  const { limiter, set } = limiterAt(10_000_000);
  takeMany(limiter, 'a', 2, 2);
  set(9_000_000);
  assert.deepEqual(limiter.take('a', 2), { allowed: false, retryAfterMs: 30_000 });
  set(10_000_000 + 30_000);
  assert.equal(limiter.take('a', 2).allowed, true);
});

test('keys idle for a minute are forgotten, so memory follows the active keys only', () => {
  const { limiter, advance } = limiterAt();
  for (let index = 0; index < 1000; index += 1) limiter.take(`key-${index}`, 10);
  assert.equal(limiter.size, 1000);
  advance(30_000);
  limiter.take('busy', 10);
  assert.equal(limiter.size, 1001);
  advance(30_000);
  limiter.take('busy', 10);
  // The 1000 idle buckets are full again, the same as having none.
  assert.equal(limiter.size, 1);
  // A forgotten key starts with a full bucket, as it would have had.
  assert.deepEqual(takeMany(limiter, 'key-0', 10, 11), [...Array(10).fill(true), false]);
});

test('a limit below one request per minute is refused, naming perMinute', () => {
  const { limiter } = limiterAt();
  for (const perMinute of [0, -5, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => limiter.take('a', perMinute), isInvalidArgument('perMinute', /at least 1/));
  }
});
