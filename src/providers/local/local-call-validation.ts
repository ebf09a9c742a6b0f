// Checks a call's options against what the local engine can do; each error names the field, value and fix.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { randomInt } from 'node:crypto';

const maxSeed = 2n ** 64n - 1n;

function fail(argument: string, value: unknown, message: string): never {
  throw new InvalidArgumentError({ argument, value, message });
}

export function checkDimension(argument: 'width' | 'height', value: number, multiple: number): number {
  if (!Number.isInteger(value) || value <= 0) fail(argument, value, `\`${argument}\` must be a positive whole number of pixels, got ${value}`);
  if (value % multiple !== 0) {
    const lower = Math.max(multiple, Math.floor(value / multiple) * multiple);
    fail(argument, value, `\`${argument}\` must be a multiple of ${multiple} for this model (its VAE and UNet downsampling), got ${value} (try ${lower} or ${lower + multiple}; editing an input of any size pads and crops it for you)`);
  }
  return value;
}

export function checkSteps(value: number): number {
  if (!Number.isInteger(value) || value < 1 || value > 1000) fail('steps', value, `\`steps\` must be a whole number from 1 to 1000, got ${value}`);
  return value;
}

export function checkGuidance(value: number): number {
  if (!Number.isFinite(value) || value < 0) fail('guidance', value, `\`guidance\` must be a number ≥ 0 (1 or less turns classifier-free guidance off), got ${value}`);
  return value;
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
