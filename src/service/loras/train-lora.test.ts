// LoRA training end to end against local servers answering as Replicate's and fal's trainers and an OpenAI-compatible captioner.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { strFromU8, unzipSync } from 'fflate';
import { FalLoraTrainer } from '../../providers/fal/fal-training.js';
import { ReplicateLoraTrainer } from '../../providers/replicate/replicate-training.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { GenerationFailedError } from '../../spec/errors/generation-failed-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { InvalidModelError } from '../../spec/errors/invalid-model-error.js';
import { routeFalTraining, routeReplicateTraining, safetensorsFile, writeTrainingImages } from '../../testing/lora-training.js';
import { recordingSleep, startMockApiServer, type MockApiServer } from '../../testing/mock-api-server.js';
import { temporaryFolder } from '../../testing/temporary-files.js';
import { createImageCaptioner } from './image-captioner.js';
import { listLoras } from './lora-folder.js';
import { trainLora } from './train-lora.js';

let server: MockApiServer;
before(async () => (server = await startMockApiServer()));
after(() => server.close());

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const hosted = () => ({ baseURL: server.url, apiKey: 'test-key', pollIntervalMs: 0, sleep: recordingSleep().sleep, maxRetries: 0 });
const replicate = () => new ReplicateLoraTrainer({ ...hosted(), destination: 'acme/brand-lora' });
const fal = () => new FalLoraTrainer({ ...hosted(), storageBaseURL: server.url });

function routeCaptioner(): void {
  server.route('POST', '/v1/chat/completions', (request) => ({ json: { choices: [{ message: { role: 'assistant', content: `a poster with coloured blocks ${request.json.messages[1].content[1].image_url.url.length}` } }] } }));
}
const captioner = () => createImageCaptioner({ baseUrl: `${server.url}/v1`, model: 'qwen2.5vl', apiKey: 'caption-key', maxRetries: 0 });

async function setup(count = 12): Promise<{ images: string; loras: string; files: string[] }> {
  server.requests.length = 0;
  const images = await temporaryFolder('pixelpipe-lora-images-');
  return { images, loras: await temporaryFolder('pixelpipe-loras-'), files: await writeTrainingImages(images, count) };
}

test('replicate: captions, zip, upload, training input, polling, tar weights, registration and listing', async () => {
  const { images, loras, files } = await setup();
  routeReplicateTraining(server);
  routeCaptioner();
  const lines: string[] = [];
  const record = await trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', name: 'acme', loraDir: loras, trainer: replicate(), settings: { steps: 1000, rank: 16, learningRate: 0.0004 }, captioner: captioner(), onProgress: (line) => lines.push(line) });

  // The captioner saw each image as a data URL, with the key.
  const chats = server.requestsTo('POST', '/v1/chat/completions');
  assert.equal(chats.length, 12);
  assert.equal(chats[0]!.headers.authorization, 'Bearer caption-key');
  assert.match(chats[0]!.json.messages[1].content[1].image_url.url, /^data:image\/png;base64,iVBOR/);
  assert.equal(chats[0]!.json.model, 'qwen2.5vl');
  // Captions are written beside the images, with the trigger word.
  const caption = await readFile(join(images, 'brand-01.txt'), 'utf8');
  assert.match(caption, /^a poster with coloured blocks \d+, acmecorp_style\n$/);

  // The upload is the zip of every image and its caption.
  const [upload] = server.requestsTo('POST', '/files');
  assert.equal(upload!.headers.authorization, 'Bearer test-key');
  const zip = upload!.form!.get('content') as File;
  const entries = unzipSync(new Uint8Array(await zip.arrayBuffer()));
  assert.deepEqual(Object.keys(entries).sort(), files.flatMap((file) => [file, file.replace('.png', '.txt')]).sort());
  assert.equal(sha256(entries['brand-03.png']!), sha256(await readFile(join(images, 'brand-03.png'))));
  assert.equal(strFromU8(entries['brand-01.txt']!), caption);

  // The training is created on the trainer's latest version with the documented input names.
  const [create] = server.requestsTo('POST', '/models/ostris/flux-dev-lora-trainer/versions/v1/trainings');
  assert.deepEqual(create!.json, { destination: 'acme/brand-lora', input: { input_images: `${server.url}/files/f1`, trigger_word: 'acmecorp_style', steps: 1000, lora_rank: 16, learning_rate: 0.0004, autocaption: false } });
  assert.ok(lines.some((line) => line.includes('replicate training t1: processing (step 10/1000)')), lines.join('\n'));

  // The weights come out of trained_model.tar and are registered with their record.
  const weights = safetensorsFile();
  assert.equal(sha256(await readFile(join(loras, 'acme.safetensors'))), sha256(weights));
  const json = JSON.parse(await readFile(join(loras, 'acme.json'), 'utf8'));
  assert.equal(json.triggerWord, 'acmecorp_style');
  assert.equal(json.provider, 'replicate');
  assert.equal(json.trainer, 'ostris/flux-dev-lora-trainer');
  assert.equal(json.trainingId, 't1');
  assert.equal(json.weights.sha256, sha256(weights));
  assert.equal(json.images.length, 12);
  assert.equal(json.images[0].sha256, sha256(await readFile(join(images, 'brand-01.png'))));
  assert.deepEqual({ steps: json.settings.steps, rank: json.settings.rank, learningRate: json.settings.learningRate }, { steps: 1000, rank: 16, learningRate: 0.0004 });
  assert.ok(json.startedAt && json.completedAt && json.registeredAt);
  assert.deepEqual(record.weights, json.weights);
  assert.deepEqual(await listLoras(loras), [{ name: 'acme', triggerWord: 'acmecorp_style', provider: 'replicate', bytes: weights.byteLength, sha256: sha256(weights) }]);
});

test('fal: storage upload, queue submit, status, result; caption files are reused and rank/learning rate reported as not sent', async () => {
  const { images, loras, files } = await setup();
  for (const file of files) await writeFile(join(images, file.replace('.png', '.txt')), `hand-written caption of ${file}\n`);
  routeFalTraining(server);
  const lines: string[] = [];
  const record = await trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', loraDir: loras, trainer: fal(), settings: { steps: 500, rank: 32, learningRate: 0.0001 }, onProgress: (line) => lines.push(line) });

  const [initiate] = server.requestsTo('POST', '/storage/upload/initiate');
  assert.deepEqual(initiate!.json, { content_type: 'application/zip', file_name: 'acmecorp_style-training.zip' });
  assert.equal(initiate!.headers.authorization, 'Key test-key');
  const [put] = server.requestsTo('PUT', '/upload/u1');
  assert.equal(put!.headers.authorization, undefined, 'the signed upload URL gets no key');
  assert.equal(put!.headers['content-type'], 'application/zip');
  const entries = unzipSync(new Uint8Array(put!.body));
  assert.equal(Object.keys(entries).length, 24);
  assert.equal(strFromU8(entries['brand-02.txt']!), 'hand-written caption of brand-02.png, acmecorp_style\n');
  const [submit] = server.requestsTo('POST', '/fal-ai/flux-lora-fast-training');
  assert.deepEqual(submit!.json, { images_data_url: `${server.url}/files/u1.zip`, trigger_word: 'acmecorp_style', steps: 500 });
  assert.equal(server.requestsTo('GET', '/fal-ai/flux-lora-fast-training/requests/r1/status')[0]!.query.get('logs'), '1');
  assert.ok(lines.includes('fal training r1: IN_PROGRESS (step 10/1000)'), lines.join('\n'));
  assert.ok(lines.some((line) => line.includes('no input for rank')) && lines.some((line) => line.includes('no input for learningRate')));

  assert.equal(record.name, 'acmecorp_style');
  assert.equal(record.trainer, 'fal-ai/flux-lora-fast-training');
  assert.deepEqual(record.settings.ignored, ['rank', 'learningRate']);
  assert.equal(record.weights.url, `${server.url}/weights/r1.safetensors`);
  assert.equal(sha256(await readFile(join(loras, 'acmecorp_style.safetensors'))), sha256(safetensorsFile()));
  // The user's caption files are left as written.
  assert.equal(await readFile(join(images, 'brand-02.txt'), 'utf8'), 'hand-written caption of brand-02.png\n');
});

test('caption files are reused unless recaption, which captions every image again', async () => {
  const { images, loras, files } = await setup();
  for (const file of files.slice(0, 5)) await writeFile(join(images, file.replace('.png', '.txt')), 'mine, acmecorp_style\n');
  routeFalTraining(server);
  routeCaptioner();
  await trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', name: 'first', loraDir: loras, trainer: fal(), captioner: captioner() });
  assert.equal(server.requestsTo('POST', '/v1/chat/completions').length, 7);
  assert.equal(await readFile(join(images, 'brand-01.txt'), 'utf8'), 'mine, acmecorp_style\n');

  server.requests.length = 0;
  routeFalTraining(server);
  await trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', name: 'second', loraDir: loras, trainer: fal(), captioner: captioner(), recaption: true });
  assert.equal(server.requestsTo('POST', '/v1/chat/completions').length, 12);
  assert.match(await readFile(join(images, 'brand-01.txt'), 'utf8'), /^a poster with coloured blocks/);
});

test('without a captioner, missing captions stop the run before anything is uploaded', async () => {
  const { images, loras } = await setup();
  routeFalTraining(server);
  await assert.rejects(trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', loraDir: loras, trainer: fal() }), (error: unknown) => InvalidArgumentError.isInstance(error) && /12 images have no caption file \(brand-01\.txt.*--caption-url/.test((error as Error).message));
  assert.equal(server.requests.length, 0);
});

test('a failed training is a clear error and registers nothing', async () => {
  const { images, loras, files } = await setup();
  for (const file of files) await writeFile(join(images, file.replace('.png', '.txt')), 'caption\n');
  routeReplicateTraining(server, { statuses: ['processing', 'failed'], error: 'Training images could not be read' });
  await assert.rejects(trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', loraDir: loras, trainer: replicate() }), (error: unknown) => GenerationFailedError.isInstance(error) && /replicate training t1 \(ostris\/flux-dev-lora-trainer\) failed: Training images could not be read; nothing was registered/.test((error as Error).message));
  assert.deepEqual(readdirSync(loras), []);
});

test('aborting cancels the hosted training: replicate gets POST cancel, fal gets PUT cancel_url', async () => {
  for (const provider of ['replicate', 'fal'] as const) {
    const { images, loras, files } = await setup();
    for (const file of files) await writeFile(join(images, file.replace('.png', '.txt')), 'caption\n');
    const controller = new AbortController();
    if (provider === 'replicate') routeReplicateTraining(server, { statuses: ['processing'] });
    else routeFalTraining(server, { statuses: [{ status: 'IN_PROGRESS' }] });
    const trainer = provider === 'replicate' ? replicate() : fal();
    const run = trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', loraDir: loras, trainer, signal: controller.signal, onProgress: (line) => line.includes('processing') || line.includes('IN_PROGRESS') ? controller.abort() : undefined });
    await assert.rejects(run, (error: unknown) => AbortedError.isInstance(error) && /cancel request was sent/.test((error as Error).message));
    const cancels = provider === 'replicate' ? server.requestsTo('POST', '/trainings/t1/cancel') : server.requestsTo('PUT', '/fal-ai/flux-lora-fast-training/requests/r1/cancel');
    assert.equal(cancels.length, 1, provider);
    assert.deepEqual(readdirSync(loras), []);
  }
});

test('downloaded weights that are not safetensors are refused and nothing is registered', async () => {
  for (const weights of [new TextEncoder().encode('<html>Access denied</html>'), (() => { const bytes = Buffer.alloc(64); bytes.writeBigUInt64LE(10n * 10n ** 9n); return new Uint8Array(bytes); })(), safetensorsFile().subarray(0, 40)]) {
    const { images, loras, files } = await setup();
    for (const file of files) await writeFile(join(images, file.replace('.png', '.txt')), 'caption\n');
    routeFalTraining(server, { weights });
    await assert.rejects(trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', loraDir: loras, trainer: fal() }), (error: unknown) => InvalidModelError.isInstance(error) && /not a valid \.safetensors file: .*nothing was registered/.test((error as Error).message));
    assert.deepEqual(readdirSync(loras), []);
  }
});

test('bad image sets name each file and its fix, and nothing is uploaded', async () => {
  const cases: { name: string; prepare: (images: string) => Promise<void>; count: number; message: RegExp }[] = [
    { name: 'nine images', count: 9, prepare: async () => {}, message: /holds 9 image files; a LoRA needs 10 to 50: add more/ },
    { name: 'a duplicate', count: 12, prepare: async (images) => writeFile(join(images, 'copy.png'), await readFile(join(images, 'brand-04.png'))), message: /copy\.png: the same bytes as brand-04\.png .*delete one of them|brand-04\.png: the same bytes as copy\.png/ },
    { name: 'a non-image', count: 12, prepare: (images) => writeFile(join(images, 'notes.pdf'), '%PDF-1.4 not really'), message: /notes\.pdf: not an image .*remove it/ },
    { name: 'a small image', count: 12, prepare: (images) => writeTrainingImages(images, 1, { side: 256, prefix: 'small' }).then(() => undefined), message: /small-01\.png: 256×256 is smaller than 512 px on its short side; use a larger original/ },
  ];
  for (const { name, prepare, count, message } of cases) {
    const images = await temporaryFolder('pixelpipe-lora-bad-');
    await writeTrainingImages(images, count);
    await prepare(images);
    server.requests.length = 0;
    const loras = await temporaryFolder('pixelpipe-loras-');
    await assert.rejects(trainLora({ imagesDir: images, triggerWord: 'acmecorp_style', loraDir: loras, trainer: fal() }), (error: unknown) => InvalidArgumentError.isInstance(error) && message.test((error as Error).message) && /nothing was uploaded/.test((error as Error).message), name);
    assert.equal(server.requests.length, 0, name);
    assert.equal(existsSync(join(loras, 'acmecorp_style.safetensors')), false);
  }
});
