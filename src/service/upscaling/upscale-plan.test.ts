import assert from 'node:assert/strict';
import { test } from 'node:test';
import { esrganSlimScales } from '../../engine/upscale/esrgan-slim.js';
import { bundledUpscaleScales, upscaleScaleFor, upscaleTooLarge } from './upscale-plan.js';

test('the scales a request may name are the bundled model\'s', () => {
  assert.deepEqual([...bundledUpscaleScales], [...esrganSlimScales]);
});

test('without a scale, the smallest bundled scale that reaches the resize is chosen, as the fit measures it', () => {
  assert.equal(upscaleScaleFor({ scale: 3 }, 64, 64, { width: 1000, height: 1000 }), 3, 'a given scale is kept');
  assert.equal(upscaleScaleFor({}, 64, 64, { width: 128, height: 128 }), 2);
  assert.equal(upscaleScaleFor({}, 64, 64, { width: 129, height: 100 }), 3, 'cover: both sides must reach');
  assert.equal(upscaleScaleFor({}, 64, 64, { width: 200, height: 120 }), 4);
  assert.equal(upscaleScaleFor({}, 64, 64, { width: 200, height: 120, fit: 'contain' }), 2, 'contain: one side reaching is enough');
  assert.equal(upscaleScaleFor({}, 64, 64, { width: 2000, height: 64 }), 8, 'past x8 the resize does the rest');
  assert.equal(upscaleScaleFor({}, 64, 64, { width: 64, height: 32 }), undefined, 'an image already large enough is only resized');
  assert.equal(upscaleScaleFor({}, 64, 64, undefined), undefined);
});

test('an upscale over the pixel limit says the sizes and the limit', () => {
  assert.equal(upscaleTooLarge(1024, 1024, 4, 4096 * 4096), undefined);
  assert.match(upscaleTooLarge(2048, 1024, 4, 4096 * 4096)!, /2048×1024 image 8192×4096 = 33,554,432 pixels, over this server's upscale limit of 16,777,216/);
});
