// `pixelpipe lora pull` through the built CLI against a fake hub: the LoRA lands in the LoRA folder with a record of its
// source, verified and checked to be a LoRA; what cannot be registered is refused with nothing left behind.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../../testing/cli.js';
import { startFakeHubServer, type FakeHubServer } from '../../testing/fake-hub-server.js';
import { testData } from '../../testing/paths.js';
import { temporaryFolder } from '../../testing/temporary-files.js';

const loraBytes = await readFile(testData('fixtures', 'tiny-sd15-lora', 'pytorch_lora_weights.safetensors'));
const kohyaBytes = await readFile(testData('fixtures', 'tiny-sd15-lora', 'tiny-sd15-lora.kohya.safetensors'));

/** A safetensors file whose keys are a checkpoint's, not a LoRA's. */
function checkpointFile(): Buffer {
  const header = Buffer.from(JSON.stringify({ 'model.diffusion_model.input_blocks.0.0.weight': { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } }));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(header.byteLength));
  return Buffer.concat([length, header, Buffer.from(new Float32Array([1, 2, 3, 4]).buffer)]);
}

let hub: FakeHubServer;
before(async () => {
  hub = await startFakeHubServer({
    'someone/acme-style': { files: { 'pytorch_lora_weights.safetensors': loraBytes, 'README.md': '# acme style\n' }, cardData: { license: 'mit', instance_prompt: 'acme_style', base_model: 'stable-diffusion-v1-5/stable-diffusion-v1-5' } },
    'someone/two-loras': { files: { 'v1.safetensors': loraBytes, 'v2/kohya.safetensors': kohyaBytes } },
    'someone/not-a-lora': { files: { 'model.safetensors': checkpointFile() } },
  });
});
after(() => hub.close());

const downloads = () => hub.requests.filter((request) => /\/resolve\/|^\/cdn\//.test(request.url)).length;

test('lora pull downloads the repo\'s LoRA into the folder, verified, with its source, licence and trigger word; lora list shows it', async () => {
  const loras = await temporaryFolder('pixelpipe-lora-pull-');
  const environment = { PIXELPIPE_HUB_URL: hub.url, PIXELPIPE_LORA_DIR: loras };
  const pulled = await runCli(['lora', 'pull', 'someone/acme-style'], environment);
  assert.equal(pulled.code, 0, pulled.stderr);
  assert.match(pulled.stdout, /^acme-style: someone\/acme-style\/pytorch_lora_weights\.safetensors at [0-9a-f]{12} → .*acme-style\.safetensors \([\d.]+ MB, \d+ tensors\), trigger word "acme_style", licence mit\n$/);
  assert.ok((await readFile(join(loras, 'acme-style.safetensors'))).equals(loraBytes));
  const record = JSON.parse(await readFile(join(loras, 'acme-style.json'), 'utf8'));
  assert.deepEqual(record.source, { hubUrl: hub.url, repoId: 'someone/acme-style', commit: hub.commitOf('someone/acme-style'), file: 'pytorch_lora_weights.safetensors', license: 'mit', baseModel: 'stable-diffusion-v1-5/stable-diffusion-v1-5' });
  assert.deepEqual([record.provider, record.triggerWord, record.weights.bytes], ['hub', 'acme_style', loraBytes.byteLength]);
  const listed = await runCli(['lora', 'list', '--json'], environment);
  assert.deepEqual(JSON.parse(listed.stdout).map(({ name, triggerWord, provider }: Record<string, string>) => [name, triggerWord, provider]), [['acme-style', 'acme_style', 'hub']]);

  // The name is taken: refused before anything is downloaded.
  const before = downloads();
  const again = await runCli(['lora', 'pull', 'someone/acme-style'], environment);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /acme-style\.safetensors already exists; choose another `--name`/);
  assert.equal(downloads(), before);
});

test('lora pull: several .safetensors need --file; a file in no LoRA format is refused and nothing is left in the folder', async () => {
  const loras = await temporaryFolder('pixelpipe-lora-pull-');
  const environment = { PIXELPIPE_HUB_URL: hub.url, PIXELPIPE_LORA_DIR: loras };
  const ambiguous = await runCli(['lora', 'pull', 'someone/two-loras'], environment);
  assert.equal(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /someone\/two-loras has 2 \.safetensors files \(v1\.safetensors, kohya\.safetensors\); choose one with --file PATH/);
  const chosen = await runCli(['lora', 'pull', 'someone/two-loras', '--file', 'v2/kohya.safetensors', '--name', 'kohya-style'], environment);
  assert.equal(chosen.code, 0, chosen.stderr);
  assert.ok((await readFile(join(loras, 'kohya-style.safetensors'))).equals(kohyaBytes));

  const refused = await runCli(['lora', 'pull', 'someone/not-a-lora'], environment);
  assert.equal(refused.code, 2, refused.stderr);
  assert.match(refused.stderr, /not-a-lora/);
  assert.deepEqual((await readdir(loras)).sort(), ['kohya-style.json', 'kohya-style.safetensors']);
});
