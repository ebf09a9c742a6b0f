// Tiled VAE: the blends and tile order against hand-worked values, the plan, the setting, and tiling inside the pipelines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadStableDiffusion } from '../families/stable-diffusion.js';
import { imageToImage } from '../pipelines/image-to-image.js';
import { textToImage } from '../pipelines/text-to-image.js';
import { StageTimer } from '../runtime/stage-timer.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { buildOnnxModel } from '../../testing/onnx-builder.js';
import { testData } from '../../testing/paths.js';
import { blendHorizontal, blendVertical, decodeGeometry, defaultVaeTiling, encodeGeometry, resolveVaeTiling, runTiled, vaeTilePlan, type PlanarTensor } from './vae-tiling.js';

const tensor = (channels: number, height: number, width: number, values: number[]): PlanarTensor => ({ data: Float32Array.from(values), channels, height, width });

test('blendVertical fades the first rows of the lower tile from the last rows of the upper one (diffusers blend_v)', () => {
  // extent = min(3, 2, 5) = 2: row 0 is the upper tile's row 1; row 1 is ½·upper row 2 + ½·own.
  const below = blendVertical(tensor(1, 3, 2, [1, 2, 3, 4, 5, 6]), tensor(1, 2, 2, [10, 20, 30, 40]), 5);
  assert.deepEqual([...below.data], [3, 4, 17.5, 23]);
  // Two channels, extent 4: weights 1, ¾, ½, ¼ on the upper tile.
  const blended = blendVertical(tensor(2, 4, 1, [1, 2, 3, 4, 10, 20, 30, 40]), tensor(2, 4, 1, [100, 100, 100, 100, 0, 0, 0, 0]), 4);
  assert.deepEqual([...blended.data], [1, 26.5, 51.5, 76, 10, 15, 15, 10]);
});

test('blendHorizontal fades the first columns of the right tile from the last columns of the left one (diffusers blend_h)', () => {
  // Two channels of 2 × 3 (left) and 2 × 4 (right), extent 2: column 0 is left's column 1, column 1 is ½·left column 2 + ½·own.
  const left = tensor(2, 2, 3, [1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6]);
  const right = tensor(2, 2, 4, [10, 20, 30, 40, 50, 60, 70, 80, 0, 8, 0, 0, 0, 0, 0, 0]);
  blendHorizontal(left, right, 2);
  assert.deepEqual([...right.data], [2, 11.5, 30, 40, 5, 33, 70, 80, -2, 2.5, 0, 0, -5, -3, 0, 0]);
});

test('runTiled blends each tile with the already-blended tiles above and left of it, then keeps the top-left rowLimit²', async () => {
  // 5 × 5 input, tiles of 4 every 3 → a 2 × 2 grid with clipped edge tiles; each tile comes back filled with its own constant.
  const input = tensor(1, 5, 5, Array.from({ length: 25 }, (_, index) => index));
  const constants = [0, 4, 8, 16];
  const seen: string[] = [];
  const output = await runTiled(input, { inputTile: 4, stride: 3, blendExtent: 2, rowLimit: 3 }, async (tile) => {
    seen.push(`${tile.data[0]}:${tile.height}x${tile.width}`);
    return tensor(1, tile.height, tile.width, new Array<number>(tile.height * tile.width).fill(constants[seen.length - 1]!));
  });
  assert.deepEqual(seen, ['0:4x4', '3:4x2', '15:2x4', '18:2x2'], 'tile origins and clipped sizes, row by row');
  // Worked by hand: the top-right tile becomes columns [0, 2]; the bottom-left rows [0, 4]; the bottom-right tile
  // blends with those blended values (not the raw 4 and 8): [[0, 1], [4, 6.5]].
  assert.deepEqual([output.height, output.width], [5, 5]);
  assert.deepEqual([...output.data], [
    0, 0, 0, 0, 2,
    0, 0, 0, 0, 2,
    0, 0, 0, 0, 2,
    0, 0, 0, 0, 1,
    4, 4, 4, 4, 6.5,
  ]);
});

test("tile geometry is diffusers' for 512-pixel tiles of an SD VAE", () => {
  assert.deepEqual(decodeGeometry(512, 8), { inputTile: 64, stride: 48, blendExtent: 128, rowLimit: 384 });
  assert.deepEqual(encodeGeometry(512, 8), { inputTile: 512, stride: 384, blendExtent: 16, rowLimit: 48 });
});

test('vaeTilePlan tiles only above the pixel threshold and only sizes larger than one tile', () => {
  const tiling = resolveVaeTiling(undefined, 8)!;
  assert.deepEqual(tiling, defaultVaeTiling);
  assert.deepEqual(vaeTilePlan(512, 512, tiling, 8), { tiled: false, tileSize: 512, tiles: 1, tileWidth: 512, tileHeight: 512 });
  assert.equal(vaeTilePlan(1024, 1024, tiling, 8).tiled, false, 'exactly minPixels is not tiled');
  assert.deepEqual(vaeTilePlan(1088, 1024, tiling, 8), { tiled: true, tileSize: 512, tiles: 9, tileWidth: 512, tileHeight: 512 });
  assert.deepEqual(vaeTilePlan(2048, 2048, tiling, 8), { tiled: true, tileSize: 512, tiles: 36, tileWidth: 512, tileHeight: 512 });
  assert.equal(vaeTilePlan(2048, 2048, false, 8).tiled, false);
  assert.equal(vaeTilePlan(512, 512, { tileSize: 512, minPixels: 0 }, 8).tiled, false, 'one tile is never tiled, as diffusers');
  assert.deepEqual(vaeTilePlan(576, 384, { tileSize: 512, minPixels: 0 }, 8), { tiled: true, tileSize: 512, tiles: 2, tileWidth: 512, tileHeight: 384 });
});

test('a tile size whose overlap misses whole latent cells, or a negative threshold, is refused naming the setting', () => {
  assert.equal(resolveVaeTiling(false, 8), undefined);
  assert.deepEqual(resolveVaeTiling({ tileSize: 256 }, 8), { tileSize: 256, minPixels: 1024 * 1024 });
  assert.throws(() => resolveVaeTiling({ tileSize: 500 }, 8), isInvalidArgument('vaeTiling.tileSize', /multiple of 32 .*got 500; try 512/));
  assert.throws(() => resolveVaeTiling({ tileSize: 0 }, 8), isInvalidArgument('vaeTiling.tileSize', /got 0; try 32/));
  assert.throws(() => resolveVaeTiling({ minPixels: -1 }, 8), isInvalidArgument('vaeTiling.minPixels', /≥ 0.*got -1/));
});

test('text-to-image above a lowered threshold decodes in tiles and returns the full size', async () => {
  const folder = testData('fixtures', 'tiny-sd15');
  const [tiledModel, wholeModel] = await Promise.all([loadStableDiffusion(folder, { vaeTiling: { tileSize: 64, minPixels: 64 * 64 } }), loadStableDiffusion(folder, { vaeTiling: false })]);
  assert.deepEqual(tiledModel.vaeTiling, { tileSize: 64, minPixels: 4096 });
  assert.equal(wholeModel.vaeTiling, undefined);
  const options = { prompt: 'a red cube', negativePrompt: '', width: 192, height: 128, steps: 2, guidance: 7.5, sampler: 'euler' as const, seed: 5n };
  const timer = new StageTimer();
  const tiled = await textToImage(tiledModel, { ...options, timer });
  const whole = await textToImage(wholeModel, options);
  assert.deepEqual([tiled.width, tiled.height, tiled.rgb.length], [192, 128, 192 * 128 * 3]);
  assert.deepEqual(tiled.notes, []);
  // 16 × 24 latents in tiles of 8 every 6: 3 × 4 decoder runs.
  assert.equal(timer.runs.vaeDecoder?.length, 12);
  assert.equal(vaeTilePlan(192, 128, tiledModel.vaeTiling, 8).tiles, 12);
  assert.notDeepEqual(tiled.rgb, whole.rgb, 'the tiled decode is not the whole one');
});

test('image-to-image above a lowered threshold encodes and decodes in tiles', async () => {
  const model = await loadStableDiffusion(testData('fixtures', 'tiny-sd15'), { vaeTiling: { tileSize: 64, minPixels: 0 } });
  const { data } = await sharp(testData('conformance', 'inputs', 'init_image.png')).removeAlpha().resize(192, 128, { fit: 'fill' }).raw().toBuffer({ resolveWithObject: true });
  const timer = new StageTimer();
  const output = await imageToImage(model, { prompt: 'a red cube', width: 192, height: 128, steps: 4, guidance: 7.5, sampler: 'euler', seed: 2n, image: { data: new Uint8Array(data), width: 192, height: 128 }, strength: 0.5, timer });
  assert.deepEqual([output.width, output.height, output.rgb.length], [192, 128, 192 * 128 * 3]);
  assert.deepEqual([timer.runs.vaeEncoder?.length, timer.runs.vaeDecoder?.length], [12, 12]);
});

test('a tiled decode that overflows to NaN/∞ falls back to the replacement decoder, itself tiled', async () => {
  // tiny-sdxl with an fp16 x⁸ "decoder" that overflows on real latents, as in denoise.test.ts.
  const root = mkdtempSync(join(tmpdir(), 'pixelpipe-tiled-fallback-'));
  try {
    const folder = join(root, 'tiny-sdxl-fp16-vae');
    cpSync(testData('fixtures', 'tiny-sdxl'), folder, { recursive: true });
    writeFileSync(join(folder, 'vae_decoder', 'model.onnx'), buildOnnxModel({
      nodes: [
        { opType: 'Mul', inputs: ['latent_sample', 'latent_sample'], outputs: ['square'] },
        { opType: 'Mul', inputs: ['square', 'square'], outputs: ['fourth'] },
        { opType: 'Mul', inputs: ['fourth', 'fourth'], outputs: ['sample'] },
      ],
      inputs: [{ name: 'latent_sample', type: 'float16', shape: [1, 4, 'height', 'width'] }],
      outputs: [{ name: 'sample', type: 'float16', shape: [1, 4, 'height', 'width'] }],
    }));
    const model = await loadStableDiffusion(folder, { vaeTiling: { tileSize: 64, minPixels: 0 }, vaeDecoderFallback: testData('fixtures', 'tiny-sdxl', 'vae_decoder') });
    const timer = new StageTimer();
    const output = await textToImage(model, { prompt: 'a red cube', negativePrompt: '', width: 128, height: 128, steps: 2, guidance: 5, sampler: 'euler', seed: 4n, timer });
    assert.deepEqual([output.width, output.height, output.rgb.length], [128, 128, 128 * 128 * 3]);
    assert.equal(output.notes.length, 1);
    assert.match(output.notes[0]!, /replacement VAE decoder/);
    // 16 × 16 latents in tiles of 8 every 6: 9 runs of the overflowing decoder, then 9 of the replacement.
    assert.equal(timer.runs.vaeDecoder?.length, 18);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
