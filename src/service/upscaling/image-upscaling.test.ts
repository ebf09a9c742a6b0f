// The upscale step of finishing, on the bundled weights: what a job stores equals the engine's own tiled
// upscale of what the model made, and the record chunk and provenance name the operation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import sharp from 'sharp';
import { insertTextChunks, readPngText } from '../../engine/image/png.js';
import { loadEsrganSlim } from '../../engine/upscale/esrgan-slim.js';
import { upscaleTiled } from '../../engine/upscale/tiled-upscale.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { jobRequestSchema } from '../generation/job-request.js';
import { createImageFinishing, type EncodedImage } from '../provenance/image-finishing.js';
import { bundledUpscaling } from './image-upscaling.js';

const width = 40;
const height = 28;
const pixels = Buffer.from(Array.from({ length: width * height * 3 }, (_, index) => (index * 7919 + (index % 13) * 31) % 256));
const engineRecord = { version: 1, settings: { prompt: 'a tiled cube', seed: '5' }, model: { id: 'tiny' } };
const made: EncodedImage = {
  bytes: new Uint8Array(insertTextChunks(await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toBuffer(), [
    { keyword: 'parameters', text: 'a tiled cube\nSteps: 2, Seed: 5', international: false },
    { keyword: 'pixelpipe', text: JSON.stringify(engineRecord), international: true },
  ])),
  mediaType: 'image/png',
};
const finishing = createImageFinishing({ upscaling: bundledUpscaling({ maxOutputPixels: 4096 * 4096 }) });
const finish = (request: Record<string, unknown>, image = made) =>
  finishing.finish(image, { recordId: '00000000-0000-4000-8000-000000000001', request: jobRequestSchema().parse({ prompt: 'a tiled cube', ...request }), settings: engineRecord.settings as never, softwareAgent: 'local:tiny', hosted: false });

test('upscale x2: the stored pixels are the engine\'s tiled esrgan-slim upscale of the model\'s; the record chunk and provenance name the weights', async () => {
  const finished = await finish({ upscale: { scale: 2 } });
  const stored = await sharp(finished.bytes).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([stored.info.width, stored.info.height, stored.info.channels], [80, 56, 3]);
  const upscaler = await loadEsrganSlim(2);
  try {
    const expected = await upscaleTiled(upscaler, { data: new Uint8Array(pixels), width, height });
    assert.ok(Buffer.from(expected.data).equals(stored.data), 'the same bytes as the engine\'s upscale');
    const operation = { model: 'esrgan-slim-x2', hash: upscaler.hash, scale: 2, tile: 256, overlap: finished.provenance.upscale!.overlap };
    assert.deepEqual(finished.provenance.upscale, operation);
    const text = readPngText(finished.bytes);
    assert.deepEqual(JSON.parse(text.pixelpipe!), { ...engineRecord, recordId: '00000000-0000-4000-8000-000000000001', upscale: operation });
    assert.equal(text.parameters, 'a tiled cube\nSteps: 2, Seed: 5', 'A1111 parameters are kept');
  } finally {
    await upscaler.release();
  }
});

test('upscale without a scale reaches the resize with the smallest bundled scale, or leaves an image already large enough to the resize', async () => {
  const reached = await finish({ upscale: {}, resize: { width: 150, height: 90 } });
  assert.equal(reached.provenance.upscale?.scale, 4, '40×28 needs ×3.75 for 150 wide');
  assert.deepEqual([(await sharp(reached.bytes).metadata()).width, (await sharp(reached.bytes).metadata()).height], [150, 90]);
  const smaller = await finish({ upscale: {}, resize: { width: 32, height: 20 } });
  assert.equal(smaller.provenance.upscale, undefined);
  assert.equal(JSON.parse(readPngText(smaller.bytes).pixelpipe!).upscale, undefined);
});

test('an upscale over the limit is refused before the model runs, naming the field, the sizes and the limit', async () => {
  const small = createImageFinishing({ upscaling: bundledUpscaling({ maxOutputPixels: 100 * 100 }) });
  await assert.rejects(
    small.finish(made, { recordId: '00000000-0000-4000-8000-000000000002', request: jobRequestSchema().parse({ prompt: 'a', upscale: { scale: 4 } }), settings: {} as never, softwareAgent: 'local:tiny', hosted: false }),
    (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'upscale.scale' && /40×28 image 160×112 = 17,920 pixels, over this server's upscale limit of 10,000/.test((error as Error).message),
  );
});

test('a finishing without an upscaler refuses a request that asks for one', async () => {
  await assert.rejects(createImageFinishing({}).finish(made, { recordId: '00000000-0000-4000-8000-000000000003', request: jobRequestSchema().parse({ prompt: 'a', upscale: { scale: 2 } }), settings: {} as never, softwareAgent: 'local:tiny', hosted: false }), /`upscale` is not offered/);
});
