// Tests for the --extend flag's parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseExtension } from './extend-flag.js';
import { isInvalidArgument } from '../../testing/assertions.js';

test('parseExtension reads any subset of the sides', () => {
  assert.deepEqual(parseExtension('left=128,right=128'), { left: 128, right: 128, top: 0, bottom: 0 });
  assert.deepEqual(parseExtension(' bottom = 64 '), { left: 0, right: 0, top: 0, bottom: 64 });
  assert.deepEqual(parseExtension('top=8,left=0,right=16,bottom=24'), { left: 0, right: 16, top: 8, bottom: 24 });
});

test('parseExtension names `extend` and the bad part', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['left=128,left=64', /left is given twice/],
    ['middle=10', /"middle" is not a side/],
    ['left=-8', /left=-8 is not a whole number/],
    ['left=1.5', /left=1.5 is not a whole number/],
    ['left=abc', /left=abc is not a whole number/],
    ['left=', /left= is not a whole number/],
    ['left', /"left" is not side=pixels/],
    ['left=8,', /"" is not side=pixels/],
    ['left=0,top=0', /adds no pixels/],
  ];
  for (const [text, pattern] of cases) assert.throws(() => parseExtension(text), isInvalidArgument('extend', pattern), text);
});
