import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { loadStableDiffusion } from '../../engine/families/stable-diffusion.js';
import { readPngText } from '../../engine/image/png.js';
import { PreviewDecoder } from '../../engine/preview/preview-decoder.js';
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import { maxChannelDifference, rawRgb } from '../../testing/images.js';
import { sharedFile, testData } from '../../testing/paths.js';
import { readMemoryProfile } from '../../engine/families/memory-estimate.js';
import { LocalImageModel } from './local-image-model.js';
import type { GenerationRecord } from './local-record.js';

const initImage = testData('conformance', 'inputs', 'init_image.png');
const maskImage = testData('conformance', 'inputs', 'mask_image.png');
const sd15 = new LocalImageModel('tiny-sd15', { executionProvider: 'cpu', load: () => loadStableDiffusion(testData('fixtures', 'tiny-sd15')), profile: () => readMemoryProfile(testData('fixtures', 'tiny-sd15')) });
const inpainting = new LocalImageModel('tiny-sd15-inpaint', { executionProvider: 'cpu', load: () => loadStableDiffusion(testData('fixtures', 'tiny-sd15-inpaint')), profile: () => readMemoryProfile(testData('fixtures', 'tiny-sd15-inpaint')) });
const sdxl = new LocalImageModel('tiny-sdxl', { executionProvider: 'cpu', load: () => loadStableDiffusion(testData('fixtures', 'tiny-sdxl')), profile: () => readMemoryProfile(testData('fixtures', 'tiny-sdxl')) });
const base = { prompt: 'a red cube', negativePrompt: '', n: 1, seed: 42, steps: 4, guidance: 7.5, sampler: 'euler' };

/** Pixels where the mask keeps (value < 128), as [index, …]. */
async function keptPixels(mask: string | Uint8Array): Promise<number[]> {
  const { data } = await sharp(mask).grayscale().raw().toBuffer({ resolveWithObject: true });
  return [...data.keys()].filter((index) => data[index]! < 128);
}

test('inpainting keeps every unmasked pixel exactly, and --no-composite returns what diffusers returns', async (t) => {
  const result = await inpainting.doGenerate({ ...base, images: [initImage], mask: maskImage });
  const output = await rawRgb(result.images[0]!.bytes);
  const input = await rawRgb(initImage);
  const kept = await keptPixels(maskImage);
  assert.ok(kept.length > 0);
  for (const pixel of kept) for (let channel = 0; channel < 3; channel++) assert.equal(output.data[pixel * 3 + channel], input.data[pixel * 3 + channel]);
  assert.equal(result.images[0]!.settings.operation, 'inpaint');
  assert.equal(result.images[0]!.settings.edit!.strength, 1, 'an inpainting model defaults to strength 1');
  assert.deepEqual(result.warnings.map((warning) => warning.type === 'other' && /detected from the file: luminance/.test(warning.message)), [true]);

  const plain = await inpainting.doGenerate({ ...base, images: [initImage], mask: maskImage, composite: false });
  const difference = await maxChannelDifference(plain.images[0]!.bytes, testData('conformance', 'pipelines', 'inpaint_euler_s4_g7.5.png'));
  t.diagnostic(`max difference to diffusers' inpaint_euler_s4_g7.5.png: ${difference}/255`);
  assert.ok(difference <= 1);
});

test('the record names the operation, strength and the input files by hash', async () => {
  const result = await sd15.doGenerate({ ...base, images: [initImage], strength: 0.5 });
  const record = JSON.parse(readPngText(result.images[0]!.bytes).pixelpipe!) as GenerationRecord;
  const hash = `sha256:${createHash('sha256').update(readFileSync(initImage)).digest('hex')}`;
  assert.deepEqual(record.settings.edit, { image: hash, strength: 0.5 });
  assert.equal(record.settings.operation, 'image-to-image');
  assert.match(readPngText(result.images[0]!.bytes).parameters!, /Denoising strength: 0.5/);
  const difference = await maxChannelDifference(result.images[0]!.bytes, testData('conformance', 'pipelines', 'img2img_euler_s4_g7.5.png'));
  assert.ok(difference <= 1, `img2img differs from diffusers by ${difference}/255`);
});

test('outpainting grows the canvas and keeps the original pixels where they were', async () => {
  const result = await sd15.doGenerate({ ...base, images: [initImage], extend: { left: 16, bottom: 8 } });
  // The tiny UNet halves the latent once, so sizes are multiples of 16: the bottom grows to 16 (with a warning).
  const output = await rawRgb(result.images[0]!.bytes);
  const input = await rawRgb(initImage);
  assert.deepEqual([output.width, output.height], [80, 80]);
  assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'extend'));
  for (let y = 0; y < 64; y++) {
    for (let x = 0; x < 64; x++) {
      for (let channel = 0; channel < 3; channel++) assert.equal(output.data[(y * 80 + x + 16) * 3 + channel], input.data[(y * 64 + x) * 3 + channel], `pixel ${x},${y}`);
    }
  }
  assert.equal(result.images[0]!.settings.operation, 'outpaint');
  assert.deepEqual(result.images[0]!.settings.edit!.extend, { left: 16, right: 0, top: 0, bottom: 16 });
});

test('an input whose sides are not multiples of 8 keeps its size and its unmasked pixels', async () => {
  const odd = await sharp(initImage).extract({ left: 0, top: 0, width: 61, height: 59 }).png().toBuffer();
  const mask = await sharp({ create: { width: 61, height: 59, channels: 3, background: '#000' } }).composite([{ input: { create: { width: 20, height: 20, channels: 3, background: '#fff' } }, left: 10, top: 10 }]).png().toBuffer();
  const result = await sd15.doGenerate({ ...base, images: [new Uint8Array(odd)], mask: new Uint8Array(mask) });
  const output = await rawRgb(result.images[0]!.bytes);
  const input = await rawRgb(odd);
  assert.deepEqual([output.width, output.height], [61, 59]);
  for (const pixel of await keptPixels(mask)) assert.equal(output.data[pixel * 3], input.data[pixel * 3]);
});

test('an all-black mask returns the input with a warning; an all-white one repaints everything with a warning', async () => {
  const black = new Uint8Array(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#000' } }).png().toBuffer());
  const untouched = await sd15.doGenerate({ ...base, images: [initImage], mask: black });
  assert.equal(await maxChannelDifference(untouched.images[0]!.bytes, initImage), 0);
  assert.ok(untouched.warnings.some((warning) => warning.type === 'other' && /nothing to edit/.test(warning.message)));
  const white = new Uint8Array(await sharp({ create: { width: 64, height: 64, channels: 3, background: '#fff' } }).png().toBuffer());
  const repainted = await sd15.doGenerate({ ...base, images: [initImage], mask: white });
  assert.ok(repainted.warnings.some((warning) => warning.type === 'other' && /selects every pixel/.test(warning.message)));
  assert.ok(await maxChannelDifference(repainted.images[0]!.bytes, initImage) > 0);
});

test('bad editing input is refused naming the field and the fix', async () => {
  const cases: [Parameters<LocalImageModel['doGenerate']>[0], string, RegExp][] = [
    [{ ...base, images: [initImage], strength: 0 }, 'strength', /\(0, 1\]/],
    [{ ...base, images: [initImage], strength: 1.5 }, 'strength', /\(0, 1\]/],
    [{ ...base, images: [new Uint8Array([1, 2, 3, 4])] }, 'images[0]', /PNG, JPEG or WebP/],
    [{ ...base, images: ['/nonexistent/picture.png'] }, 'images[0]', /picture\.png/],
    [{ ...base, images: [initImage], mask: new Uint8Array(readFileSync(testData('conformance', 'inputs', 'init_image.png'))).subarray(0, 40) }, 'mask', /./],
    [{ ...base, images: [initImage], width: 64, height: 32 }, 'fit', /cover|contain|fill/],
    [{ ...base, mask: maskImage }, 'mask', /images/],
    [{ ...base, images: [initImage], mask: maskImage, extend: { left: 8 } }, 'extend', /either/],
  ];
  for (const [options, argument, message] of cases) {
    await assert.rejects(sd15.doGenerate(options), (error: Error & { argument?: string }) => {
      assert.equal(error.name, 'InvalidArgumentError', `${argument}: ${error.message}`);
      assert.equal(error.argument, argument, error.message);
      assert.match(error.message, message);
      return true;
    });
  }
  const small = new LocalImageModel('tiny-sd15', { executionProvider: 'cpu', maxInputPixels: 1000, load: () => loadStableDiffusion(testData('fixtures', 'tiny-sd15')), profile: () => readMemoryProfile(testData('fixtures', 'tiny-sd15')) });
  await assert.rejects(small.doGenerate({ ...base, images: [initImage] }), (error: Error & { argument?: string }) => error.argument === 'images[0]' && /maxInputPixels/.test(error.message));
  const mask32 = new Uint8Array(await sharp({ create: { width: 32, height: 32, channels: 3, background: '#000' } }).png().toBuffer());
  await assert.rejects(sd15.doGenerate({ ...base, images: [initImage], mask: mask32 }), /32x32.*64x64/);
});

test('an inpainting model refuses text-to-image and plain image-to-image with the fix', async () => {
  await assert.rejects(inpainting.doGenerate(base), (error: Error & { argument?: string }) => error.argument === 'images' && /inpainting model/.test(error.message));
  await assert.rejects(inpainting.doGenerate({ ...base, images: [initImage] }), (error: Error & { argument?: string }) => error.argument === 'mask');
});

test('previews reach the progress callback after every step: latent projection by default', async () => {
  const events: ImageModelProgress[] = [];
  await sd15.doGenerate({ ...base, previews: true, onProgress: (event) => events.push(event) });
  assert.equal(events.length, 4);
  for (const event of events) {
    assert.equal(event.preview?.method, 'latent-rgb');
    assert.equal(event.preview?.mediaType, 'image/png');
    const metadata = await sharp(event.preview!.bytes).metadata();
    assert.deepEqual([metadata.width, metadata.height], [8, 8]);
  }
  const quiet: ImageModelProgress[] = [];
  await sd15.doGenerate({ ...base, onProgress: (event) => quiet.push(event) });
  assert.ok(quiet.every((event) => event.preview === undefined), 'no previews unless asked');
});

test('previews use the tiny decoder when one is configured (full size), SDXL keeps the projection', async (t) => {
  const path = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!path) return;
  const model = new LocalImageModel('tiny-sd15', { executionProvider: 'cpu', previewDecoder: () => PreviewDecoder.load(path), load: () => loadStableDiffusion(testData('fixtures', 'tiny-sd15')), profile: () => readMemoryProfile(testData('fixtures', 'tiny-sd15')) });
  const events: ImageModelProgress[] = [];
  await model.doGenerate({ ...base, previews: true, onProgress: (event) => events.push(event) });
  assert.deepEqual(events.map((event) => [event.preview?.method, event.preview?.width]), Array(4).fill(['preview-decoder', 64]));
  const xl = new LocalImageModel('tiny-sdxl', { executionProvider: 'cpu', previewDecoder: () => PreviewDecoder.load(path), load: () => loadStableDiffusion(testData('fixtures', 'tiny-sdxl')), profile: () => readMemoryProfile(testData('fixtures', 'tiny-sdxl')) });
  const xlEvents: ImageModelProgress[] = [];
  await xl.doGenerate({ ...base, previews: true, onProgress: (event) => xlEvents.push(event) });
  assert.ok(xlEvents.every((event) => event.preview?.method === 'latent-rgb'));
});

test('SDXL through the contract: default size from the model folder, guidance 5, family in the record', async () => {
  const result = await sdxl.doGenerate({ prompt: 'a red cube', n: 1, seed: 42, steps: 2 });
  const settings = result.images[0]!.settings;
  assert.deepEqual([settings.width, settings.height, settings.guidance], [64, 64, 5]);
  const record = JSON.parse(readPngText(result.images[0]!.bytes).pixelpipe!) as GenerationRecord;
  assert.equal(record.model.family, 'stable-diffusion-xl');
  assert.equal(settings.negativePrompt, undefined, 'no negative prompt given: recorded as absent (zero embeddings on SDXL)');
});

test('a feathered mask blends inside the masked area only: kept pixels stay exact', async () => {
  const plain = await sd15.doGenerate({ ...base, images: [initImage], mask: maskImage });
  const feathered = await sd15.doGenerate({ ...base, images: [initImage], mask: maskImage, maskBlur: 4 });
  const input = await rawRgb(initImage);
  const output = await rawRgb(feathered.images[0]!.bytes);
  for (const pixel of await keptPixels(maskImage)) for (let channel = 0; channel < 3; channel++) assert.equal(output.data[pixel * 3 + channel], input.data[pixel * 3 + channel]);
  assert.ok(await maxChannelDifference(plain.images[0]!.bytes, feathered.images[0]!.bytes) > 0, 'the feather changes the masked side of the edge');
  assert.equal(feathered.images[0]!.settings.edit!.maskBlur, 4);
});

test('an OpenAI-style alpha mask (transparent = repaint) edits the same pixels as the white-means-edit mask', async () => {
  const { data } = await sharp(maskImage).grayscale().raw().toBuffer({ resolveWithObject: true });
  const rgba = Buffer.alloc(64 * 64 * 4);
  const input = await rawRgb(initImage);
  for (let i = 0; i < 64 * 64; i++) {
    rgba.set(input.data.subarray(i * 3, i * 3 + 3), i * 4); // the image itself, as OpenAI's edits API is often given
    rgba[i * 4 + 3] = 255 - data[i]!;
  }
  const alphaMask = new Uint8Array(await sharp(rgba, { raw: { width: 64, height: 64, channels: 4 } }).png().toBuffer());
  const viaAlpha = await inpainting.doGenerate({ ...base, images: [initImage], mask: alphaMask });
  const viaLuminance = await inpainting.doGenerate({ ...base, images: [initImage], mask: maskImage });
  assert.equal(await maxChannelDifference(viaAlpha.images[0]!.bytes, viaLuminance.images[0]!.bytes), 0);
  assert.equal(viaAlpha.images[0]!.settings.edit!.maskConvention, 'alpha');
  assert.equal(viaAlpha.images[0]!.settings.edit!.maskConventionDetected, true);
});
