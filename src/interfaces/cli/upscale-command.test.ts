// `pixelpipe upscale` through the built CLI: size and pixels of the result, the record naming the parent,
// ONNX upscaler files, and images refused from their header alone.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { encodePng, pngChunk, readPngText } from '../../engine/image/png.js';
import { buildOnnxModel } from '../../engine/runtime/onnx-writer.js';
import { loadEsrganSlim } from '../../engine/upscale/esrgan-slim.js';
import { upscaleTiled } from '../../engine/upscale/tiled-upscale.js';
import { pixelSha256 } from '../../service/pixel-hash.js';
import { runCli } from '../../testing/cli.js';

const work = mkdtempSync(join(tmpdir(), 'pixelpipe-upscale-cli-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

function gradient(width: number, height: number): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let index = 0; index < width * height; index++) {
    const x = index % width;
    const y = Math.floor(index / width);
    data.set([(x * 9) % 256, (y * 13) % 256, ((x + y) * 5) % 256], index * 3);
  }
  return data;
}

/** A PNG whose IHDR claims width × height, with no pixel data: only a header reader can get past it. */
function headerOnlyPng(width: number, height: number): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), pngChunk('IHDR', header), pngChunk('IDAT', Buffer.alloc(0)), pngChunk('IEND', Buffer.alloc(0))]);
}

test('upscale of a pixelpipe PNG: x2 with the bundled model, pixels as the engine makes them, and a record naming the parent', async () => {
  const parentRecord = { version: 1, recordId: '0190c0de-0000-7000-8000-000000000001', settings: { prompt: 'a red cube', seed: '42' } };
  const input = join(work, 'made.png');
  const pixels = gradient(24, 20);
  writeFileSync(input, await encodePng(pixels, 24, 20, [{ keyword: 'parameters', text: 'a red cube\nSteps: 2' }, { keyword: 'pixelpipe', text: JSON.stringify(parentRecord), international: true }]));

  const result = await runCli(['upscale', input, '--scale', '2', '--tile', '16', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const summary = JSON.parse(result.stdout) as { out: string; output: { width: number; height: number }; tiles: number; overlap: number; provenance: string };
  assert.equal(summary.out, join(work, 'made-x2.png'));
  assert.deepEqual(summary.output, { width: 48, height: 40 });
  assert.equal(summary.tiles, 4);
  assert.equal(summary.provenance, 'recorded');

  const written = readFileSync(summary.out);
  const upscaler = await loadEsrganSlim(2);
  const expected = await upscaleTiled(upscaler, { data: pixels, width: 24, height: 20 }, { tile: 16 });
  await upscaler.release();
  const { data, info } = await sharp(written).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height, info.channels], [48, 40, 3]);
  assert.ok(Buffer.from(expected.data).equals(data), 'the CLI writes the engine\'s pixels');

  const texts = readPngText(written);
  assert.equal(texts.parameters, 'a red cube\nSteps: 2');
  const record = JSON.parse(texts.pixelpipe!) as Record<string, any>;
  assert.equal(record.operation, 'upscale');
  assert.equal(record.parent.recordId, parentRecord.recordId);
  assert.equal(record.parent.pixelSha256, (await pixelSha256(readFileSync(input))).pixelSha256);
  assert.deepEqual(record.parent.settings, parentRecord.settings);
  assert.deepEqual({ ...record.upscale, hash: undefined }, { model: 'esrgan-slim-x2', hash: undefined, scale: 2, tile: 16, overlap: 10 });
  assert.match(record.upscale.hash, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual(record.settings, { operation: 'upscale', width: 48, height: 40 });
});

test('--model takes an ONNX upscaler file: x4 found by the probe, written as WebP; a --scale it does not have is refused', async () => {
  const model = join(work, 'x4.onnx');
  writeFileSync(model, buildOnnxModel({
    nodes: [
      { opType: 'Conv', inputs: ['image', 'weight'], outputs: ['features'], attributes: { kernel_shape: { ints: [1, 1] } } },
      { opType: 'DepthToSpace', inputs: ['features'], outputs: ['output'], attributes: { blocksize: { int: 4 }, mode: { string: 'CRD' } } },
    ],
    // Each colour copied into its 16 sub-pixels: nearest-neighbour x4.
    initializers: [{ name: 'weight', type: 'float32', dims: [48, 3, 1, 1], values: Array.from({ length: 48 * 3 }, (_, index) => (Math.floor(Math.floor(index / 3) / 16) === index % 3 ? 1 : 0)) }],
    inputs: [{ name: 'image', type: 'float32', shape: [1, 3, 'height', 'width'] }],
    outputs: [{ name: 'output', type: 'float32', shape: [1, 3, 'out_height', 'out_width'] }],
  }));
  const input = join(work, 'plain.png');
  writeFileSync(input, await encodePng(gradient(10, 6), 10, 6));
  const out = join(work, 'plain-big.webp');
  const result = await runCli(['upscale', input, '--model', model, '--out', out, '--tile', '4']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /10×6 → 40×24 \(x4, x4\.onnx, 6 tiles\) in [\d.]+ s, [\d.]+ s per input megapixel/);
  const metadata = await sharp(out).metadata();
  assert.deepEqual([metadata.format, metadata.width, metadata.height], ['webp', 40, 24]);

  const wrongScale = await runCli(['upscale', input, '--model', model, '--scale', '2']);
  assert.equal(wrongScale.code, 2);
  assert.match(wrongScale.stderr, /`--scale` is 2 but .*x4\.onnx upscales x4 \(found by a probe run\)/);
});

test('a 20000×20000 PNG is refused from its header, naming its size and both limits; so is an output over the limit', async () => {
  const huge = join(work, 'huge.png');
  writeFileSync(huge, headerOnlyPng(20000, 20000));
  const refused = await runCli(['upscale', huge, '--scale', '2']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /huge\.png is 20000×20000 = 400,000,000 pixels; upscale takes at most 67,108,864 input pixels \(and writes at most 268,435,456\)/);

  const wide = join(work, 'wide.png');
  writeFileSync(wide, headerOnlyPng(5000, 4000));
  const tooBig = await runCli(['upscale', wide, '--scale', '4']);
  assert.equal(tooBig.code, 2);
  assert.match(tooBig.stderr, /at x4 the output would be 20000×16000 = 320,000,000 pixels, over the output limit of 268,435,456 pixels/);
});

test('bad flags are refused before any work: an --out extension we do not write, a scale the bundled model lacks', async () => {
  const input = join(work, 'small.png');
  writeFileSync(input, await encodePng(gradient(8, 8), 8, 8));
  const badOut = await runCli(['upscale', input, '--out', join(work, 'x.gif')]);
  assert.equal(badOut.code, 2);
  assert.match(badOut.stderr, /`--out` must end in \.png, \.jpg, \.jpeg or \.webp/);
  const badScale = await runCli(['upscale', input, '--scale', '5']);
  assert.equal(badScale.code, 2);
  assert.match(badScale.stderr, /`--scale` must be one of 2, 3, 4, 8 for the bundled esrgan-slim upscaler, got 5/);
});
