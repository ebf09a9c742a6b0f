// Checks CLIP preprocessing against transformers' CLIPImageProcessor output for the conformance images.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { readNpy } from '../../testing/npy.js';
import { testData } from '../../testing/paths.js';
import { preprocessClipImage, preprocessClipImages, readClipPreprocessing } from './clip-preprocess.js';

const clipFolder = testData('fixtures', 'tiny-clip');
const scores = JSON.parse(readFileSync(testData('conformance', 'clip_scores.json'), 'utf8')) as { images: string[]; pixel_values_file: string };
const imagePaths = scores.images.map((image) => testData(image));

// Measured: 0.0450 (control_image.png, a 2-pixel white outline whose edges PIL and libvips round
// 3 levels apart) and 0.0150 (init_image.png); about 3/255 divided by the smallest std.
const maxAbsTolerance = 0.05;
// Measured 0.00068 and 0.00010: most pixels agree exactly, the differences sit on edges.
const meanAbsTolerance = 0.002;

test('pixel values match CLIPImageProcessor (PIL bicubic) within the measured kernel difference', async (t) => {
  const preprocessing = await readClipPreprocessing(join(clipFolder, 'preprocessor_config.json'), clipFolder);
  assert.deepEqual(preprocessing.resize, { shortestEdge: 32 });
  assert.equal(preprocessing.kernel, 'cubic');
  const reference = readNpy(testData(scores.pixel_values_file));
  const ours = await preprocessClipImages(imagePaths.map((path) => readFileSync(path)), preprocessing);
  assert.deepEqual(ours.dims, reference.shape);
  const values = reference.data as Float32Array;
  const perImage = values.length / ours.dims[0];
  for (let image = 0; image < ours.dims[0]; image++) {
    let max = 0;
    let sum = 0;
    for (let index = image * perImage; index < (image + 1) * perImage; index++) {
      const difference = Math.abs(ours.data[index]! - values[index]!);
      max = Math.max(max, difference);
      sum += difference;
    }
    t.diagnostic(`${scores.images[image]}: max abs diff ${max.toFixed(4)}, mean abs diff ${(sum / perImage).toFixed(5)}`);
    assert.ok(max <= maxAbsTolerance, `${scores.images[image]}: max abs diff ${max} > ${maxAbsTolerance}`);
    assert.ok(sum / perImage <= meanAbsTolerance, `${scores.images[image]}: mean abs diff ${sum / perImage} > ${meanAbsTolerance}`);
  }
});

test('a flat image, where no kernel matters, normalises exactly as transformers does in float32', async () => {
  const preprocessing = await readClipPreprocessing(join(clipFolder, 'preprocessor_config.json'), clipFolder);
  const bytes = await sharp({ create: { width: 40, height: 40, channels: 3, background: { r: 255, g: 0, b: 128 } } }).png().toBuffer();
  const { data } = await preprocessClipImage(bytes, preprocessing);
  // numpy: ((np.float32(v * (1/255)) - np.float32(mean)) / np.float32(std)), all float32
  const expected = [1.9303361177444458, -1.7520971298217773, 0.33994877338409424];
  for (let channel = 0; channel < 3; channel++) assert.equal(data[channel * 1024], Math.fround(expected[channel]!));
});

test('the shortest edge is resized and the long edge truncated, then centre-cropped; alpha and grey become RGB', async () => {
  const preprocessing = { resize: { shortestEdge: 32 }, kernel: 'cubic' as const, crop: { height: 32, width: 32 }, rescaleFactor: 1 / 255 };
  // 100x60 → 53x32 (int(32 · 100 / 60) = 53), crop left = (53 − 32) // 2 = 10. Left third red, rest blue.
  const rgba = Buffer.alloc(100 * 60 * 4);
  for (let pixel = 0; pixel < 100 * 60; pixel++) rgba.set(pixel % 100 < 30 ? [255, 0, 0, 128] : [0, 0, 255, 255], pixel * 4);
  const bytes = await sharp(rgba, { raw: { width: 100, height: 60, channels: 4 } }).png().toBuffer();
  const { data, width, height } = await preprocessClipImage(bytes, preprocessing);
  assert.deepEqual([width, height], [32, 32]);
  // Column 0 of the crop is column 10 of 53 (source x ≈ 19: red); column 31 is source x ≈ 77 (blue).
  assert.ok(data[0]! > 0.9 && data[2 * 1024]! < 0.1, 'left edge red: alpha dropped, not composited');
  assert.ok(data[31]! < 0.1 && data[2 * 1024 + 31]! > 0.9, 'right edge blue');
  const grey = await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 90, g: 90, b: 90 } } }).toColourspace('b-w').png().toBuffer();
  const greyValues = await preprocessClipImage(grey, preprocessing);
  assert.equal(greyValues.data.length, 3 * 32 * 32);
  assert.ok(Math.abs(greyValues.data[0]! - 90 / 255) < 1e-6 && Math.abs(greyValues.data[2 * 1024]! - 90 / 255) < 1e-6);
});

test('a crop larger than the image pads with zeros, as transformers center_crop does', async () => {
  const bytes = await sharp({ create: { width: 4, height: 4, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer();
  const { data, width } = await preprocessClipImage(bytes, { kernel: 'cubic', crop: { height: 6, width: 6 }, rescaleFactor: 1 / 255 });
  assert.equal(width, 6);
  assert.equal(data[0], 0); // row 0 is padding: top = (4 − 6) // 2 = −1
  assert.equal(data[7], 1); // row 1, column 1 is the image's (0, 0)
});

test('undecodable bytes and unusable configs are named', async () => {
  const preprocessing = await readClipPreprocessing(join(clipFolder, 'preprocessor_config.json'), clipFolder);
  await assert.rejects(preprocessClipImages([new Uint8Array([1, 2, 3])], preprocessing), (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'images[0]' && /could not be decoded/.test(error.message));
  const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-clip-preprocess-'));
  try {
    await writeFile(join(folder, 'preprocessor_config.json'), JSON.stringify({ resample: 5 }));
    await assert.rejects(readClipPreprocessing(join(folder, 'preprocessor_config.json'), folder), (error: unknown) => InvalidModelError.isInstance(error) && /resample 5/.test(error.message));
    await writeFile(join(folder, 'preprocessor_config.json'), JSON.stringify({ size: { shortest_edge: 'big' } }));
    await assert.rejects(readClipPreprocessing(join(folder, 'preprocessor_config.json'), folder), (error: unknown) => InvalidModelError.isInstance(error) && /`size/.test(error.message));
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});
