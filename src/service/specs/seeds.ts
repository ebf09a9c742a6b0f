// Seeds of a build's outputs: fixed, drawn from a range, or derived; drawn and derived ones hash the output's path so adding outputs leaves the others' seeds alone.
import { createHash } from 'node:crypto';
import type { Complaint } from './templates.js';

/** How a spec picks each output's seed. */
export type SeedRule = { type: 'fixed'; seed: bigint } | { type: 'range'; from: bigint; to: bigint } | { type: 'derived' };

export const maximumSeed = 2n ** 64n - 1n;
const seedFix = `use a whole number from 0 to ${maximumSeed}`;

/** Why a seed as written is refused, or undefined when it is a seed. */
export function seedComplaint(value: number | string): Complaint | undefined {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) return { problem: `${value} is not a seed`, fix: seedFix };
    if (!Number.isSafeInteger(value)) return { problem: `${value} is above 2^53 and was rounded when read`, fix: 'write it as a string in quotes, such as "18446744073709551615"' };
    return undefined;
  }
  if (!/^\d+$/.test(value)) return { problem: `${JSON.stringify(value)} is not a seed`, fix: seedFix };
  if (BigInt(value) > maximumSeed) return { problem: `${value} is above 2^64 - 1`, fix: seedFix };
  return undefined;
}

/** A seed that `seedComplaint` accepted. */
export function toSeed(value: number | string): bigint {
  return BigInt(value);
}

/** The first 8 bytes of SHA-256 over the path (UTF-8), read as an unsigned big-endian integer. */
export function pathHash(path: string): bigint {
  return createHash('sha256').update(path, 'utf8').digest().readBigUInt64BE(0);
}

/** The seed of the output written at `path`, as a decimal string. */
export function resolveSeed(rule: SeedRule, path: string): string {
  switch (rule.type) {
    case 'fixed':
      return rule.seed.toString();
    case 'range':
      return (rule.from + (pathHash(path) % (rule.to - rule.from + 1n))).toString();
    case 'derived':
      return (pathHash(path) % 2n ** 32n).toString();
  }
}
