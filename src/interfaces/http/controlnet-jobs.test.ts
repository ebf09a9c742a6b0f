// ControlNets over HTTP on the real service: named from the server's ControlNet folder (GET /v1/controlnets) or the
// model's own, with uploaded control images; the job's image matches diffusers' ControlNet run, the record names the
// ControlNet and the control image, and it reproduces. What cannot run is refused at submit (http-bad-input.test.ts).
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createHash } from 'node:crypto';
import { createImageService, type RunningImageService } from '../../service/image-service.js';
import { createPixelpipe } from '../../service/pixelpipe.js';
import { reproduceRecord } from '../../service/reproduce-record.js';
import { maxChannelDifference } from '../../testing/images.js';
import { testData } from '../../testing/paths.js';
import { createHttpApp } from './http-app.js';
import { startHttpServer } from './http-server.js';

const references = testData('conformance', 'pipelines', 'controlnet');
const run = (JSON.parse(readFileSync(join(references, 'index.json'), 'utf8')) as { runs: Array<{ scheduler_config: unknown; files: { png: string } }> }).runs[0]!;
const fixture = testData('fixtures', 'tiny-sd15-controlnet');
const controlImage = readFileSync(testData('conformance', 'inputs', 'control_image.png'));

let dataDir: string;
let service: RunningImageService;
let server: Awaited<ReturnType<typeof startHttpServer>>;
let modelFolder: string;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-controlnet-jobs-'));
  // The fixture ships PNDM's scheduler config; the reference ran Euler with this one.
  modelFolder = join(dataDir, 'tiny-sd15-controlnet');
  cpSync(fixture, modelFolder, { recursive: true });
  writeFileSync(join(modelFolder, 'scheduler', 'scheduler_config.json'), JSON.stringify(run.scheduler_config));
  // The ControlNet folder holds the same ControlNet under a name of its own.
  mkdirSync(join(dataDir, 'controlnets'));
  symlinkSync(join(fixture, 'controlnet'), join(dataDir, 'controlnets', 'edges-sd15'));
  // A UNet with residual inputs but no ControlNet of its own beside it.
  const bare = join(dataDir, 'tiny-sd15-residuals');
  mkdirSync(bare);
  for (const entry of readdirSync(fixture)) if (entry !== 'controlnet') symlinkSync(join(fixture, entry), join(bare, entry));
  // No watermark: the stored pixels are the model's, compared with diffusers'.
  service = await createImageService({ settings: { dataDir, controlnetDir: join(dataDir, 'controlnets'), watermark: false }, defaultModel: modelFolder, models: [bare, testData('fixtures', 'tiny-sd15'), testData('fixtures', 'tiny-sdxl')], workers: 1, isolation: 'in-process' });
  server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret }), host: '127.0.0.1', port: 0, closeTimeoutMs: 2000 });
});
after(async () => {
  await server.close();
  await service.close();
  await rm(dataDir, { recursive: true, force: true });
});

const reference = { prompt: 'a red cube', negativePrompt: '', seed: 42, steps: 4, guidance: 7.5, sampler: 'euler', width: 64, height: 64 };

async function submit(body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${server.url}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json() };
}

test('GET /v1/controlnets lists the ControlNet folder by name, with its base and size', async () => {
  const listed = (await (await fetch(`${server.url}/v1/controlnets`)).json()) as { data: { name: string; baseFamily: string; bytes: number; sha256: string }[] };
  assert.deepEqual(listed.data.map(({ name, baseFamily }) => [name, baseFamily]), [['edges-sd15', 'SD 1.x/2.x']]);
  assert.equal(listed.data[0]!.bytes, statSync(join(fixture, 'controlnet', 'model.onnx')).size);
  assert.equal(listed.data[0]!.sha256, createHash('sha256').update(readFileSync(join(fixture, 'controlnet', 'model.onnx'))).digest('hex'), 'the hash records name it by');
});

test('a job with the model\'s own ControlNet and an uploaded control image matches diffusers within 1/255; a named one of the folder makes the same pixels; the record names both and reproduces', async (t) => {
  const own = await submit({ ...reference, controls: [{ image: { b64_json: controlImage.toString('base64') }, scale: 1 }] });
  assert.equal(own.status, 202, JSON.stringify(own.body));
  const done = await service.waitForJob(own.body.id);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const [record] = done.records;
  const stored = (await service.storage.get(record!.blobKey))!;
  const difference = await maxChannelDifference(stored.bytes, join(references, run.files.png));
  t.diagnostic(`max per-channel difference from diffusers: ${difference}/255`);
  assert.ok(difference <= 1, `max difference ${difference}/255`);
  const netHash = createHash('sha256').update(readFileSync(join(fixture, 'controlnet', 'model.onnx'))).digest('hex');
  const imageHash = createHash('sha256').update(controlImage).digest('hex');
  const [control] = (record!.settings as { controls: { model: string; sha256: string; image: string; type: string; scale: number }[] }).controls;
  assert.deepEqual([control!.sha256, control!.image, control!.type, control!.scale], [netHash, `sha256:${imageHash}`, 'image', 1]);

  // The control image is stored once: the second job sends its blob key.
  const controlBlob = (record!.request.controls as { image: { blobKey: string } }[])[0]!.image.blobKey;
  const named = await submit({ ...reference, controls: [{ controlnet: 'edges-sd15', image: { blobKey: controlBlob } }] });
  assert.equal(named.status, 202, JSON.stringify(named.body));
  const namedDone = await service.waitForJob(named.body.id);
  assert.equal(namedDone.state, 'succeeded', JSON.stringify(namedDone.error));
  assert.equal(namedDone.records[0]!.pixelSha256, record!.pixelSha256, 'the same ControlNet under a name makes the same pixels');
  assert.equal((namedDone.records[0]!.request.controls as { controlnet: string }[])[0]!.controlnet, 'edges-sd15');

  const pixelpipe = createPixelpipe();
  t.after(() => pixelpipe.close());
  const controlNets = join(dataDir, 'controlnets');
  const location = async (name: string | undefined, model: string) => (name === undefined ? model : join(controlNets, name));
  for (const made of [record!, namedDone.records[0]!]) {
    const again = await reproduceRecord(made, { pixelpipe, storage: service.storage, model: modelFolder, controlNetLocation: location });
    assert.equal(again.matches, true, `reproduced ${again.pixelSha256}, recorded ${made.pixelSha256}`);
  }
  await assert.rejects(reproduceRecord(record!, { pixelpipe, storage: service.storage, model: modelFolder }), /there is none here: record .* used ControlNets; reproduce it where its ControlNet folder is/);
});

test('controls are checked at submit, naming the field: a UNet without residual inputs, another family, a model without a ControlNet of its own and none named, an unknown name, canny settings without canny; edits need a VAE encoder', async () => {
  const { blobKey } = await service.storeUpload(controlImage, { field: 'controls.0.image' });
  const refused = async (request: Record<string, unknown>, param: string, message: RegExp) => {
    await assert.rejects(service.submit({ prompt: 'a', ...request } as never), (error: Error & { argument?: string }) => {
      assert.equal(error.argument, param, error.message);
      assert.match(error.message, message);
      return true;
    });
  };
  const control = { controlnet: 'edges-sd15', image: { blobKey } };
  await refused({ model: 'tiny-sd15', controls: [control] }, 'controls', /tiny-sd15's UNet takes no ControlNet residuals .*controls: true/);
  await refused({ model: 'tiny-sdxl', controls: [control] }, 'controls', /run on SD 1\.x\/2\.x models only; tiny-sdxl is SDXL/);
  await refused({ model: 'tiny-sd15-residuals', controls: [{ image: { blobKey } }] }, 'controls.0.controlnet', /tiny-sd15-residuals has no ControlNet of its own .*GET \/v1\/controlnets/);
  await refused({ controls: [{ ...control, controlnet: 'nope' }] }, 'controls.0.controlnet', /"nope", which is not in this server's ControlNet folder: it has edges-sd15/);
  await refused({ controls: [{ ...control, low: 50 }] }, 'controls.0.low', /canny's threshold/);
  await refused({ controls: [{ ...control, start: 0.8, end: 0.5 }] }, 'controls.0.start', /must be below `end`/);
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; pixelpipe?: { capabilities: { controls: boolean; operations: string[] } } }[] };
  assert.deepEqual(models.data.filter((model) => model.pixelpipe).map((model) => [model.id, model.pixelpipe!.capabilities.controls]).sort(), [['tiny-sd15', false], ['tiny-sd15-controlnet', true], ['tiny-sd15-residuals', true], ['tiny-sdxl', false]]);

  // The ControlNet fixture has no VAE encoder: it runs text-to-image only, and says so before any job runs.
  assert.deepEqual(models.data.find((model) => model.id === 'tiny-sd15-controlnet')!.pixelpipe!.capabilities.operations, ['text-to-image']);
  await refused({ images: [{ blobKey }] }, 'images', /tiny-sd15-controlnet has no VAE encoder \(vae_encoder\/model\.onnx in its folder\)/);
  await refused({ width: 64, height: 64, hiresFix: {} }, 'hiresFix', /`hiresFix` needs image-to-image, which tiny-sd15-controlnet does not run \(text-to-image\)/);
});
