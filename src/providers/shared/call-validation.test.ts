// The one seed parse every edge uses: the forms it takes, and errors that name the field, the value and the fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { parseSeed, seedOption, seedProblem } from './call-validation.js';

const maxSeed = 2n ** 64n - 1n;

test('parseSeed takes a safe-integer number, a bigint or a decimal string from 0 to 2^64 − 1', () => {
  assert.equal(parseSeed(0), 0n);
  assert.equal(parseSeed(Number.MAX_SAFE_INTEGER), 2n ** 53n - 1n);
  assert.equal(parseSeed(maxSeed), maxSeed);
  assert.equal(parseSeed('18446744073709551615'), maxSeed);
  assert.equal(parseSeed(' 42 '), 42n);
});

for (const [value, got] of [[-1, '-1'], [-1n, '-1'], [1.5, '1.5'], [Number.NaN, 'NaN'], [Number.POSITIVE_INFINITY, 'Infinity'], [1n << 64n, '18446744073709551616'], ['18446744073709551616', '18446744073709551616'], ['abc', '"abc"'], ['-5', '"-5"']] as const) {
  test(`parseSeed refuses ${typeof value} ${String(value)}, naming the range and the value`, () => {
    assert.throws(
      () => parseSeed(value),
      (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'seed' && Object.is(error.value, value) && error.message === `\`seed\` must be an integer from 0 to ${maxSeed}, got ${got}`,
    );
  });
}

test('an integer number above 2^53 is refused with the fix: a bigint or a string', () => {
  assert.throws(() => parseSeed(2 ** 60), /got 1152921504606847000 \(above 2\^53 pass it as a bigint or a string\)$/);
  assert.equal(seedProblem(2 ** 60), `must be an integer from 0 to ${maxSeed} (above 2^53 send it as a decimal string)`);
});

test('seedProblem says what a seed must be, or nothing for a seed', () => {
  assert.equal(seedProblem('7'), undefined);
  assert.equal(seedProblem('18446744073709551616'), `must be an integer from 0 to ${maxSeed}`);
});

test('seedOption parses a number and takes a bigint as already parsed', () => {
  assert.equal(seedOption(undefined), undefined);
  assert.equal(seedOption(7), 7n);
  assert.equal(seedOption(9n), 9n);
  assert.throws(() => seedOption(-1), InvalidArgumentError.isInstance);
});
