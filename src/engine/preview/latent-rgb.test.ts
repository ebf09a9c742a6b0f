// latentToRgb against hand-computed bytes from ComfyUI's factor tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { latentRgbFactors, latentToRgb, type LatentSpace } from './latent-rgb.js';

/** A [1, 4, height, width] latent that is `value` in one channel everywhere and 0 elsewhere. */
function oneChannel(channel: number, value: number, height = 2, width = 3): Float32Array {
  const latents = new Float32Array(4 * height * width);
  latents.fill(value, channel * height * width, (channel + 1) * height * width);
  return latents;
}

function pixel(image: { data: Uint8Array; width: number }, x: number, y: number): number[] {
  const start = (y * image.width + x) * 3;
  return [...image.data.subarray(start, start + 3)];
}

test('each space has one (R, G, B) row per latent channel, a bias and a source', () => {
  for (const space of ['sd1', 'sdxl'] as LatentSpace[]) {
    const { factors, bias, source } = latentRgbFactors[space];
    assert.equal(factors.length, 4);
    for (const row of factors) assert.equal(row.length, 3);
    assert.equal(bias.length, 3);
    assert.match(source, /ComfyUI comfy\/latent_formats\.py/);
  }
  assert.deepEqual(latentRgbFactors.sd1.bias, [0, 0, 0]);
});

test('a zero latent is the bias: mid-gray for SD 1.x, slightly warm for SDXL', () => {
  // (0 + 1) / 2 · 255 = 127.5 → 128; SDXL: (1 + 0.1084, 1 − 0.0175, 1 − 0.0011) / 2 · 255
  assert.deepEqual(pixel(latentToRgb(new Float32Array(4 * 2 * 3), { channels: 4, height: 2, width: 3 }, 'sd1'), 0, 0), [128, 128, 128]);
  assert.deepEqual(pixel(latentToRgb(new Float32Array(4 * 2 * 3), { channels: 4, height: 2, width: 3 }, 'sdxl'), 2, 1), [141, 125, 127]);
});

test('channel 0 alone at 1 gives row 0 of the factors (plus bias) mapped to bytes at every pixel', () => {
  const shape = { channels: 4, height: 2, width: 3 };
  // SD15 row 0 (0.3512, 0.2297, 0.3227): 1.3512/2·255 = 172.28, 1.2297/2·255 = 156.79, 1.3227/2·255 = 168.64
  const sd1 = latentToRgb(oneChannel(0, 1), shape, 'sd1');
  // SDXL row 0 + bias (0.4735, 0.4057, 0.4330): 187.87, 179.23, 182.71
  const sdxl = latentToRgb(oneChannel(0, 1), shape, 'sdxl');
  for (let y = 0; y < 2; y++) {
    for (let x = 0; x < 3; x++) {
      assert.deepEqual(pixel(sd1, x, y), [172, 157, 169]);
      assert.deepEqual(pixel(sdxl, x, y), [188, 179, 183]);
    }
  }
});

test('the image is the latent size, with each latent cell at its own pixel', () => {
  const shape = { channels: 4, height: 2, width: 3 };
  const latents = new Float32Array(4 * 6);
  latents[2 * 6 + 1 * 3 + 2] = 1; // channel 2, row 1, column 2
  const image = latentToRgb(latents, shape, 'sd1');
  assert.equal(image.width, 3);
  assert.equal(image.height, 2);
  assert.equal(image.data.length, 3 * 2 * 3);
  // SD15 row 2 (−0.2829, 0.1762, 0.2721): 91.43, 149.97, 162.19
  assert.deepEqual(pixel(image, 2, 1), [91, 150, 162]);
  for (const [x, y] of [[0, 0], [1, 0], [2, 0], [0, 1], [1, 1]] as const) assert.deepEqual(pixel(image, x, y), [128, 128, 128]);
});

test('values beyond [-1, 1] clamp to 0 and 255', () => {
  const shape = { channels: 4, height: 2, width: 3 };
  // SD15 row 3 is negative in every colour
  assert.deepEqual(pixel(latentToRgb(oneChannel(3, 10), shape, 'sd1'), 1, 1), [0, 0, 0]);
  assert.deepEqual(pixel(latentToRgb(oneChannel(3, -10), shape, 'sd1'), 1, 1), [255, 255, 255]);
});

test('a latent that does not match the shape or the space is refused, naming the argument', () => {
  assert.throws(() => latentToRgb(new Float32Array(16 * 4), { channels: 16, height: 2, width: 2 }, 'sdxl'), (error: unknown) => InvalidArgumentError.isInstance(error) && /shape\.channels.*got 16/.test((error as Error).message));
  assert.throws(() => latentToRgb(new Float32Array(10), { channels: 4, height: 2, width: 2 }, 'sd1'), (error: unknown) => InvalidArgumentError.isInstance(error) && /`latents` must hold .* 16 values/.test((error as Error).message));
});
