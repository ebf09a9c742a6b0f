// `decoder: 'fast'` on the local provider: real tiny models and the real VAElight decoder (third-party, read from ../shared).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPngText } from '../../engine/image/png.js';
import { PreviewDecoder } from '../../engine/preview/preview-decoder.js';
import { readMemoryProfile } from '../../engine/families/memory-estimate.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { maxChannelDifference, rawRgb } from '../../testing/images.js';
import { sharedFile, testData } from '../../testing/paths.js';
import { fastDecoderLoader } from './local-fast-decoder.js';
import { LocalImageModel } from './local-image-model.js';
import { createLocal } from './local-provider.js';
import type { GenerationRecord } from './local-record.js';

const base = { prompt: 'a red cube', negativePrompt: '', n: 1, seed: 11, steps: 2, guidance: 7.5, sampler: 'euler', width: 64, height: 64 };

test('decoder "fast": the record and the PNG name the decoder and its hash, the timings its stage; an inpaint decodes the same way', async (t) => {
  const path = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!path) return;
  const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
  const local = createLocal({ fastDecoder: path });
  try {
    const model = local.imageModel('tiny-sd15', { folder: testData('fixtures', 'tiny-sd15') });
    const full = await model.doGenerate(base);
    const fast = await model.doGenerate({ ...base, decoder: 'fast' });
    const image = fast.images[0]!;
    assert.deepEqual(image.settings.decoder, { type: 'fast', name: 'VAEpreview.onnx', sha256 });
    const text = readPngText(image.bytes);
    assert.deepEqual((JSON.parse(text.pixelpipe!) as GenerationRecord).settings.decoder, { type: 'fast', name: 'VAEpreview.onnx', sha256 });
    assert.ok(text.parameters!.includes(`, Decoder: "fast (VAEpreview.onnx, ${sha256.slice(0, 10)})", `), text.parameters);
    assert.ok(fast.response.timings.fastDecode! > 0 && fast.response.timings.vae === undefined, JSON.stringify(fast.response.timings));
    // The full VAE's image says nothing of a decoder, and is another image.
    assert.equal(full.images[0]!.settings.decoder, undefined);
    assert.doesNotMatch(readPngText(full.images[0]!.bytes).parameters!, /Decoder:/);
    assert.ok((await maxChannelDifference(full.images[0]!.bytes, image.bytes)) > 0);

    // Inpainting with an ordinary UNet: the final latents go through the same decoder; kept pixels are pasted back as always.
    const inpaint = await model.doGenerate({ ...base, decoder: 'fast', images: [testData('conformance', 'inputs', 'init_image.png')], mask: testData('conformance', 'inputs', 'mask_image.png') });
    const edited = inpaint.images[0]!;
    assert.equal(edited.settings.operation, 'inpaint');
    assert.deepEqual(edited.settings.decoder, { type: 'fast', name: 'VAEpreview.onnx', sha256 });
    const pixels = await rawRgb(edited.bytes);
    assert.deepEqual([pixels.width, pixels.height], [64, 64]);
    assert.ok(inpaint.response.timings.fastDecode! > 0);
  } finally {
    await local.close();
  }
});

test('check refuses "fast" before anything loads: on SDXL (its latents are not SD 1.x/2.x), and where no fast decoder is configured', async (t) => {
  const path = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!path) return;
  const nothingLoads = () => Promise.reject(new Error('check must not load the model'));
  const fastDecoder = () => Promise.reject(new Error('check must not load the decoder'));
  const sdxl = new LocalImageModel('tiny-sdxl', { executionProvider: 'cpu', fastDecoder, load: nothingLoads, profile: () => readMemoryProfile(testData('fixtures', 'tiny-sdxl')) });
  const refusal = (pattern: RegExp) => (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'decoder' && error.value === 'fast' && pattern.test(error.message);
  await assert.rejects(sdxl.check({ n: 1, decoder: 'fast' }), refusal(/tiny-sdxl makes SDXL latents.*use `decoder` "full"/));
  await assert.rejects(sdxl.doGenerate({ ...base, decoder: 'fast' }), refusal(/SD 1\.x\/2\.x latents only/));
  await sdxl.check({ n: 1, decoder: 'full' });

  const unconfigured = new LocalImageModel('tiny-sd15', { executionProvider: 'cpu', load: nothingLoads, profile: () => readMemoryProfile(testData('fixtures', 'tiny-sd15')) });
  await assert.rejects(unconfigured.check({ n: 1, decoder: 'fast' }), refusal(/none is configured here: set PIXELPIPE_FAST_DECODER/));
  // Without a fast decoder of its own, the previews' decoder serves.
  const local = createLocal({ previewDecoder: path });
  await local.imageModel('tiny-sd15', { folder: testData('fixtures', 'tiny-sd15') }).check({ n: 1, decoder: 'fast' });
  await local.close();
  await assert.rejects(unconfigured.check({ n: 1, decoder: 'quick' as 'fast' }), (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'decoder' && /must be "full".*or "fast", got "quick"/.test(error.message));
});

test('the previews\' decoder serves as the fast decoder, in one session when both name the same file; another file gets its own', async (t) => {
  const path = sharedFile(t, 'fixtures', 'vaelight', 'VAEpreview.onnx');
  if (!path) return;
  const previewSession = PreviewDecoder.load(path);
  const preview = { path, load: () => previewSession };
  const shared = fastDecoderLoader(path, preview, {});
  const folder = mkdtempSync(join(tmpdir(), 'pixelpipe-fast-decoder-'));
  const copy = join(folder, 'draft-decoder.onnx');
  copyFileSync(path, copy);
  const own = fastDecoderLoader(copy, preview, {});
  try {
    const first = shared.load();
    assert.equal(shared.load(), first, 'loaded and hashed once');
    assert.equal((await first).decoder, await previewSession);
    const separate = await own.load();
    assert.notEqual(separate.decoder, await previewSession);
    assert.equal(separate.name, 'draft-decoder.onnx');
    assert.equal(separate.sha256, (await first).sha256, 'the same bytes');
  } finally {
    await Promise.all([own.release(), shared.release()]);
    await (await previewSession).release();
    rmSync(folder, { recursive: true, force: true });
  }
});
