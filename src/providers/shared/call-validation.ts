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

/** What a seed must be; edges that report in their own words (the job request schema) say this. */
export const seedRule = `must be an integer from 0 to ${maxSeed}`;

/** A hint for an integer number too large to be exact, in the words of `give`; empty otherwise. */
function inexactHint(value: unknown, give: string): string {
  return typeof value === 'number' && Number.isInteger(value) && !Number.isSafeInteger(value) ? ` (above 2^53 ${give})` : '';
}

/** The seed `value` stands for (0..2^64−1 as a safe-integer number, bigint or decimal string), or undefined when none. */
function seedOf(value: unknown): bigint | undefined {
  let seed: bigint;
  if (typeof value === 'bigint') seed = value;
  else if (typeof value === 'number' && Number.isSafeInteger(value)) seed = BigInt(value);
  else if (typeof value === 'string' && /^\d+$/.test(value.trim())) seed = BigInt(value.trim());
  else return undefined;
  return seed >= 0n && seed <= maxSeed ? seed : undefined;
}

/**
 * The one parse of a seed, done where it enters (the job request schema, CLI flags, the library's
 * `generate` and `check`, a direct provider call given a number): the bigint the core passes down.
 */
export function parseSeed(value: number | bigint | string, argument = 'seed'): bigint {
  const seed = seedOf(value);
  if (seed !== undefined) return seed;
  const shown = typeof value === 'string' && !/^\d+$/.test(value.trim()) ? JSON.stringify(value) : String(value).trim();
  fail(argument, value, `\`${argument}\` ${seedRule}, got ${shown}${inexactHint(value, 'pass it as a bigint or a string')}`);
}

/** Why `value` is no seed, in the words after "`seed`" (the caller adds what it got); undefined when it is one. */
export function seedProblem(value: unknown): string | undefined {
  return seedOf(value) === undefined ? `${seedRule}${inexactHint(value, 'send it as a decimal string')}` : undefined;
}

/**
 * A call option's seed as a bigint, checked once here: pixelpipe's edges already give a bigint in
 * range, but a provider may also be called directly (the contract takes a number or a bigint), so
 * the range is checked whatever the form.
 */
export function seedOption(value: number | bigint | undefined): bigint | undefined {
  return value === undefined ? undefined : parseSeed(value);
}

/** A random seed for a call that gave none: 32 bits, which every backend takes. */
export function randomSeed(): bigint {
  return BigInt(randomInt(0, 2 ** 32));
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
