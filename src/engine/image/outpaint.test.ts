// Tests for outpainting: canvas geometry, untouched original pixels and the multiple-of-8 growth.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extendCanvas } from './outpaint.js';
import type { RgbImage } from './rgb-image.js';
import { isInvalidArgument } from '../../testing/assertions.js';

function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 7) & 255, (y * 11) & 255, (x * y + 1) & 255], (y * width + x) * 3);
  }
  return { data, width, height };
}

function pixel(image: RgbImage, x: number, y: number): number[] {
  const offset = (y * image.width + x) * 3;
  return [...image.data.subarray(offset, offset + 3)];
}

test('extendCanvas places the original byte for byte and masks only the new area', async () => {
  const image = gradient(64, 48);
  const result = await extendCanvas(image, { left: 16, right: 8, top: 24, bottom: 0 }, 8);
  assert.equal(result.adjusted, false);
  assert.deepEqual(result.extension, { left: 16, right: 8, top: 24, bottom: 0 });
  assert.deepEqual([result.image.width, result.image.height], [88, 72]);
  assert.equal(result.image.data.length, 88 * 72 * 3);
  for (let y = 0; y < 48; y++) {
    const row = result.image.data.subarray(((y + 24) * 88 + 16) * 3, ((y + 24) * 88 + 16 + 64) * 3);
    assert.deepEqual(row, image.data.subarray(y * 64 * 3, (y + 1) * 64 * 3), `row ${y}`);
  }
  for (let y = 0; y < 72; y++) {
    for (let x = 0; x < 88; x++) {
      const inside = x >= 16 && x < 80 && y >= 24;
      assert.equal(result.mask[y * 88 + x], inside ? 0 : 255, `mask at ${x},${y}`);
    }
  }
  // New pixels repeat the nearest edge of the original.
  assert.deepEqual(pixel(result.image, 0, 30), pixel(image, 0, 6));
  assert.deepEqual(pixel(result.image, 87, 30), pixel(image, 63, 6));
  assert.deepEqual(pixel(result.image, 40, 0), pixel(image, 24, 0));
  assert.deepEqual(pixel(result.image, 0, 0), pixel(image, 0, 0));
});

test('extendCanvas grows right and bottom to reach a multiple of 8, and says so', async () => {
  const result = await extendCanvas(gradient(61, 35), { left: 10, right: 10, top: 0, bottom: 3 }, 8);
  assert.equal(result.adjusted, true);
  // 61 + 20 = 81 → 88 needs 7 more on the right; 35 + 3 = 38 → 40 needs 2 more at the bottom.
  assert.deepEqual(result.extension, { left: 10, right: 17, top: 0, bottom: 5 });
  assert.deepEqual([result.image.width, result.image.height], [88, 40]);
  assert.deepEqual(pixel(result.image, 10, 0), pixel(gradient(61, 35), 0, 0));
});

test('extendCanvas grows left or top when those are the only sides asked on that axis', async () => {
  const image = gradient(61, 35);
  const result = await extendCanvas(image, { left: 10, right: 0, top: 10, bottom: 0 }, 8);
  // 61 + 10 = 71 → 72 needs 1 more on the left; 35 + 10 = 45 → 48 needs 3 more on top.
  assert.deepEqual(result.extension, { left: 11, right: 0, top: 13, bottom: 0 });
  assert.deepEqual([result.image.width, result.image.height], [72, 48]);
  assert.deepEqual(pixel(result.image, 11, 13), pixel(image, 0, 0));
  assert.deepEqual(pixel(result.image, 71, 47), pixel(image, 60, 34));
  assert.equal(result.mask[13 * 72 + 11], 0);
  assert.equal(result.mask[13 * 72 + 10], 255);
  assert.equal(result.mask[12 * 72 + 11], 255);
  // An axis with no side asked still has to reach the multiple: it grows on the right/bottom.
  const onlyTop = await extendCanvas(image, { left: 0, right: 0, top: 5, bottom: 0 }, 8);
  assert.deepEqual(onlyTop.extension, { left: 0, right: 3, top: 5, bottom: 0 });
});

test('extendCanvas refuses an extension that adds nothing or is not whole pixels', async () => {
  await assert.rejects(extendCanvas(gradient(8, 8), { left: 0, right: 0, top: 0, bottom: 0 }, 8), isInvalidArgument('extend', /adds no pixels/));
  await assert.rejects(extendCanvas(gradient(8, 8), { left: -1, right: 8, top: 0, bottom: 0 }, 8), isInvalidArgument('extend', /left.*-1/));
  await assert.rejects(extendCanvas(gradient(8, 8), { left: 8, right: 0, top: 0, bottom: 0 }, 0), isInvalidArgument('multiple', /positive integer/));
});
