// The invisible watermark: exact reads from engine outputs after JPEG and rescaling, none from unmarked images, and its cost in PSNR.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { readPngText } from '../../engine/image/png.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { testData } from '../../testing/paths.js';
import { createPixelpipe } from '../pixelpipe.js';
import { seededRandom } from './watermark-transform.js';
import { embedWatermark, embedWatermarkPixels, readWatermark, readWatermarkPixels, watermarkPayloadBytes, type RawPixels } from './watermark.js';
import { psnr, rawPixels } from '../../testing/images.js';

const cacheDir = mkdtempSync(join(tmpdir(), 'pixelpipe-watermark-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

/** Three engine outputs at the engines' usual 512×512 (one step: the tiny model's images are textured noise either way). */
const engineImages: Buffer[] = [];
before(async () => {
  const pixelpipe = createPixelpipe({ cacheDir });
  try {
    for (const seed of [1, 2, 3]) {
      const result = await pixelpipe.generate({ model: testData('fixtures', 'tiny-sd15'), prompt: 'a lighthouse at dusk', seed, steps: 1, width: 512, height: 512 });
      engineImages.push(Buffer.from(result.images[0]!.bytes));
    }
  } finally {
    await pixelpipe.close();
  }
});

const payloadOf = (index: number) => Uint8Array.from({ length: watermarkPayloadBytes }, (_, byte) => (index * 53 + byte * 97 + 11) & 0xff);

let markedEngineImages: Promise<Buffer[]> | undefined;
/** The engine outputs watermarked once, each with its own payload, for the tests that read them. */
function markedEngine(): Promise<Buffer[]> {
  markedEngineImages ??= Promise.all(engineImages.map(async (png, index) => Buffer.from(await embedWatermark(png, 'image/png', payloadOf(index)))));
  return markedEngineImages;
}

function svgImage(body: string, width: number, height: number): Promise<Buffer> {
  return sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${body}</svg>`)).removeAlpha().png().toBuffer();
}

test('engine outputs read back exactly as written, after JPEG at quality 75 and after a 0.5× resize', async () => {
  const marked = await markedEngine();
  for (const [index, png] of marked.entries()) {
    const edits = {
      untouched: png,
      'JPEG q75': await sharp(png).jpeg({ quality: 75 }).toBuffer(),
      'resize 0.5×': await sharp(png).resize(256, 256).png().toBuffer(),
    };
    for (const [edit, bytes] of Object.entries(edits)) assert.deepEqual((await readWatermark(bytes))?.payload, payloadOf(index), `image ${index}, ${edit}`);
  }
});

test('a watermarked image stays at 40 dB PSNR or more against the original, on engine outputs and on a smooth gradient', async () => {
  const gradient = await svgImage('<linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#1d3c6e"/><stop offset="1" stop-color="#f2c98a"/></linearGradient><rect width="100%" height="100%" fill="url(#g)"/>', 512, 384);
  const originals = [...engineImages, gradient];
  const marked = [...(await markedEngine()), Buffer.from(await embedWatermark(gradient, 'image/png', payloadOf(9)))];
  for (const [index, original] of originals.entries()) {
    const quality = psnr((await rawPixels(original)).data, (await rawPixels(marked[index]!)).data);
    assert.ok(quality >= 40, `image ${index}: PSNR ${quality.toFixed(2)} dB`);
  }
  assert.deepEqual((await readWatermark(marked.at(-1)!))?.payload, payloadOf(9));
});

test('a smooth image reads back after brightness +20% and after a 10% crop on every side', async () => {
  const scene = await svgImage('<rect width="100%" height="100%" fill="#87a9d6"/><rect y="330" width="100%" height="182" fill="#5c7d3b"/><circle cx="380" cy="100" r="40" fill="#fff3b0"/>', 512, 512);
  const marked = await embedWatermark(scene, 'image/png', payloadOf(4));
  assert.deepEqual((await readWatermark(await sharp(marked).modulate({ brightness: 1.2 }).png().toBuffer()))?.payload, payloadOf(4));
  assert.deepEqual((await readWatermark(await sharp(marked).extract({ left: 51, top: 51, width: 410, height: 410 }).png().toBuffer()))?.payload, payloadOf(4));
});

/**
 * 100 unmarked images: the three engine outputs and 97 made here (noise, blurred noise, gradients,
 * shapes, and the conformance photo rescaled, cropped and recompressed), at 64 to 384 pixels.
 */
async function unmarkedImages(): Promise<Buffer[]> {
  const random = seededRandom(2024);
  const photo = testData('conformance', 'inputs', 'init_image.png');
  const made: Buffer[] = [];
  for (let index = 0; made.length < 97; index++) {
    const width = [64, 96, 128, 192, 256, 384][index % 6]!;
    const height = [64, 128, 200, 96][index % 4]!;
    const colour = () => `#${Math.floor(random() * 0xffffff).toString(16).padStart(6, '0')}`;
    const noise = () => sharp(Uint8Array.from({ length: width * height * 3 }, () => Math.floor(random() * 256)), { raw: { width, height, channels: 3 } });
    switch (index % 5) {
      case 0: made.push(await noise().png().toBuffer()); break;
      case 1: made.push(await noise().blur(0.5 + random() * 4).jpeg({ quality: 60 + Math.floor(random() * 40) }).toBuffer()); break;
      case 2: made.push(await svgImage(`<linearGradient id="g" x1="${random()}" y1="0" x2="1" y2="${random()}"><stop offset="0" stop-color="${colour()}"/><stop offset="1" stop-color="${colour()}"/></linearGradient><rect width="100%" height="100%" fill="url(#g)"/>`, width, height)); break;
      case 3: made.push(await svgImage(`<rect width="100%" height="100%" fill="${colour()}"/><circle cx="${random() * width}" cy="${random() * height}" r="${random() * width}" fill="${colour()}"/><rect x="${random() * width}" y="${random() * height}" width="${width / 3}" height="${height / 4}" fill="${colour()}"/>`, width, height)); break;
      default: made.push(await sharp(photo).extract({ left: Math.floor(random() * 16), top: Math.floor(random() * 16), width: 48, height: 48 }).resize(width, height).modulate({ brightness: 0.8 + random() * 0.4 }).jpeg({ quality: 80 }).toBuffer());
    }
  }
  return [...engineImages, ...made];
}

test('no payload is read from 100 unmarked images', async () => {
  const images = await unmarkedImages();
  assert.equal(images.length, 100);
  for (const [index, bytes] of images.entries()) assert.equal(await readWatermark(bytes), undefined, `unmarked image ${index} read as watermarked`);
});

test('a file keeps its format, size and PNG record; JPEG and WebP are rewritten in their own format and read back', async () => {
  const png = engineImages[0]!;
  const marked = await embedWatermark(png, 'image/png', payloadOf(5));
  assert.equal(readPngText(marked).pixelpipe, readPngText(png).pixelpipe);
  for (const format of ['jpeg', 'webp'] as const) {
    const input = await sharp(png).resize(384, 320)[format]({ quality: 90 }).toBuffer();
    const output = await embedWatermark(input, `image/${format}`, payloadOf(6));
    const metadata = await sharp(output).metadata();
    assert.deepEqual([metadata.format, metadata.width, metadata.height], [format, 384, 320]);
    assert.deepEqual((await readWatermark(output))?.payload, payloadOf(6));
  }
});

test('grey and RGBA pixels carry the mark too, with alpha left as it was', async () => {
  const rgba = await rawPixels(await sharp(engineImages[1]!).resize(256, 256).ensureAlpha(0.5).png().toBuffer());
  const rgb = await rawPixels(await sharp(engineImages[2]!).resize(256, 256).png().toBuffer());
  const grey = { ...rgb, channels: 1, data: rgb.data.filter((_, index) => index % 3 === 1) };
  assert.deepEqual([rgba.channels, grey.channels], [4, 1]);
  for (const [index, pixels] of [rgba, grey].entries()) {
    const marked = embedWatermarkPixels(pixels, payloadOf(7 + index));
    assert.deepEqual(readWatermarkPixels(marked)?.payload, payloadOf(7 + index));
    if (pixels.channels === 4) for (let offset = 3; offset < pixels.data.length; offset += 4) assert.equal(marked.data[offset], pixels.data[offset]);
  }
});

test('a payload that is not 6 bytes, another format or an image under 64 pixels a side is refused naming the argument', async () => {
  const pixels = await rawPixels(engineImages[0]!);
  assert.throws(() => embedWatermarkPixels(pixels, new Uint8Array(5)), isInvalidArgument('payload', /must be a Uint8Array of 6 bytes .*got 5 bytes/));
  await assert.rejects(embedWatermark(engineImages[0]!, 'image/png', new Uint8Array(8)), isInvalidArgument('payload', /got 8 bytes/));
  await assert.rejects(embedWatermark(engineImages[0]!, 'image/gif', payloadOf(0)), isInvalidArgument('mediaType', /image\/png, image\/jpeg or image\/webp.*"image\/gif"/));
  const small = await sharp(engineImages[0]!).resize(63, 200).png().toBuffer();
  await assert.rejects(embedWatermark(small, 'image/png', payloadOf(0)), isInvalidArgument('bytes', /at least 64 pixels on each side.*63×200/));
});
