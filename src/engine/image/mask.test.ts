// Tests for mask reading (conventions, detection, ambiguity), coverage, feathering, binarising and compositing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { binarizeMask, blurMask, compositeImages, maskCoverage, readMask } from './mask.js';
import type { RgbImage } from './rgb-image.js';
import { isInvalidArgument } from '../../testing/assertions.js';

const size = { width: 16, height: 8, maxPixels: 1 << 20 };
const conformanceMask = fileURLToPath(new URL('../../../test-data/conformance/inputs/mask_image.png', import.meta.url));

/** 255 on the right half (edit), 0 on the left (keep). */
function rightHalf(width: number, height: number): Uint8Array {
  const mask = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) mask.fill(255, y * width + width / 2, (y + 1) * width);
  return mask;
}

async function grayscalePng(values: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(values, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer();
}

/** RGBA PNG from per-pixel grey colour and alpha. */
async function rgbaPng(grey: Uint8Array, alpha: Uint8Array, width: number, height: number): Promise<Buffer> {
  const data = Buffer.alloc(width * height * 4);
  for (let index = 0; index < width * height; index++) data.set([grey[index], grey[index], grey[index], alpha[index]], index * 4);
  return sharp(data, { raw: { width, height, channels: 4 } }).png().toBuffer();
}

test('a one-channel grayscale PNG is read as luminance, byte for byte', async () => {
  const values = new Uint8Array(16 * 8).map((_, index) => (index * 2) & 255);
  const png = await grayscalePng(values, 16, 8);
  assert.equal((await sharp(png).metadata()).channels, 1);
  const result = await readMask(png, size);
  assert.deepEqual(result, { mask: values, convention: 'luminance', detected: true });
});

test('the conformance mask (64x64 one-channel black/white PNG) is detected as luminance', async () => {
  const result = await readMask(conformanceMask, { width: 64, height: 64, maxPixels: 1 << 20 });
  assert.equal(result.convention, 'luminance');
  assert.equal(result.detected, true);
  assert.ok(result.mask.every((value) => value === 0 || value === 255));
  assert.equal(maskCoverage(result.mask), 0.5);
});

test('an RGB mask is converted with sharp luma: white edits, black keeps, grey stays grey', async () => {
  const rgb = Buffer.alloc(4 * 1 * 3);
  rgb.set([255, 255, 255, 0, 0, 0, 128, 128, 128, 255, 0, 0]);
  const png = await sharp(rgb, { raw: { width: 4, height: 1, channels: 3 } }).png().toBuffer();
  const { mask, convention, detected } = await readMask(png, { width: 4, height: 1, maxPixels: 100 });
  assert.equal(convention, 'luminance');
  assert.equal(detected, true);
  assert.deepEqual([...mask.subarray(0, 3)], [255, 0, 128]);
  // libvips weighs linear-light red by 0.2126, which encodes back to about half brightness.
  assert.ok(mask[3] > 100 && mask[3] < 150, `red reads ${mask[3]}`);
});

test('an RGBA mask with fully opaque alpha is read by its luminance', async () => {
  const png = await rgbaPng(rightHalf(16, 8), new Uint8Array(16 * 8).fill(255), 16, 8);
  const result = await readMask(png, size);
  assert.deepEqual(result, { mask: rightHalf(16, 8), convention: 'luminance', detected: true });
});

test('an RGBA mask with transparency is read by its alpha: transparent edits', async () => {
  // An OpenAI-style mask: the picture itself, erased to transparent where it should change.
  const alpha = new Uint8Array(16 * 8).fill(255);
  for (let y = 0; y < 8; y++) alpha.fill(0, y * 16 + 8, y * 16 + 16);
  const picture = new Uint8Array(16 * 8).map((_, index) => (index * 37) & 255);
  const result = await readMask(await rgbaPng(picture, alpha, 16, 8), size);
  assert.deepEqual(result, { mask: rightHalf(16, 8), convention: 'alpha', detected: true });
});

test('an RGBA mask whose black/white colours agree with its alpha is not ambiguous', async () => {
  const edit = rightHalf(16, 8);
  const alpha = edit.map((value) => 255 - value);
  const result = await readMask(await rgbaPng(edit, alpha, 16, 8), size);
  assert.equal(result.convention, 'alpha');
  assert.deepEqual(result.mask, edit);
});

test('an RGBA mask whose black/white colours disagree with its alpha is refused as ambiguous', async () => {
  // White (edit, by luminance) on the right, but transparent (edit, by alpha) on the left.
  const colours = rightHalf(16, 8);
  const alpha = new Uint8Array(16 * 8).fill(255);
  for (let y = 0; y < 8; y++) alpha.fill(0, y * 16, y * 16 + 8);
  const png = await rgbaPng(colours, alpha, 16, 8);
  await assert.rejects(readMask(png, size), isInvalidArgument('maskConvention', /disagree.*'luminance'.*'alpha'/));
  // Either explicit convention settles it.
  assert.deepEqual((await readMask(png, { ...size, convention: 'luminance' })).mask, colours);
  assert.deepEqual((await readMask(png, { ...size, convention: 'alpha' })).mask, colours.map((value) => 255 - value));
});

test('explicit conventions are used as given and reported as not detected', async () => {
  const edit = rightHalf(16, 8);
  const png = await grayscalePng(edit, 16, 8);
  assert.deepEqual(await readMask(png, { ...size, convention: 'luminance' }), { mask: edit, convention: 'luminance', detected: false });
  const opaque = await rgbaPng(edit, new Uint8Array(16 * 8).fill(255), 16, 8);
  const alphaReading = await readMask(opaque, { ...size, convention: 'alpha' });
  assert.equal(alphaReading.detected, false);
  assert.equal(maskCoverage(alphaReading.mask), 0);
});

test("explicit 'alpha' on a file without an alpha channel is refused", async () => {
  const png = await grayscalePng(rightHalf(16, 8), 16, 8);
  await assert.rejects(readMask(png, { ...size, convention: 'alpha' }), isInvalidArgument('maskConvention', /no alpha channel.*'luminance'/));
  await assert.rejects(readMask(png, { ...size, convention: 'inverted' as never }), isInvalidArgument('maskConvention', /"inverted"/));
});

test('a mask of another size is refused naming both sizes', async () => {
  const png = await grayscalePng(new Uint8Array(32 * 32), 32, 32);
  await assert.rejects(readMask(png, { width: 64, height: 64, maxPixels: 1 << 20 }), isInvalidArgument('mask', /`mask` is 32x32 but `image` is 64x64/));
});

test('maskCoverage counts values of 128 and above', () => {
  assert.equal(maskCoverage(new Uint8Array(10)), 0);
  assert.equal(maskCoverage(new Uint8Array(10).fill(255)), 1);
  assert.equal(maskCoverage(Uint8Array.from([0, 127, 128, 255])), 0.5);
  assert.equal(maskCoverage(new Uint8Array(0)), 0);
});

test('binarizeMask follows diffusers: values/255 below 0.5 → 0, from 0.5 → 1', () => {
  assert.deepEqual([...binarizeMask(Uint8Array.from([0, 1, 127, 128, 200, 255]))], [0, 0, 0, 1, 1, 1]);
});

test('blurMask feathers a hard edge into a monotonic ramp and leaves flat masks flat', async () => {
  const width = 64;
  const height = 4;
  const hard = rightHalf(width, height);
  assert.deepEqual(await blurMask(hard, width, height, 0), hard);
  const soft = await blurMask(hard, width, height, 4);
  assert.equal(soft.length, width * height);
  const row = [...soft.subarray(width, 2 * width)];
  for (let x = 1; x < width; x++) assert.ok(row[x] >= row[x - 1], `row not monotonic at ${x}: ${row.join(',')}`);
  assert.equal(row[0], 0);
  assert.equal(row[width - 1], 255);
  assert.ok(row[31] > 64 && row[31] < 128 && row[32] > 128 && row[32] < 192, `edge ${row[31]},${row[32]}`);
  // sigma = radius: about 2 sigma from the edge the fade has all but finished.
  assert.ok(row[32 - 9] < 8 && row[32 + 8] > 247, `tails ${row[23]},${row[40]}`);
  const wider = await blurMask(hard, width, height, 8);
  assert.ok(wider[width + 26] > soft[width + 26], 'a larger radius should feather further');
  // Rounded, not truncated: a step blurred symmetrically sums to 255 across the edge.
  for (let offset = 0; offset < 12; offset++) assert.equal(row[31 - offset] + row[32 + offset], 255, `offset ${offset}: ${row.join(',')}`);
  // sharp's integer kernel does not sum to one (flat 255 → 247 at sigma 0.5); flat masks must stay flat.
  for (const radius of [0.5, 1, 2.5, 7.3, 12]) {
    assert.deepEqual(await blurMask(new Uint8Array(40 * 40).fill(255), 40, 40, radius), new Uint8Array(40 * 40).fill(255), `radius ${radius}`);
  }
  await assert.rejects(blurMask(hard, width, height, -1), isInvalidArgument('radius', /between 0 and 1000/));
});

test('compositeImages keeps original bytes where the mask is 0, generated where 255, blends between', () => {
  const original: RgbImage = { data: Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 0, 255, 100]), width: 4, height: 1 };
  const generated: RgbImage = { data: Uint8Array.from([200, 201, 202, 203, 204, 205, 0, 255, 128, 255, 0, 101]), width: 4, height: 1 };
  const result = compositeImages(original, generated, Uint8Array.from([0, 255, 128, 64]));
  assert.deepEqual([...result.data.subarray(0, 3)], [10, 20, 30]);
  assert.deepEqual([...result.data.subarray(3, 6)], [203, 204, 205]);
  const blend = (m: number, g: number, o: number) => Math.round((m * g + (255 - m) * o) / 255);
  assert.deepEqual([...result.data.subarray(6, 9)], [blend(128, 0, 70), blend(128, 255, 80), blend(128, 128, 90)]);
  assert.deepEqual([...result.data.subarray(9, 12)], [blend(64, 255, 0), blend(64, 0, 255), blend(64, 101, 100)]);
});

test('compositeImages is exact over a large unmasked area', () => {
  const width = 32;
  const height = 32;
  const original: RgbImage = { data: new Uint8Array(width * height * 3).map((_, index) => (index * 13) & 255), width, height };
  const generated: RgbImage = { data: new Uint8Array(width * height * 3).map((_, index) => (index * 7 + 3) & 255), width, height };
  const mask = rightHalf(width, height);
  const result = compositeImages(original, generated, mask);
  for (let pixel = 0; pixel < width * height; pixel++) {
    const source = mask[pixel] === 0 ? original : generated;
    assert.deepEqual(result.data.subarray(pixel * 3, pixel * 3 + 3), source.data.subarray(pixel * 3, pixel * 3 + 3));
  }
});

test('compositeImages refuses mismatched sizes', () => {
  const small: RgbImage = { data: new Uint8Array(12), width: 2, height: 2 };
  const large: RgbImage = { data: new Uint8Array(27), width: 3, height: 3 };
  assert.throws(() => compositeImages(small, large, new Uint8Array(4)), isInvalidArgument('generated', /3x3.*2x2/));
  assert.throws(() => compositeImages(small, small, new Uint8Array(9)), isInvalidArgument('mask', /9 values.*2x2/));
});
