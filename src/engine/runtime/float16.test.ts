import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';

// Reference bit patterns from IEEE 754 binary16 tables (numpy.float16(x).view(uint16) gives the same).
const table: Array<[number, number]> = [
  [0, 0x0000], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [0.5, 0x3800], [65504, 0x7bff],
  [65520, 0x7c00], // rounds up to infinity
  [2 ** -24, 0x0001], // smallest subnormal
  [2 ** -14, 0x0400], // smallest normal
  [0.1, 0x2e66], [1 / 3, 0x3555], [Infinity, 0x7c00], [-Infinity, 0xfc00],
  [1 + 2 ** -11, 0x3c00], // tie → even (down)
  [1 + 3 * 2 ** -11, 0x3c02], // tie → even (up)
];

test('float32 → float16 bits match the IEEE table, ties to even', () => {
  for (const [value, bits] of table) assert.equal(toFloat16Bits(value), bits, `value ${value}`);
  assert.equal(toFloat16Bits(Number.NaN) & 0x7c00, 0x7c00);
});

test('float16 → float32 is exact for every finite half', () => {
  for (let bits = 0; bits < 0x10000; bits++) {
    const value = fromFloat16Bits(bits);
    if (Number.isNaN(value)) continue;
    assert.equal(toFloat16Bits(value), bits === 0x8000 ? 0x8000 : bits, `bits ${bits.toString(16)}`);
  }
});
