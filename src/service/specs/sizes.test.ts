// Tests of sizes and generation sizes: WxH within 8..8192, aspect ratios, and multiples of 8 for what the model is asked.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generationSizeComplaint, parseSize, sizeComplaint } from './sizes.js';

test('WxH and W:H parse; anything else says how to write a size', () => {
  assert.deepEqual(parseSize('1200x628'), { kind: 'pixels', text: '1200x628', width: 1200, height: 628 });
  assert.deepEqual(parseSize('16:9'), { kind: 'aspect', text: '16:9', aspectRatio: '16:9' });
  assert.equal(sizeComplaint('8x8192'), undefined);
  assert.deepEqual(sizeComplaint('1200×628'), { problem: '"1200×628" is not a size', fix: 'write WxH such as 1200x628, or an aspect ratio such as 16:9' });
  assert.deepEqual(sizeComplaint('4x100'), { problem: '"4x100" has a width of 4, outside 8 to 8192', fix: 'use whole numbers from 8 to 8192 for width and height' });
  assert.deepEqual(sizeComplaint('16:0'), { problem: '"16:0" has a zero side', fix: 'write an aspect ratio of two whole numbers from 1, such as 16:9' });
});

test('a generation size is WxH in multiples of 8', () => {
  assert.equal(generationSizeComplaint('512x768'), undefined);
  assert.deepEqual(generationSizeComplaint('500x512'), { problem: '"500x512" is not a multiple of 8 in both sides', fix: 'use multiples of 8, such as 504x512' });
  assert.deepEqual(generationSizeComplaint('1:1'), { problem: '"1:1" is an aspect ratio, not pixels', fix: 'write WxH such as 512x512, in multiples of 8' });
});
