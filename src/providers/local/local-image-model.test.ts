import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadStableDiffusion } from '../../engine/families/stable-diffusion.js';
import { readPngText } from '../../engine/image/png.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { inputToConstant } from '../../testing/onnx-surgery.js';
import { testData } from '../../testing/paths.js';
import { readMemoryProfile } from '../../engine/families/memory-estimate.js';
import { LocalImageModel } from './local-image-model.js';
import type { GenerationRecord } from './local-record.js';

const folder = testData('fixtures', 'tiny-sd15');
let loads = 0;
const model = new LocalImageModel('tiny-sd15', { executionProvider: 'cpu', load: () => { loads++; return loadStableDiffusion(folder); }, profile: () => readMemoryProfile(folder) });

test('sessions load once and are reused across calls', async () => {
  await model.doGenerate({ prompt: 'a red cube', n: 1, seed: 1, steps: 1 });
  await model.doGenerate({ prompt: 'a red cube', n: 1, seed: 2, steps: 1 });
  assert.equal(loads, 1);
});

test('the record in the PNG names settings, model hash, runtime and the seed of each image', async () => {
  const result = await model.doGenerate({ prompt: 'a red cube', negativePrompt: 'blurry', n: 2, seed: 7, steps: 2, guidance: 5, sampler: 'ddim' });
  assert.deepEqual(result.images.map((image) => image.settings.seed), ['7', '8']);
  const record = JSON.parse(readPngText(result.images[1]!.bytes).pixelpipe!) as GenerationRecord;
  const unetHash = createHash('sha256').update(readFileSync(testData('fixtures', 'tiny-sd15', 'unet', 'model.onnx'))).digest('hex');
  assert.equal(record.model.hash, `sha256:${unetHash}`);
  assert.deepEqual(record.settings, { prompt: 'a red cube', negativePrompt: 'blurry', seed: '8', steps: 2, guidance: 5, sampler: 'ddim', width: 64, height: 64, operation: 'text-to-image' });
  assert.equal(record.runtime.name, 'onnxruntime-node');
  assert.equal(record.runtime.executionProvider, 'cpu');
  assert.ok(record.timings.denoise! > 0);
  const parameters = readPngText(result.images[1]!.bytes).parameters!;
  assert.equal(parameters.split('\n')[1], 'Negative prompt: blurry');
  assert.match(parameters, /Steps: 2, Sampler: DDIM, CFG scale: 5, Seed: 8, Size: 64x64, Model hash: [0-9a-f]{10}, Model: tiny-sd15/);
  assert.ok(result.response.timings.sessionRun! > 0 && result.response.timings.total! >= result.response.timings.sessionRun!);
});

test('without a sampler the scheduler the folder names is used (PNDM for SD 1.5)', async () => {
  const result = await model.doGenerate({ prompt: 'a red cube', n: 1, seed: 3, steps: 2 });
  assert.equal(result.images[0]!.settings.sampler, 'pndm');
});

test('a prompt longer than 77 tokens is cut with a warning, not an error', async () => {
  const result = await model.doGenerate({ prompt: 'red cube '.repeat(60), n: 1, seed: 3, steps: 1 });
  assert.deepEqual(result.warnings.map((warning) => warning.type === 'adjusted-setting' && warning.setting), ['prompt']);
});

test('a random seed is chosen and reported when none is given', async () => {
  const result = await model.doGenerate({ prompt: 'a red cube', n: 1, steps: 1 });
  assert.match(result.images[0]!.settings.seed!, /^\d+$/);
});

test('unknown provider options are refused with the field named', async () => {
  await assert.rejects(model.doGenerate({ prompt: 'a red cube', n: 1, providerOptions: { local: { thread: 2 } } }), (error: unknown) => {
    assert.ok(InvalidArgumentError.isInstance(error));
    assert.equal(error.argument, 'providerOptions.local');
    return true;
  });
});

test('progress reaches the callback after each step of each image', async () => {
  const events: string[] = [];
  await model.doGenerate({ prompt: 'a red cube', n: 2, seed: 1, steps: 2, sampler: 'euler', onProgress: ({ imageIndex, step, steps }) => events.push(`${imageIndex}:${step}/${steps}`) });
  assert.deepEqual(events, ['0:1/2', '0:2/2', '1:1/2', '1:2/2']);
});

test('PNDM reports the steps asked for: its extra warm-up UNet call is counted with the step it belongs to', async () => {
  const events: Array<[number, number]> = [];
  await model.doGenerate({ prompt: 'a red cube', n: 1, seed: 1, steps: 3, sampler: 'pndm', onProgress: ({ step, steps }) => events.push([step, steps]) });
  // PLMS runs steps + 1 UNet calls; its first step takes two, and is reported once, when done.
  assert.deepEqual(events, [[1, 3], [2, 3], [3, 3]]);
});

test('PNDM image-to-image reports the ⌊steps × strength⌋ steps it runs, never more', async () => {
  const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 180, g: 40, b: 40 } } }).png().toBuffer();
  const events: Array<[number, number]> = [];
  await model.doGenerate({ prompt: 'a red cube', n: 1, seed: 1, steps: 4, strength: 0.5, images: [image], sampler: 'pndm', onProgress: ({ step, steps }) => events.push([step, steps]) });
  assert.deepEqual(events, [[1, 2], [2, 2]]);
});

test('the prompts are encoded once per call, not once per image', async () => {
  let encodes = 0;
  const counting = new LocalImageModel('tiny-sd15', {
    executionProvider: 'cpu',
    load: async () => {
      const loaded = await loadStableDiffusion(folder);
      const encode = loaded.textEncoder.encode.bind(loaded.textEncoder);
      loaded.textEncoder.encode = (...args) => { encodes++; return encode(...args); };
      return loaded;
    },
    profile: () => readMemoryProfile(folder),
  });
  const result = await counting.doGenerate({ prompt: 'a red cube', n: 3, seed: 1, steps: 1, guidance: 7.5 });
  assert.equal(result.images.length, 3);
  assert.equal(encodes, 1);
});

test('SD3: text-to-image, image-to-image, inpainting and outpainting', async () => {
  const sd3Folder = testData('fixtures', 'tiny-sd3');
  const sd3 = new LocalImageModel('tiny-sd3', { executionProvider: 'cpu', load: () => loadStableDiffusion(sd3Folder), profile: () => readMemoryProfile(sd3Folder) });
  assert.deepEqual((await sd3.capabilities()).operations, ['text-to-image', 'image-to-image', 'inpaint', 'outpaint']);
  await sd3.check({ n: 1, edit: { width: 64, height: 64, masked: false } });
  // SD3's get_timesteps keeps 4 − ⌊4 − 2.4⌋ = 3 steps at strength 0.6 (SD's rule would run 2); progress counts all three.
  const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 180, g: 40, b: 40 } } }).png().toBuffer();
  const events: Array<[number, number]> = [];
  const result = await sd3.doGenerate({ prompt: 'a red cube', n: 1, seed: 1, steps: 4, strength: 0.6, images: [image], onProgress: ({ step, steps }) => events.push([step, steps]) });
  assert.deepEqual(events, [[1, 3], [2, 3], [3, 3]]);
  assert.equal((JSON.parse(readPngText(result.images[0]!.bytes).pixelpipe!) as GenerationRecord).settings.operation, 'image-to-image');
  await sd3.check({ n: 1, edit: { width: 64, height: 64, masked: true } });
  const mask = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 255, g: 255, b: 255 } } }).png().toBuffer();
  const inpainted = await sd3.doGenerate({ prompt: 'a red cube', n: 1, seed: 1, steps: 2, images: [image], mask });
  assert.equal((JSON.parse(readPngText(inpainted.images[0]!.bytes).pixelpipe!) as GenerationRecord).settings.operation, 'inpaint');
  await sd3.release();
});

test('FLUX.1: text-to-image and image-to-image, flowmatch_euler only; a negative prompt is an unsupported-setting warning; previews use its own projection', async () => {
  const fluxFolder = testData('fixtures', 'tiny-flux');
  const flux = new LocalImageModel('tiny-flux', { executionProvider: 'cpu', load: () => loadStableDiffusion(fluxFolder), profile: () => readMemoryProfile(fluxFolder) });
  const capabilities = await flux.capabilities();
  assert.deepEqual(capabilities.operations, ['text-to-image', 'image-to-image']);
  assert.deepEqual(capabilities.samplers, ['flowmatch_euler']);
  assert.deepEqual([capabilities.sizeMultiple, capabilities.defaultSteps, capabilities.defaultGuidance], [16, 28, 3.5]);
  await assert.rejects(flux.check({ n: 1, edit: { width: 64, height: 64, masked: true } }), { name: 'InvalidArgumentError', message: /inpainting is not supported for FLUX\.1 models \(tiny-flux\)/ });
  const previews: { method: string; width: number }[] = [];
  const result = await flux.doGenerate({
    prompt: 'a red cube', negativePrompt: 'blurry', n: 1, seed: 1, steps: 2, width: 64, height: 64, previews: true,
    onProgress: (event) => { if (event.preview) previews.push(event.preview); },
  });
  assert.deepEqual(result.warnings.map((warning) => warning.type === 'unsupported-setting' && warning.setting), ['negativePrompt']);
  assert.deepEqual(previews.map((preview) => [preview.method, preview.width]), [['latent-rgb', 8], ['latent-rgb', 8]]);
  const record = JSON.parse(readPngText(result.images[0]!.bytes).pixelpipe!) as GenerationRecord;
  assert.equal(record.model.family, 'flux');
  assert.deepEqual([record.settings.sampler, record.settings.guidance], ['flowmatch_euler', 3.5]);
  await flux.release();
});

test('FLUX.1-schnell-style: a transformer without a guidance input runs, and a guidance given is an unsupported-setting warning', async () => {
  // The tiny FLUX fixture is made like FLUX.1-dev; schnell's transformer has no `guidance` input.
  const work = mkdtempSync(join(tmpdir(), 'pixelpipe-schnell-'));
  try {
    const schnellFolder = join(work, 'tiny-flux-schnell');
    cpSync(testData('fixtures', 'tiny-flux'), schnellFolder, { recursive: true });
    const transformer = join(schnellFolder, 'transformer', 'model.onnx');
    writeFileSync(transformer, inputToConstant(readFileSync(transformer), 'guidance', [3.5]));
    const schnell = new LocalImageModel('tiny-flux-schnell', { executionProvider: 'cpu', load: () => loadStableDiffusion(schnellFolder), profile: () => readMemoryProfile(schnellFolder) });
    const guided = await schnell.doGenerate({ prompt: 'a red cube', n: 1, seed: 42, steps: 2, guidance: 3.5, width: 64, height: 64 });
    assert.deepEqual(guided.warnings.filter((warning) => warning.type === 'unsupported-setting' && warning.setting === 'guidance').length, 1, JSON.stringify(guided.warnings));
    assert.match(JSON.stringify(guided.warnings), /takes no guidance input \(as FLUX\.1-schnell's\), so guidance 3\.5 has no effect/);
    // The guidance never reached the model: the same seed without one makes the same pixels.
    const plain = await schnell.doGenerate({ prompt: 'a red cube', n: 1, seed: 42, steps: 2, width: 64, height: 64 });
    assert.ok(!plain.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'guidance'));
    const pixels = async (bytes: Uint8Array) => (await sharp(bytes).raw().toBuffer()).toString('hex');
    assert.equal(await pixels(guided.images[0]!.bytes), await pixels(plain.images[0]!.bytes));
    await schnell.release();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('FLUX.1: a prompt longer than T5\'s 512 tokens is cut with a warning; a folder without its T5 is refused naming it', async () => {
  const fluxFolder = testData('fixtures', 'tiny-flux');
  const flux = new LocalImageModel('tiny-flux', { executionProvider: 'cpu', load: () => loadStableDiffusion(fluxFolder), profile: () => readMemoryProfile(fluxFolder) });
  const long = await flux.doGenerate({ prompt: Array.from({ length: 300 }, () => 'a red cube').join(' '), n: 1, seed: 1, steps: 1, width: 64, height: 64 });
  assert.ok(long.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'prompt' && /longer than the text encoder's 512 tokens/.test(warning.details ?? '')), JSON.stringify(long.warnings));
  await flux.release();

  const work = mkdtempSync(join(tmpdir(), 'pixelpipe-no-t5-'));
  try {
    const withoutT5 = join(work, 'tiny-flux-no-t5');
    cpSync(fluxFolder, withoutT5, { recursive: true, filter: (source) => !source.includes('text_encoder_2') });
    const broken = new LocalImageModel('tiny-flux-no-t5', { executionProvider: 'cpu', load: () => loadStableDiffusion(withoutT5), profile: () => readMemoryProfile(withoutT5) });
    await assert.rejects(broken.doGenerate({ prompt: 'a red cube', n: 1, seed: 1, steps: 1, width: 64, height: 64 }), { name: 'InvalidModelError', message: /text_encoder_2\/model\.onnx/ });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
