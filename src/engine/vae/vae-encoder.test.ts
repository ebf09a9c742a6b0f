// VAE encoder tiling: exact on pixel-local graphs, close on the tiny SD 1.5 VAE, untouched below the threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { OnnxModel } from '../runtime/onnx-model.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { TorchGenerator, randn } from '../tensor/torch-random.js';
import { buildOnnxModel } from '../../testing/onnx-builder.js';
import { testData } from '../../testing/paths.js';
import { VaeEncoder, rgbToModelInput } from './vae-encoder.js';
import type { VaeTiling } from './vae-tiling.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-vae-encoder-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/**
 * An encoder where every latent cell depends only on its own 8 × 8 pixels (nearest ÷8, a 1×1 mix to `channels`,
 * floored, in quarters). Small quarters times the blend weights (multiples of 1/16) are exact in float32, so a
 * tiled encode must equal the whole one bit for bit.
 */
async function pixelLocalEncoder(output: 'latent_parameters' | 'latent_sample'): Promise<OnnxModel> {
  const channels = output === 'latent_parameters' ? 8 : 4;
  const path = join(work, `pixel-local-encoder-${output}.onnx`);
  const mix = [4, 0, 0, 0, 4, 0, 0, 0, 4, 2, 2, 0, 2, 0, -2, 0, 1, 0, 0, 0, 3, 1, 1, 1].slice(0, channels * 3);
  writeFileSync(path, buildOnnxModel({
    nodes: [
      { opType: 'Resize', inputs: ['sample', '', 'scales'], outputs: ['downsampled'] },
      { opType: 'Conv', inputs: ['downsampled', 'mix'], outputs: ['mixed'] },
      { opType: 'Floor', inputs: ['mixed'], outputs: ['floored'] },
      { opType: 'Mul', inputs: ['floored', 'quarter'], outputs: [output] },
    ],
    inputs: [{ name: 'sample', type: 'float32', shape: [1, 3, 'height', 'width'] }],
    outputs: [{ name: output, type: 'float32', shape: [1, channels, 'latent_height', 'latent_width'] }],
    initializers: [
      { name: 'scales', type: 'float32', dims: [4], values: [1, 1, 1 / 8, 1 / 8] },
      { name: 'mix', type: 'float32', dims: [channels, 3, 1, 1], values: mix },
      { name: 'quarter', type: 'float32', dims: [], values: [0.25] },
    ],
  }));
  return OnnxModel.load(path, 'vaeEncoder');
}

/** The conformance photo resized to `width` × `height`: real image structure at a size that needs several tiles. */
async function photo(width: number, height: number): Promise<Float32Array> {
  const { data } = await sharp(testData('conformance', 'inputs', 'init_image.png')).removeAlpha().resize(width, height, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  return rgbToModelInput({ data: new Uint8Array(data), width, height });
}

async function encodeCounting(encoder: VaeEncoder, planes: Float32Array, width: number, height: number, seed: number): Promise<{ latents: Float32Array; runs: number }> {
  const timer = new StageTimer();
  const latents = await encoder.encode(planes, { width, height }, new TorchGenerator(BigInt(seed)), timer.onRun);
  return { latents, runs: timer.runs.vaeEncoder?.length ?? 0 };
}

test('a pixel-local encoder gives the same latents tiled as whole, for posterior parameters and for in-graph samples', async () => {
  for (const output of ['latent_parameters', 'latent_sample'] as const) {
    const model = await pixelLocalEncoder(output);
    const whole = new VaeEncoder(model, 0.18215);
    assert.equal(whole.samplesInGraph, output === 'latent_sample');
    // 512-px tiles over 800 × 1040 px (pixel rows 0/384/768, the last 32 high), and 64-px tiles over 160 × 224 px.
    for (const [tileSize, height, width, tiles] of [[512, 800, 1040, 9], [64, 160, 224, 20]] as const) {
      const planes = randn([1, 3, height, width], tileSize).map((value) => Math.max(-1, Math.min(1, value / 2)));
      const tiling: VaeTiling = { tileSize, minPixels: 0 };
      const tiled = await encodeCounting(new VaeEncoder(model, 0.18215, { vaeScaleFactor: 8, tiling }), planes, width, height, 3);
      const expected = await encodeCounting(whole, planes, width, height, 3);
      assert.equal(tiled.runs, tiles, `${output}, ${tileSize}-px tiles: encoder runs`);
      assert.equal(expected.runs, 1);
      assert.equal(tiled.latents.length, 4 * (height / 8) * (width / 8));
      assert.ok(new Set(expected.latents).size > 8, 'the latents are not flat');
      assert.deepEqual(tiled.latents, expected.latents, `${output}, ${tileSize}-px tiles equal the whole encode`);
    }
  }
});

test('the tiny SD 1.5 VAE encoder: tiled latents are close to whole above the threshold, and bit-identical below it', async () => {
  const model = await OnnxModel.load(testData('fixtures', 'tiny-sd15', 'vae_encoder', 'model.onnx'), 'vaeEncoder', {}, 'all');
  const [width, height] = [224, 160];
  const planes = await photo(width, height);
  const whole = await encodeCounting(new VaeEncoder(model, 0.18215), planes, width, height, 9);

  const tiled = await encodeCounting(new VaeEncoder(model, 0.18215, { vaeScaleFactor: 8, tiling: { tileSize: 64, minPixels: 0 } }), planes, width, height, 9);
  assert.equal(tiled.runs, 20);
  assert.equal(tiled.latents.length, 4 * 20 * 28);
  // PSNR over the latents' own range (peak to peak), as they have no fixed one.
  let [low, high, squared] = [Infinity, -Infinity, 0];
  for (let i = 0; i < whole.latents.length; i++) {
    low = Math.min(low, whole.latents[i]!);
    high = Math.max(high, whole.latents[i]!);
    squared += (tiled.latents[i]! - whole.latents[i]!) ** 2;
  }
  const measured = 10 * Math.log10((high - low) ** 2 / (squared / whole.latents.length));
  console.log(`tiny-sd15 VAE encoder, 64-px tiles on 224 × 160: latent PSNR ${measured.toFixed(2)} dB (peak to peak ${(high - low).toFixed(3)}) against the whole encode`);
  // Measured 28.8 dB (the same draw of noise on both sides, so only the blended mean and log-variance differ).
  assert.ok(measured > 25 && Number.isFinite(measured), `latent PSNR ${measured} dB: close to the whole encode, yet not equal to it`);

  const atThreshold = await encodeCounting(new VaeEncoder(model, 0.18215, { vaeScaleFactor: 8, tiling: { tileSize: 64, minPixels: width * height } }), planes, width, height, 9);
  assert.equal(atThreshold.runs, 1);
  assert.deepEqual(atThreshold.latents, whole.latents, 'at or below minPixels the encode is the untiled one, bit for bit');
});
