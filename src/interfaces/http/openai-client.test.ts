// The official openai client against `pixelpipe serve` end to end: the real service on PGlite and on PostgreSQL, in-process workers, the tiny engine fixtures.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI, { toFile } from 'openai';
import type { ImageEditParamsNonStreaming, ImageGenerateParamsNonStreaming } from 'openai/resources/images';
import sharp from 'sharp';
import type { RunningImageService } from '../../service/image-service.js';
import { rawRgb } from '../../testing/images.js';
import { testData } from '../../testing/paths.js';
import { testDatabaseUrlVariable } from '../../testing/postgres.js';
import { startOpenAiTestServer, type OpenAiTestServer } from '../../testing/openai-test-server.js';
import type { HttpServer } from './http-server.js';

const initImage = testData('conformance', 'inputs', 'init_image.png');
/** Luminance convention: white regenerates. */
const luminanceMask = testData('conformance', 'inputs', 'mask_image.png');

/** The luminance mask as OpenAI wants it: a PNG whose transparent pixels are the ones to repaint. */
async function alphaMask(): Promise<Buffer> {
  const { data, info } = await sharp(luminanceMask).grayscale().raw().toBuffer({ resolveWithObject: true });
  const rgba = Buffer.alloc(info.width * info.height * 4);
  for (let pixel = 0; pixel < info.width * info.height; pixel++) rgba[pixel * 4 + 3] = data[pixel]! >= 128 ? 0 : 255;
  return sharp(rgba, { raw: { width: info.width, height: info.height, channels: 4 } }).png().toBuffer();
}

/** The PNG without its text chunks. */
function withoutText(png: Buffer): Buffer {
  const kept = [png.subarray(0, 8)];
  for (let offset = 8; offset < png.length; ) {
    const end = offset + 12 + png.readUInt32BE(offset);
    if (!['tEXt', 'iTXt', 'zTXt'].includes(png.toString('latin1', offset + 4, offset + 8))) kept.push(png.subarray(offset, end));
    offset = end;
  }
  return Buffer.concat(kept);
}

function decode(response: OpenAI.ImagesResponse, index = 0): Buffer {
  const b64 = response.data?.[index]?.b64_json;
  assert.ok(b64, `image ${index} has no b64_json`);
  return Buffer.from(b64, 'base64');
}

const serverUrl = process.env[testDatabaseUrlVariable];

// The same suite on embedded PGlite and on a PostgreSQL server (skipped loudly without one, except in CI where that fails).
for (const backend of ['pglite', 'postgres'] as const) {
  const skip = backend === 'postgres' && !serverUrl && process.env.CI !== 'true' ? `NOT RUN: ${testDatabaseUrlVariable} is not set, so the openai client was not run against PostgreSQL` : false;
  if (skip) console.warn(`\n!!! ${skip}\n`);
  describe(`the openai client against pixelpipe serve (real service, ${backend}, tiny model)`, { skip }, () => {
    let running: OpenAiTestServer;
    let service: RunningImageService;
    let server: HttpServer;
    let client: OpenAI;

    before(async () => {
      running = await startOpenAiTestServer(backend, 'openai-client', {
        // Without the watermark, the images come back with the model's exact pixels, which these tests compare.
        settings: { watermark: false },
        defaultModel: testData('fixtures', 'tiny-sd15'),
        models: [testData('fixtures', 'tiny-sd15-inpaint')],
        pollingIntervalSeconds: 0.1,
      });
      ({ service, server, client } = running);
    });

    after(async () => {
      await running?.close();
    });

    it('generates a 64×64 PNG, and the same seed gives the same image again', async () => {
      const body = { prompt: 'a red cube on a table', size: '64x64', steps: 2, seed: 7 } as ImageGenerateParamsNonStreaming;
      const first = await client.images.generate(body);
      const png = decode(first);
      const metadata = await sharp(png).metadata();
      assert.deepEqual([metadata.format, metadata.width, metadata.height], ['png', 64, 64]);
      const again = decode(await client.images.generate(body));
      assert.deepEqual((await rawRgb(again)).data, (await rawRgb(png)).data, 'same seed, same pixels');
      // The embedded generation record holds timings and a time, so only the image chunks can match byte for byte.
      assert.ok(withoutText(again).equals(withoutText(png)), 'same seed, same encoded image bytes');
    });

    it('gives each of n images its own seed', async () => {
      const response = await client.images.generate({ prompt: 'a blue sphere', size: '64x64', n: 2, steps: 2, seed: 11 } as ImageGenerateParamsNonStreaming);
      assert.equal(response.data?.length, 2);
      assert.notDeepEqual((await rawRgb(decode(response, 0))).data, (await rawRgb(decode(response, 1))).data);
    });

    it('inpaints through /v1/images/edits: transparent mask pixels are repainted, opaque ones kept exactly', async () => {
      const response = await client.images.edit({
        image: await toFile(await readFile(initImage), 'init.png', { type: 'image/png' }),
        mask: await toFile(await alphaMask(), 'mask.png', { type: 'image/png' }),
        prompt: 'a red cube',
        model: 'tiny-sd15-inpaint',
        steps: 2,
        seed: 42,
      } as ImageEditParamsNonStreaming);
      const output = await rawRgb(decode(response));
      const input = await rawRgb(initImage);
      assert.deepEqual([output.width, output.height], [64, 64]);
      const { data: mask } = await sharp(luminanceMask).grayscale().raw().toBuffer({ resolveWithObject: true });
      let kept = 0;
      let changed = 0;
      for (let pixel = 0; pixel < 64 * 64; pixel++) {
        const same = [0, 1, 2].every((channel) => output.data[pixel * 3 + channel] === input.data[pixel * 3 + channel]);
        if (mask[pixel]! < 128) {
          assert.ok(same, `pixel ${pixel} is outside the mask's transparent area and must be kept`);
          kept++;
        } else if (!same) changed++;
      }
      assert.ok(kept > 0 && changed > 0, `kept ${kept}, repainted ${changed}`);
    });

    it('lists the served models by name, never by their path on the server', async () => {
      const ids = [];
      for await (const model of client.models.list()) ids.push(model.id);
      assert.deepEqual(ids.filter((id) => !id.includes(':')), ['tiny-sd15', 'tiny-sd15-inpaint']);
      assert.ok(ids.every((id) => !id.includes('/fixtures')), ids.join(', '));
      assert.equal((await client.models.retrieve('tiny-sd15-inpaint')).owned_by, 'local');
      // What each can do, from its configs (the fixtures' UNet has 2 levels and sample_size 8, the VAE 4 blocks: ×8, so sides of 16; a `leading` schedule).
      const capabilities = async (id: string) => ((await client.models.retrieve(id)) as unknown as { pixelpipe: { capabilities: Record<string, unknown> } }).pixelpipe.capabilities;
      const samplers = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'pndm'];
      const common = { family: { id: 'stable-diffusion', name: 'SD 1.x/2.x' }, controls: false, sizeMultiple: 16, defaultSize: { width: 64, height: 64 }, defaultSteps: 25, defaultGuidance: 7.5, samplers, decoders: ['full'] };
      assert.deepEqual(await capabilities('tiny-sd15'), { operations: ['text-to-image', 'image-to-image', 'inpaint', 'outpaint'], ...common });
      assert.deepEqual(await capabilities('tiny-sd15-inpaint'), { operations: ['inpaint', 'outpaint'], ...common });
    });

    it('refuses a model that is not served with 404 model_not_found, a path included', async () => {
      for (const model of ['no-such-model-xyz', '/etc', '/root/.ssh', testData('fixtures', 'tiny-sdxl')]) {
        await assert.rejects(client.images.generate({ prompt: 'a', model, size: '64x64' } as ImageGenerateParamsNonStreaming), (error: unknown) => {
          assert.ok(error instanceof OpenAI.NotFoundError, `${model}: ${String(error)}`);
          assert.equal((error as { code?: string }).code, 'model_not_found');
          assert.match(error.message, /which is not served here: the local models here are tiny-sd15, tiny-sd15-inpaint/);
          return true;
        });
      }
    });
  });
}
