// Writing an image under the name the user gave: format by extension, conversions, and the record carried into JPEG and WebP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import ExifReader from 'exifreader';
import sharp from 'sharp';
import { encodePng, readPngText } from '../engine/image/png.js';
import { testData } from '../testing/paths.js';
import { createPixelpipe } from './pixelpipe.js';
import { testImage } from '../testing/mock-api-server.js';
import { detectImageMediaType } from '../providers/shared/image-data.js';
import { maxChannelDifference } from '../testing/images.js';
import { encodeForPath, outputFormatOf } from './image-files.js';

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

test('outputFormatOf reads the format from the extension before anything is made, and refuses others naming --out', () => {
  assert.equal(outputFormatOf('/tmp/a.PNG'), 'png');
  assert.equal(outputFormatOf('a.jpeg'), 'jpeg');
  assert.equal(outputFormatOf('a.webp'), 'webp');
  assert.equal(outputFormatOf('a'), undefined);
  assert.throws(() => outputFormatOf('x.gif'), (error: unknown) => (error as { argument?: string }).argument === 'out' && /`--out` must end in .png, .jpg, .jpeg or .webp .*got "\.gif"/.test((error as Error).message));
});

/** The raw bytes ExifReader gives for UserComment (it does not decode UNICODE ones itself). */
function userCommentBytes(tag: unknown): number[] {
  const value = (tag as { value?: unknown } | undefined)?.value;
  assert.ok(Array.isArray(value), `UserComment should be read as bytes, got ${JSON.stringify(tag)}`);
  return value as number[];
}

/** The text of an EXIF UserComment as the EXIF spec lays it out: an 8-byte character code, then the text. */
function decodeUserComment(bytes: number[]): { code: string; text: string } {
  const buffer = Buffer.from(bytes);
  const code = buffer.toString('latin1', 0, 8);
  const body = buffer.subarray(8);
  // UNICODE is UTF-16 in the TIFF's byte order; the file is big-endian (MM) as piexif writes it.
  return { code, text: code === 'UNICODE\0' ? Buffer.from(body).swap16().toString('utf16le') : body.toString('latin1') };
}

test('a local PNG converted to JPEG or WebP keeps A1111\'s parameters in EXIF UserComment and the record in XMP', async () => {
  const pixelpipe = createPixelpipe({});
  let png: { bytes: Uint8Array; mediaType: string };
  try {
    const result = await pixelpipe.generate({ model: testData('fixtures', 'tiny-sd15'), prompt: 'a café cat <b>&', negativePrompt: 'blurry', seed: 424242, steps: 1, sampler: 'euler' });
    png = result.images[0]!;
  } finally {
    await pixelpipe.close();
  }
  const chunks = readPngText(png.bytes);
  for (const [path, mediaType] of [['/tmp/out.jpg', 'image/jpeg'], ['/tmp/out.webp', 'image/webp']] as const) {
    const file = await encodeForPath(png, path);
    assert.equal(file.mediaType, mediaType);
    assert.equal(detectImageMediaType(file.bytes), mediaType);
    const tags = ExifReader.load(Buffer.from(file.bytes), { expanded: true });
    const comment = tags.exif?.UserComment;
    assert.ok(comment, `${path}: no EXIF UserComment`);
    const { code, text } = decodeUserComment(userCommentBytes(comment));
    assert.equal(code, 'UNICODE\0', path);
    assert.equal(text, chunks.parameters, path);
    assert.match(text, /^a café cat <b>&\nNegative prompt: blurry\nSteps: 1, Sampler: Euler, .*Seed: 424242/, path);
    const record = (tags.xmp as Record<string, { value: string }> | undefined)?.record?.value;
    assert.ok(record, `${path}: no pixelpipe:record in the XMP`);
    assert.deepEqual(JSON.parse(record), JSON.parse(chunks.pixelpipe!), path);
    // The same encoder without the record gives the same pixels: splicing the EXIF block in damaged nothing.
    const plain = mediaType === 'image/webp' ? png.bytes : await sharp(png.bytes).flatten({ background: '#ffffff' }).jpeg({ quality: 95 }).toBuffer();
    assert.equal(await maxChannelDifference(file.bytes, plain), 0, `${path}: the pixels survive`);
  }
});

test('parameters beyond Latin-1 (an iTXt chunk, as PIL writes them) come back whole from UserComment', async () => {
  const parameters = 'a cat ✓ 猫 🐈\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 9, Size: 16x16';
  const png = await encodePng(new Uint8Array(16 * 16 * 3).fill(90), 16, 16, [{ keyword: 'parameters', text: parameters, international: true }]);
  for (const path of ['a.jpg', 'a.webp']) {
    const tags = ExifReader.load(Buffer.from((await encodeForPath({ bytes: png, mediaType: 'image/png' }, path)).bytes), { expanded: true });
    assert.deepEqual(decodeUserComment(userCommentBytes(tags.exif?.UserComment)), { code: 'UNICODE\0', text: parameters }, path);
    assert.equal(tags.xmp, undefined, `${path}: no record, no XMP`);
  }
});

test('a PNG without a record converts without EXIF or XMP, as before', async () => {
  const png = await testImage('png', 16, 16);
  for (const path of ['a.jpg', 'a.webp']) {
    const tags = ExifReader.load(Buffer.from((await encodeForPath({ bytes: png, mediaType: 'image/png' }, path)).bytes), { expanded: true });
    assert.equal(tags.exif, undefined, path);
    assert.equal(tags.xmp, undefined, path);
  }
});
