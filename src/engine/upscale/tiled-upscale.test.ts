// Tiled upscaling equals a whole-image run, for the bundled RDN and for ONNX upscaler files built here
// the way Real-ESRGAN exports look (conv + pixel shuffle; pixel-unshuffle in front for x2).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildOnnxModel, type OnnxInitializer, type OnnxNode } from '../runtime/onnx-writer.js';
import { loadEsrganSlim } from './esrgan-slim.js';
import { upscaleTiled, type RgbImage } from './tiled-upscale.js';
import { OnnxUpscaler, type Upscaler } from './upscaler.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-upscale-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let value = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    value = (value + Math.imul(value ^ (value >>> 7), 61 | value)) ^ value;
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}

/** Smooth gradients plus noise, so every tile differs and the model's output is not flat. */
function testImage(width: number, height: number): RgbImage {
  const next = random(7);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let channel = 0; channel < 3; channel++) data[(y * width + x) * 3 + channel] = Math.round(Math.min(255, Math.max(0, ((x * (channel + 1) * 7 + y * 5) % 200) + next() * 55)));
  return { data, width, height };
}

function maxDifference(a: RgbImage, b: RgbImage): number {
  assert.equal(a.width, b.width);
  assert.equal(a.height, b.height);
  let max = 0;
  for (let index = 0; index < a.data.length; index++) max = Math.max(max, Math.abs(a.data[index]! - b.data[index]!));
  return max;
}

async function checkTiles(upscaler: Upscaler, image: RgbImage, tiles: number[], overlap?: number): Promise<void> {
  const whole = await upscaleTiled(upscaler, image, { tile: 0 });
  assert.equal(whole.width, image.width * upscaler.scale);
  assert.equal(whole.height, image.height * upscaler.scale);
  for (const tile of tiles) {
    let calls = 0;
    const tiled = await upscaleTiled(upscaler, image, { tile, ...(overlap !== undefined ? { overlap } : {}), onTile: () => calls++ });
    assert.equal(calls, Math.ceil(image.width / tile) * Math.ceil(image.height / tile));
    assert.ok(maxDifference(tiled, whole) <= 1, `tile ${tile}: max difference ${maxDifference(tiled, whole)} / 255`);
  }
}

test('esrgan-slim x2: tiles of 16 and 13 px (13 does not divide 40×36) equal the whole-image run within 1/255', async () => {
  const upscaler = await loadEsrganSlim(2);
  try {
    assert.equal(upscaler.receptiveMargin, 10);
    await checkTiles(upscaler, testImage(40, 36), [16, 13]);
  } finally {
    await upscaler.release();
  }
});

/** A random conv to 3·s² channels and DepthToSpace: the tail of an ESRGAN export; `unshuffle` adds Real-ESRGAN x2's SpaceToDepth in front. */
function shuffleUpscalerFile(name: string, { scale, unshuffle }: { scale: number; unshuffle: boolean }): string {
  const next = random(11);
  const inputChannels = unshuffle ? 12 : 3;
  const blocks = unshuffle ? scale * 2 : scale;
  const outputChannels = 3 * blocks * blocks;
  const nodes: OnnxNode[] = [];
  if (unshuffle) nodes.push({ opType: 'SpaceToDepth', inputs: ['image'], outputs: ['unshuffled'], attributes: { blocksize: { int: 2 } } });
  nodes.push(
    { opType: 'Conv', inputs: [unshuffle ? 'unshuffled' : 'image', 'weight', 'bias'], outputs: ['features'], attributes: { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } } },
    { opType: 'DepthToSpace', inputs: ['features'], outputs: ['output'], attributes: { blocksize: { int: blocks }, mode: { string: 'CRD' } } },
  );
  const initializers: OnnxInitializer[] = [
    { name: 'weight', type: 'float32', dims: [outputChannels, inputChannels, 3, 3], values: Array.from({ length: outputChannels * inputChannels * 9 }, () => (next() - 0.5) / 6) },
    { name: 'bias', type: 'float32', dims: [outputChannels], values: Array.from({ length: outputChannels }, () => 0.3 + next() * 0.2) },
  ];
  const path = join(work, name);
  writeFileSync(path, buildOnnxModel({ nodes, initializers, inputs: [{ name: 'image', type: 'float32', shape: [1, 3, 'height', 'width'] }], outputs: [{ name: 'output', type: 'float32', shape: [1, 3, 'out_height', 'out_width'] }] }));
  return path;
}

test('an ONNX upscaler file: the probe finds x4; tiles of 8 and 7 px with 2 px overlap equal the whole run', async () => {
  const upscaler = await OnnxUpscaler.fromFile(shuffleUpscalerFile('x4.onnx', { scale: 4, unshuffle: false }));
  try {
    assert.equal(upscaler.scale, 4);
    assert.equal(upscaler.sizeMultiple, 1);
    assert.equal(upscaler.receptiveMargin, undefined);
    await checkTiles(upscaler, testImage(23, 17), [8, 7], 2);
  } finally {
    await upscaler.release();
  }
});

test('an ONNX upscaler that needs even sides (pixel-unshuffle): found by the probe, tiles padded, odd images come out s× their size', async () => {
  const upscaler = await OnnxUpscaler.fromFile(shuffleUpscalerFile('x2-unshuffle.onnx', { scale: 2, unshuffle: true }));
  try {
    assert.equal(upscaler.scale, 2);
    assert.equal(upscaler.sizeMultiple, 8);
    const image = testImage(21, 19);
    const tiled = await upscaleTiled(upscaler, image, { tile: 10, overlap: 4 });
    assert.deepEqual([tiled.width, tiled.height], [42, 38]);
    // Away from the padded bottom and right edges, tiles agree with the whole-image run.
    const whole = await upscaleTiled(upscaler, image, { tile: 0 });
    let max = 0;
    for (let y = 0; y < 32; y++) for (let x = 0; x < 36 * 3; x++) max = Math.max(max, Math.abs(tiled.data[y * 42 * 3 + x]! - whole.data[y * 42 * 3 + x]!));
    assert.ok(max <= 1, `max difference ${max}`);
  } finally {
    await upscaler.release();
  }
});

test('an ONNX file that is not an upscaler is refused by the probe', async () => {
  const path = join(work, 'not-rgb.onnx');
  writeFileSync(path, buildOnnxModel({ nodes: [{ opType: 'Identity', inputs: ['x'], outputs: ['y'] }], inputs: [{ name: 'x', type: 'float32', shape: [1, 4, 'h', 'w'] }], outputs: [{ name: 'y', type: 'float32', shape: [1, 4, 'h', 'w'] }] }));
  await assert.rejects(OnnxUpscaler.fromFile(path), /takes x \[1, 4, h, w\]; an upscaler takes one RGB image \[1, 3, H, W\]/);
});
