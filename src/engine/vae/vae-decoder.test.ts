// VAE decoder tiling: exact on a pixel-local graph, close on the tiny SD 1.5 VAE, untouched below the threshold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OnnxModel } from '../runtime/onnx-model.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { randn } from '../tensor/torch-random.js';
import { buildOnnxModel } from '../../testing/onnx-builder.js';
import { testData } from '../../testing/paths.js';
import { VaeDecoder, type DecodedImage } from './vae-decoder.js';
import { vaeTilePlan } from './vae-tiling.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-vae-decoder-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

/**
 * A decoder where every pixel depends only on its own latent cell: nearest ×8, the first 3 channels floored, in
 * sixteenths. Small sixteenths times the blend weights (multiples of 1/128) are exact in float32, so blending two
 * tiles' equal values gives the same value back and a tiled decode must equal the whole one bit for bit.
 */
async function pixelLocalDecoder(): Promise<OnnxModel> {
  const path = join(work, 'pixel-local-decoder.onnx');
  const pick = Array.from({ length: 3 * 4 }, (_, index) => (index % 4 === Math.floor(index / 4) ? 1 : 0));
  writeFileSync(path, buildOnnxModel({
    nodes: [
      { opType: 'Resize', inputs: ['latent_sample', '', 'scales'], outputs: ['upsampled'] },
      { opType: 'Conv', inputs: ['upsampled', 'pick'], outputs: ['rgb'] },
      { opType: 'Floor', inputs: ['rgb'], outputs: ['floored'] },
      { opType: 'Mul', inputs: ['floored', 'sixteenth'], outputs: ['sample'] },
    ],
    inputs: [{ name: 'latent_sample', type: 'float32', shape: [1, 4, 'height', 'width'] }],
    outputs: [{ name: 'sample', type: 'float32', shape: [1, 3, 'pixel_height', 'pixel_width'] }],
    initializers: [
      { name: 'scales', type: 'float32', dims: [4], values: [1, 1, 8, 8] },
      { name: 'pick', type: 'float32', dims: [3, 4, 1, 1], values: pick },
      { name: 'sixteenth', type: 'float32', dims: [], values: [1 / 16] },
    ],
  }));
  return OnnxModel.load(path, 'vaeDecoder');
}

/** Peak signal-to-noise ratio of two [0, 1] images, in dB. */
function psnr(actual: Float32Array, expected: Float32Array): number {
  let squared = 0;
  for (let i = 0; i < expected.length; i++) squared += (actual[i]! - expected[i]!) ** 2;
  return 10 * Math.log10(1 / (squared / expected.length));
}

async function decodeCounting(decoder: VaeDecoder, latents: Float32Array, height: number, width: number): Promise<{ decoded: DecodedImage; runs: number }> {
  const timer = new StageTimer();
  const decoded = await decoder.decode(latents, { channels: 4, height, width }, timer.onRun);
  return { decoded, runs: timer.runs.vaeDecoder?.length ?? 0 };
}

test('a pixel-local decoder gives the same image tiled as whole, with clipped edge tiles', async () => {
  const model = await pixelLocalDecoder();
  const whole = new VaeDecoder(model, 0.18215);
  // 512-px tiles over 800 × 1040 px (latent rows 0/48/96, the last 4 cells high), and 64-px tiles over 160 × 224 px.
  for (const [tileSize, height, width, tiles] of [[512, 100, 130, 9], [64, 20, 28, 20]] as const) {
    const latents = randn([1, 4, height, width], tileSize).map((value) => value * 0.5);
    const tiled = await decodeCounting(new VaeDecoder(model, 0.18215, { vaeScaleFactor: 8, tiling: { tileSize, minPixels: 0 } }), latents, height, width);
    const expected = await decodeCounting(whole, latents, height, width);
    assert.equal(tiled.runs, tiles, `${tileSize}-px tiles: decoder runs`);
    assert.equal(expected.runs, 1);
    assert.deepEqual([tiled.decoded.width, tiled.decoded.height], [width * 8, height * 8]);
    assert.ok(new Set(expected.decoded.planes).size > 8, 'the test image is not flat');
    assert.deepEqual(tiled.decoded.planes, expected.decoded.planes, `${tileSize}-px tiles equal the whole decode`);
  }
});

test('the tiny SD 1.5 VAE decoder: tiled is close to whole above the threshold, and bit-identical below it', async () => {
  const model = await OnnxModel.load(testData('fixtures', 'tiny-sd15', 'vae_decoder', 'model.onnx'), 'vaeDecoder', {}, 'all');
  const [height, width] = [20, 28];
  const latents = randn([1, 4, height, width], 11);
  const whole = await decodeCounting(new VaeDecoder(model, 0.18215), latents, height, width);

  const tiling = { tileSize: 64, minPixels: 160 * 224 - 1 };
  assert.equal(vaeTilePlan(224, 160, tiling, 8).tiles, 20);
  const tiled = await decodeCounting(new VaeDecoder(model, 0.18215, { vaeScaleFactor: 8, tiling }), latents, height, width);
  assert.equal(tiled.runs, 20);
  assert.deepEqual([tiled.decoded.width, tiled.decoded.height, tiled.decoded.planes.length], [224, 160, 3 * 224 * 160]);
  assert.equal(tiled.decoded.nonFinite, false);
  // Measured 23.4 dB: 8-cell tiles change the tiny VAE's GroupNorm statistics a lot (29.7 dB at 128 px, 36.9 dB at 256 px).
  const measured = psnr(tiled.decoded.planes, whole.decoded.planes);
  console.log(`tiny-sd15 VAE decoder, 64-px tiles on 224 × 160: PSNR ${measured.toFixed(2)} dB against the whole decode`);
  assert.ok(measured > 20 && Number.isFinite(measured), `PSNR ${measured} dB: close to the whole decode, yet not equal to it`);

  // Where no neighbour blends in, the image is that tile's own decode: the first tile's top-left 48², and columns
  // 16..48 of the second tile (latent columns 6..14), rows 0..48.
  const latentCrop = (top: number, left: number) => {
    const crop = new Float32Array(4 * 8 * 8);
    for (let channel = 0; channel < 4; channel++) for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) crop[(channel * 8 + y) * 8 + x] = latents[(channel * height + top + y) * width + left + x]!;
    return crop;
  };
  for (const [left, from, to] of [[0, 0, 48], [6, 16, 48]] as const) {
    const tile = await new VaeDecoder(model, 0.18215).decode(latentCrop(0, left), { channels: 4, height: 8, width: 8 });
    for (let channel = 0; channel < 3; channel++) {
      for (let y = 0; y < 48; y++) {
        for (let x = from; x < to; x++) {
          assert.equal(tiled.decoded.planes[(channel * 160 + y) * 224 + left * 8 + x], tile.planes[(channel * 64 + y) * 64 + x], `tile at latent column ${left}, pixel (${x}, ${y})`);
        }
      }
    }
  }

  const atThreshold = await decodeCounting(new VaeDecoder(model, 0.18215, { vaeScaleFactor: 8, tiling: { tileSize: 64, minPixels: 160 * 224 } }), latents, height, width);
  assert.equal(atThreshold.runs, 1);
  assert.deepEqual(atThreshold.decoded, whole.decoded, 'at or below minPixels the decode is the untiled one, bit for bit');
});
