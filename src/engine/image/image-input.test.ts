// Tests for reading user images (formats, orientation, limits, bad files) and fitting them to a size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { cropImage, fitImage, padToMultiple, readImage } from './image-input.js';
import { pngChunk } from './png.js';
import type { RgbImage } from './rgb-image.js';
import { isInvalidArgument } from '../../testing/assertions.js';

const limit = { field: 'image', maxPixels: 4096 * 4096 };

/** Left half red, right half blue: orientation and crops are visible in single pixels. */
function halves(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data[(y * width + x) * 3 + (x < width / 2 ? 0 : 2)] = 255;
  }
  return { data, width, height };
}

/** Every pixel different, so a resample or a shifted copy cannot pass for the original. */
function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 7) & 255, (y * 11) & 255, (x * y) & 255], (y * width + x) * 3);
  }
  return { data, width, height };
}

function raw(image: RgbImage) {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } });
}

function pixel(image: RgbImage, x: number, y: number): number[] {
  const offset = (y * image.width + x) * 3;
  return [...image.data.subarray(offset, offset + 3)];
}

test('PNG decodes losslessly to RGB without an alpha channel', async () => {
  const image = gradient(33, 17);
  const decoded = await readImage(await raw(image).png().toBuffer(), limit);
  assert.equal(decoded.width, 33);
  assert.equal(decoded.height, 17);
  assert.deepEqual(decoded.data, image.data);
  assert.equal(decoded.alpha, undefined);
});

test('JPEG and WebP decode to RGB close to the source', async () => {
  const image = halves(32, 16);
  for (const encoded of [await raw(image).jpeg({ quality: 95 }).toBuffer(), await raw(image).webp({ quality: 95 }).toBuffer()]) {
    const decoded = await readImage(encoded, limit);
    assert.equal(decoded.data.length, 32 * 16 * 3);
    const [red, , blue] = pixel(decoded, 4, 8);
    assert.ok(red > 230 && blue < 30, `left pixel ${pixel(decoded, 4, 8)}`);
    assert.ok(pixel(decoded, 28, 8)[2] > 230, `right pixel ${pixel(decoded, 28, 8)}`);
  }
});

test('a grayscale PNG comes back as three equal channels', async () => {
  const grey = Buffer.from([0, 100, 200, 255]);
  const png = await sharp(grey, { raw: { width: 4, height: 1, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const decoded = await readImage(png, limit);
  assert.deepEqual([...decoded.data], [0, 0, 0, 100, 100, 100, 200, 200, 200, 255, 255, 255]);
});

test('alpha is returned only when it is not fully opaque', async () => {
  const transparent = Buffer.from([10, 20, 30, 0, 40, 50, 60, 255]);
  const withAlpha = await readImage(await sharp(transparent, { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer(), limit);
  assert.deepEqual([...(withAlpha.alpha ?? [])], [0, 255]);
  assert.deepEqual([...withAlpha.data], [10, 20, 30, 40, 50, 60]);
  const opaque = Buffer.from([10, 20, 30, 255, 40, 50, 60, 255]);
  const withoutAlpha = await readImage(await sharp(opaque, { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer(), limit);
  assert.equal(withoutAlpha.alpha, undefined);
});

test('EXIF orientation is applied: a 40x20 JPEG tagged "rotate 90° clockwise" reads as 20x40', async () => {
  const jpeg = await raw(halves(40, 20)).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  assert.equal((await sharp(jpeg).metadata()).orientation, 6);
  const decoded = await readImage(jpeg, limit);
  assert.equal(decoded.width, 20);
  assert.equal(decoded.height, 40);
  // Turning clockwise puts the left (red) half on top.
  assert.ok(pixel(decoded, 10, 5)[0] > 230, `top pixel ${pixel(decoded, 10, 5)}`);
  assert.ok(pixel(decoded, 10, 35)[2] > 230, `bottom pixel ${pixel(decoded, 10, 35)}`);
});

test('a file path is read, and a missing one names the path and the formats', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'pixelpipe-image-'));
  try {
    const path = join(folder, 'in.png');
    await writeFile(path, await raw(gradient(8, 8)).png().toBuffer());
    assert.equal((await readImage(path, limit)).width, 8);
    const missing = join(folder, 'missing.png');
    await assert.rejects(readImage(missing, { field: 'initImage', maxPixels: 1000 }), (error: unknown) => {
      isInvalidArgument('initImage', /PNG, JPEG or WebP/)(error);
      assert.ok((error as Error).message.includes(missing));
      return true;
    });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
});

test('bytes that are not an image, and truncated files, are refused naming the field and byte count', async () => {
  await assert.rejects(readImage(new TextEncoder().encode('hello, not an image'), limit), isInvalidArgument('image', /<19 bytes>.*PNG, JPEG or WebP/));
  await assert.rejects(readImage(new Uint8Array(0), limit), isInvalidArgument('image', /<0 bytes>/));
  const image = raw(gradient(64, 64));
  for (const encoded of [await image.png().toBuffer(), await image.jpeg().toBuffer(), await image.webp().toBuffer()]) {
    const truncated = encoded.subarray(0, Math.floor(encoded.length / 2));
    await assert.rejects(readImage(truncated, limit), isInvalidArgument('image', new RegExp(`<${truncated.length} bytes>.*PNG, JPEG or WebP`)));
  }
});

test('formats other than PNG, JPEG and WebP are refused', async () => {
  const gif = await raw(gradient(8, 8)).gif().toBuffer();
  await assert.rejects(readImage(gif, limit), isInvalidArgument('image', /GIF.*PNG, JPEG or WebP/));
});

test('an image over the pixel limit is refused with its size and the setting to raise', async () => {
  const png = await raw(gradient(100, 100)).png().toBuffer();
  await assert.rejects(readImage(png, { field: 'image', maxPixels: 5000 }), isInvalidArgument('image', /100x100 \(10000 pixels\).*5000.*maxInputPixels/));
});

test('the pixel limit is checked before decoding: a 30000x30000 header over a few bytes of data', async () => {
  // Decoding this would fail as truncated (or, were the data there, need 2.7 GB); the size error proves no decode ran.
  const header = Buffer.alloc(13);
  header.writeUInt32BE(30000, 0);
  header.writeUInt32BE(30000, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const bomb = Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header),
    pngChunk('IDAT', deflateSync(Buffer.alloc(30001 * 4))),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
  await assert.rejects(readImage(bomb, { field: 'image', maxPixels: 16_777_216 }), isInvalidArgument('image', /30000x30000.*maxInputPixels/));
});

test('maxPixels must be a positive integer (sharp would read 0 as no limit)', async () => {
  const png = await raw(gradient(4, 4)).png().toBuffer();
  await assert.rejects(readImage(png, { field: 'image', maxPixels: 0 }), isInvalidArgument('maxInputPixels', /positive integer/));
});

test('fitImage returns the same size untouched', async () => {
  const image = gradient(24, 16);
  assert.equal(await fitImage(image, 24, 16), image);
  assert.equal(await fitImage(image, 24, 16, 'cover'), image);
});

test('fitImage resizes the same aspect ratio, within a pixel of rounding, without a fit mode', async () => {
  const scaled = await fitImage(halves(300, 200), 150, 100);
  assert.equal(scaled.width, 150);
  assert.equal(scaled.height, 100);
  assert.ok(pixel(scaled, 10, 50)[0] > 250);
  // 1000x667 → 512 wide is 341.5 high: either rounding passes.
  for (const height of [341, 342]) assert.equal((await fitImage(gradient(1000, 667), 512, height)).height, height);
});

test('fitImage refuses a different aspect ratio without `fit`, listing the modes', async () => {
  await assert.rejects(fitImage(gradient(300, 200), 64, 64), isInvalidArgument('fit', /300x200.*64x64.*'cover'.*'contain'.*'fill'/));
  await assert.rejects(fitImage(gradient(1000, 667), 512, 340), isInvalidArgument('fit', /aspect ratio/));
  await assert.rejects(fitImage(gradient(8, 8), 16, 8, 'stretch' as never), isInvalidArgument('fit', /"stretch"/));
});

test('fit modes: cover crops the centre, contain pads with mid-grey, fill stretches', async () => {
  // 40x20: red left quarter, blue right quarter, green middle half.
  const image: RgbImage = { data: new Uint8Array(40 * 20 * 3), width: 40, height: 20 };
  for (let y = 0; y < 20; y++) {
    for (let x = 0; x < 40; x++) image.data[(y * 40 + x) * 3 + (x < 10 ? 0 : x >= 30 ? 2 : 1)] = 255;
  }
  const cover = await fitImage(image, 20, 20, 'cover');
  assert.deepEqual([cover.width, cover.height], [20, 20]);
  assert.deepEqual(pixel(cover, 0, 10), [0, 255, 0]);
  assert.deepEqual(pixel(cover, 19, 10), [0, 255, 0]);

  const contain = await fitImage(image, 20, 20, 'contain');
  assert.deepEqual(pixel(contain, 10, 0), [128, 128, 128]);
  assert.deepEqual(pixel(contain, 10, 19), [128, 128, 128]);
  assert.deepEqual(pixel(contain, 1, 10), [255, 0, 0]);
  assert.deepEqual(pixel(contain, 18, 10), [0, 0, 255]);

  const fill = await fitImage(image, 20, 20, 'fill');
  assert.deepEqual(pixel(fill, 1, 0), [255, 0, 0]);
  assert.deepEqual(pixel(fill, 18, 19), [0, 0, 255]);
});

test('padToMultiple replicates the edges and cropImage undoes it exactly', () => {
  const image = gradient(61, 35);
  const padded = padToMultiple(image, 8);
  assert.deepEqual([padded.width, padded.height], [64, 40]);
  assert.deepEqual(padded.crop, { width: 61, height: 35 });
  assert.deepEqual(pixel(padded, 63, 10), pixel(image, 60, 10));
  assert.deepEqual(pixel(padded, 20, 39), pixel(image, 20, 34));
  assert.deepEqual(pixel(padded, 63, 39), pixel(image, 60, 34));
  const cropped = cropImage(padded, padded.crop.width, padded.crop.height);
  assert.deepEqual(cropped, image);
  const aligned = padToMultiple(gradient(16, 8), 8);
  assert.deepEqual([aligned.width, aligned.height], [16, 8]);
});

test('padToMultiple and cropImage refuse bad sizes', () => {
  assert.throws(() => padToMultiple(gradient(4, 4), 0), isInvalidArgument('multiple', /positive integer/));
  assert.throws(() => cropImage(gradient(4, 4), 8, 4), isInvalidArgument('crop', /8x4.*4x4/));
  assert.throws(() => padToMultiple({ data: new Uint8Array(5), width: 2, height: 2 }, 8), isInvalidArgument('image', /12 RGB bytes, got 5/));
});
