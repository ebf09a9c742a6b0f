// `pixelpipe lora` through the built CLI: a fal training end to end against a local server, a refused image set, and the listing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { runCli } from '../../testing/cli.js';
import { routeFalTraining, safetensorsFile, writeTrainingImages } from '../../testing/lora-training.js';
import { startMockApiServer, type MockApiServer } from '../../testing/mock-api-server.js';
import { temporaryFolder } from '../../testing/temporary-files.js';

let server: MockApiServer;
before(async () => (server = await startMockApiServer()));
after(() => server.close());

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('lora train --provider fal registers the weights, and lora list shows them', async () => {
  const images = await temporaryFolder('pixelpipe-lora-cli-');
  const loras = await temporaryFolder('pixelpipe-lora-dir-');
  for (const file of await writeTrainingImages(images, 10)) await writeFile(join(images, file.replace('.png', '.txt')), 'a caption\n');
  routeFalTraining(server, { statuses: [{ status: 'COMPLETED' }] });
  routeFalTraining(server, { statuses: [{ status: 'COMPLETED' }] });
  const environment = { FAL_KEY: 'test-key', PIXELPIPE_FAL_BASE_URL: server.url, PIXELPIPE_FAL_STORAGE_BASE_URL: server.url, PIXELPIPE_LORA_DIR: loras, PIXELPIPE_VLM_URL: '', PIXELPIPE_VLM_MODEL: '' };
  const trained = await runCli(['lora', 'train', '--images', images, '--trigger', 'acmecorp_style', '--provider', 'fal', '--name', 'acme', '--steps', '800'], environment);
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stderr, /10 images checked/);
  assert.match(trained.stderr, /registered .*acme\.safetensors/);
  assert.equal(server.requestsTo('POST', '/fal-ai/flux-lora-fast-training')[0]!.json.steps, 800);
  const weights = safetensorsFile();
  assert.equal(sha256(await readFile(join(loras, 'acme.safetensors'))), sha256(weights));

  const listed = await runCli(['lora', 'list'], { PIXELPIPE_LORA_DIR: loras });
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout, `acme\tacmecorp_style\t0.0 MB\t${sha256(weights)}\n`);
});

test('lora train refuses a set of 9 images with exit status 2 and sends nothing', async () => {
  const images = await temporaryFolder('pixelpipe-lora-cli-');
  await writeTrainingImages(images, 9);
  server.requests.length = 0;
  const result = await runCli(['lora', 'train', '--images', images, '--trigger', 'acmecorp_style', '--provider', 'fal'], { FAL_KEY: 'test-key', PIXELPIPE_FAL_BASE_URL: server.url, PIXELPIPE_LORA_DIR: await temporaryFolder('pixelpipe-lora-dir-') });
  assert.equal(result.code, 2);
  assert.match(result.stderr, /holds 9 image files; a LoRA needs 10 to 50/);
  assert.equal(server.requests.length, 0);
});
