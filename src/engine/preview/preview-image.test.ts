// encodePreviewPng writes a PNG that decodes back to the same pixels.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rawRgb } from '../../testing/images.js';
import { encodePreviewPng } from './preview-image.js';

test('a preview PNG decodes back to the exact RGB bytes', async () => {
  const width = 24;
  const height = 16;
  const data = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 37) % 256);
  const png = await encodePreviewPng({ data, width, height });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const decoded = await rawRgb(png);
  assert.equal(decoded.width, width);
  assert.equal(decoded.height, height);
  assert.deepEqual(new Uint8Array(decoded.data), data);
});
