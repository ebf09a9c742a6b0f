// Tests of seeds: fixed, drawn from a range by the path's hash, derived, and the limits of what a seed may be.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { resolveSeed, seedComplaint } from './seeds.js';

/** The path hash computed independently: the first 16 hex digits of SHA-256. */
function hashOf(path: string): bigint {
  return BigInt(`0x${createHash('sha256').update(path).digest('hex').slice(0, 16)}`);
}

test('a fixed seed is the same for every output', () => {
  assert.equal(resolveSeed({ type: 'fixed', seed: 18446744073709551615n }, 'out/a.png'), '18446744073709551615');
});

test('a range seed is from + hash mod the range length, and depends only on the path', () => {
  for (const path of ['out/de-DE/shoe-1200x628.webp', 'out/fr-FR/bag-1:1.webp']) {
    assert.equal(resolveSeed({ type: 'range', from: 1000n, to: 1999n }, path), String(1000n + (hashOf(path) % 1000n)));
  }
  assert.equal(resolveSeed({ type: 'range', from: 7n, to: 7n }, 'out/a.png'), '7');
});

test('a derived seed is the hash mod 2^32', () => {
  assert.equal(resolveSeed({ type: 'derived' }, 'out/a.png'), String(hashOf('out/a.png') % 4294967296n));
});

test('seeds above 2^53 must be strings, and none may pass 2^64 - 1', () => {
  assert.equal(seedComplaint(42), undefined);
  assert.equal(seedComplaint('18446744073709551615'), undefined);
  assert.deepEqual(seedComplaint(2 ** 60), { problem: '1152921504606847000 is above 2^53 and was rounded when read', fix: 'write it as a string in quotes, such as "18446744073709551615"' });
  assert.deepEqual(seedComplaint('18446744073709551616'), { problem: '18446744073709551616 is above 2^64 - 1', fix: 'use a whole number from 0 to 18446744073709551615' });
  assert.deepEqual(seedComplaint(-1), { problem: '-1 is not a seed', fix: 'use a whole number from 0 to 18446744073709551615' });
});
