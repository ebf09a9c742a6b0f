import assert from 'node:assert/strict';
import { test } from 'node:test';
import { testImage } from '../testing/mock-api-server.js';
import { detectImageMediaType } from '../providers/shared/image-data.js';
import { maxChannelDifference } from '../testing/images.js';
import { encodeForPath } from './image-files.js';

test('the written file is the format its name says, converting a provider’s WebP to PNG without loss', async () => {
  const webp = await testImage('webp', 32, 32);
  const png = await encodeForPath({ bytes: webp, mediaType: 'image/webp' }, '/tmp/out.png');
  assert.equal(detectImageMediaType(png.bytes), 'image/png');
  assert.equal(png.converted, true);
  assert.equal(await maxChannelDifference(png.bytes, webp), 0);
  const jpeg = await encodeForPath({ bytes: webp, mediaType: 'image/webp' }, '/tmp/out.JPG');
  assert.equal(detectImageMediaType(jpeg.bytes), 'image/jpeg');
});

test('an image already in the named format is written byte for byte; no extension keeps the original', async () => {
  const png = await testImage('png', 16, 16);
  assert.equal((await encodeForPath({ bytes: png, mediaType: 'image/png' }, 'a.png')).bytes, png);
  assert.equal((await encodeForPath({ bytes: png, mediaType: 'image/png' }, 'a')).bytes, png);
});

test('an unknown extension is refused naming --out', async () => {
  await assert.rejects(encodeForPath({ bytes: await testImage(), mediaType: 'image/png' }, 'x.bmp'), (error: unknown) => (error as { argument?: string }).argument === 'out' && /\.bmp/.test((error as Error).message));
});
