import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelId, findRegistryEntry } from '../../service/models/model-registry.js';
import { runCli } from '../../testing/cli.js';
import { fixtureFiles, startFakeHubServer, type FakeHubServer } from '../../testing/fake-hub-server.js';
import { testData } from '../../testing/paths.js';

let hub: FakeHubServer;
const work = mkdtempSync(join(tmpdir(), 'pixelpipe-models-cli-'));
const environment = () => ({ PIXELPIPE_HUB_URL: hub.url, PIXELPIPE_CACHE_DIR: join(work, 'cache'), HF_TOKEN: '' });
const downloads = () => hub.requests.filter((request) => /\/resolve\/|^\/cdn\//.test(request.url)).length;

before(async () => {
  const pinned = findRegistryEntry(defaultModelId)!;
  hub = await startFakeHubServer({
    [defaultModelId]: { files: fixtureFiles('tiny-sd-turbo'), commit: pinned.revision, cardData: { license: 'other', license_name: 'sai-nc-community' } },
    'pixelpipe-test/tiny-sd15': { files: fixtureFiles('tiny-sd15'), cardData: { license: 'creativeml-openrail-m' } },
  });
});
after(async () => {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
});

test('with no --model the default model is pulled on first use, saying so first, then reused', async () => {
  const first = await runCli(['generate', 'a red cube', '--seed', '5', '--width', '64', '--height', '64', '--out', join(work, 'first.png')], environment());
  assert.equal(first.code, 0, first.stderr);
  const notice = first.stderr.indexOf(`using the default model ${defaultModelId}`);
  const downloading = first.stderr.indexOf('downloading it from');
  assert.ok(notice >= 0 && downloading > notice, first.stderr);
  assert.match(first.stderr, /licence of .*: sai-nc-community/);
  assert.ok(existsSync(join(work, 'first.png')));
  const afterFirst = downloads();
  assert.ok(afterFirst > 0);

  const second = await runCli(['generate', 'a red cube', '--seed', '5', '--width', '64', '--height', '64', '--out', join(work, 'second.png')], environment());
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /downloading/);
  assert.equal(downloads(), afterFirst, 'the cached model is not downloaded again');
  assert.deepEqual(readFileSync(join(work, 'first.png')).subarray(0, 64), readFileSync(join(work, 'second.png')).subarray(0, 64));
});

test('models pull prints the folder and licence; models list shows it; --model takes the repo id', async () => {
  const pull = await runCli(['models', 'pull', 'pixelpipe-test/tiny-sd15'], environment());
  assert.equal(pull.code, 0, pull.stderr);
  const folder = pull.stdout.trim();
  assert.ok(existsSync(join(folder, 'unet', 'model.onnx')));
  assert.match(pull.stderr, /licence: creativeml-openrail-m/);

  const list = await runCli(['models', 'list'], environment());
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /pixelpipe-test\/tiny-sd15@[0-9a-f]{12}\s+[\d.]+ GiB\s+complete/);
  assert.match(list.stdout, /known-good exports:\n\s+sd-turbo\s+TensorStack\/SD-Turbo-onnx@/);

  const generate = await runCli(['generate', 'a red cube', '--model', 'pixelpipe-test/tiny-sd15', '--steps', '1', '--out', join(work, 'by-id.png'), '--json'], environment());
  assert.equal(generate.code, 0, generate.stderr);
  assert.equal((JSON.parse(generate.stdout) as { model: { source: string } }).model.source, 'cache');
});

test('an unknown repo is a clear error naming it', async () => {
  const result = await runCli(['models', 'pull', 'pixelpipe-test/nothing-here'], environment());
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /pixelpipe-test\/nothing-here/);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});
