// Checks every provider applies to the generic call options; each error names the field, value and fix.
import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';

const maxSeed = 2n ** 64n - 1n;

function fail(argument: string, value: unknown, message: string): never {
  throw new InvalidArgumentError({ argument, value, message });
}

export function checkImageCount(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 64) fail('n', value, `\`n\` must be a whole number from 1 to 64, got ${value}`);
  return value;
}

/** Accepts 0..2^64−1 as number, bigint or decimal string; picks a random 32-bit seed when absent. */
export function checkSeed(value: number | bigint | string | undefined): bigint {
  if (value === undefined) return BigInt(randomInt(0, 2 ** 32));
  const range = `an integer from 0 to ${maxSeed}`;
  let seed: bigint;
  if (typeof value === 'bigint') seed = value;
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) fail('seed', value, `\`seed\` must be ${range}, got ${value}${Number.isInteger(value) ? ' (above 2^53 pass it as a bigint or a string)' : ''}`);
    seed = BigInt(value);
  } else {
    if (!/^\d+$/.test(value.trim())) fail('seed', value, `\`seed\` must be ${range}, got ${JSON.stringify(value)}`);
    seed = BigInt(value.trim());
  }
  if (seed < 0n || seed > maxSeed) fail('seed', value, `\`seed\` must be ${range}, got ${seed}`);
  return seed;
}

/** The seed of image `index` of a call: seed + index, wrapping at 2^64 like a uint64. */
export function seedForImage(seed: bigint, index: number): bigint {
  return (seed + BigInt(index)) & maxSeed;
}

/** Editing strength: the fraction of the schedule that runs, in (0, 1]. */
export function checkStrength(value: number): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) fail('strength', value, `\`strength\` must be a number in (0, 1] (0.3 keeps most of the image, 1 repaints it), got ${value}`);
  return value;
}
