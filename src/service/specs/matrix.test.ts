// Tests of matrix expansion: order, include, exclude, and counting without enumerating.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { combinations, countCombinations, type Matrix } from './matrix.js';

const matrix: Matrix = {
  axes: [
    { name: 'locale', values: ['de-DE', 'fr-FR'] },
    { name: 'product', values: ['shoe', 'bag'] },
    { name: 'size', values: ['1200x628', '1:1'] },
  ],
  include: [{ locale: 'ja-JP', product: 'shoe' }, { locale: 'it-IT', product: 'hat', size: '9:16' }],
  exclude: [{ locale: 'fr-FR', product: 'bag' }, { product: 'shoe', size: '1:1' }],
};

test('the first axis varies slowest, excludes drop matches of every key, includes come last (once per size when they name none)', () => {
  const text = [...combinations(matrix)].map((combination) => Object.values(combination).join(' '));
  assert.deepEqual(text, [
    'de-DE shoe 1200x628',
    'de-DE bag 1200x628',
    'de-DE bag 1:1',
    'fr-FR shoe 1200x628',
    'ja-JP shoe 1200x628',
    'ja-JP shoe 1:1',
    'it-IT hat 9:16',
  ]);
  assert.equal(countCombinations(matrix), 7);
});

test('no axes is one empty combination', () => {
  assert.deepEqual([...combinations({ axes: [], include: [], exclude: [] })], [{}]);
  assert.equal(countCombinations({ axes: [], include: [], exclude: [] }), 1);
});

test('counting a large matrix with excludes matches enumeration and needs no outputs', () => {
  const values = (count: number) => Array.from({ length: count }, (_, index) => String(index));
  const large: Matrix = {
    axes: [{ name: 'a', values: values(50) }, { name: 'b', values: values(40) }, { name: 'c', values: values(30) }],
    include: [{ a: 'x', b: 'y', c: 'z' }],
    exclude: [{ a: '1' }, { b: '2', c: '3' }, { a: '1', b: '2' }],
  };
  // 60,000 combinations; a=1 drops 1,200; b=2,c=3 drops 50 of which 1 has a=1; plus one include.
  const expected = 60_000 - 1_200 - 49 + 1;
  assert.equal(countCombinations(large), expected);
  let enumerated = 0;
  for (const _ of combinations(large)) enumerated += 1;
  assert.equal(enumerated, expected);
});
