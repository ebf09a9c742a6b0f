import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { serviceAdmin } from '../../service/admin/service-admin.js';
import { createImageService } from '../../service/image-service.js';
import type { ListedModel } from '../../service/models/catalog-listing.js';
import { defaultModelId, findRegistryEntry } from '../../service/models/model-registry.js';
import { pullModel } from '../../service/models/pull-model.js';
import { createPixelpipe, type PixelpipeOptions } from '../../service/pixelpipe.js';
import { runCli } from '../../testing/cli.js';
import { fixtureFiles, startFakeHubServer, type FakeHubServer } from '../../testing/fake-hub-server.js';
import { testData } from '../../testing/paths.js';
import { createAdminRoutes } from '../http/admin-routes.js';
import { startHttpServer } from '../http/http-server.js';
import { modelsCommand } from './models-command.js';
import { adminSocketPath } from './service-data.js';

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

/** `models list` in this process, with its own output, a generator on `cacheDir` (OpenAI's key given) and an empty environment. */
async function listModels(argv: string[], cacheDir: string) {
  let stdout = '';
  let stderr = '';
  const factory = (options: PixelpipeOptions) => createPixelpipe({ ...options, cacheDir, providers: { openai: { apiKey: 'sk-test' } } });
  await modelsCommand(['list', ...argv], factory, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) }, environment: {} });
  return { stdout, stderr };
}

test('models list shows the catalog as GET /v1/models has it, from the cache and keys where no server runs; the cache and exports stay listed', async () => {
  const cacheDir = join(work, 'catalog-cache');
  await pullModel({ repoId: 'pixelpipe-test/tiny-sd15', cacheDir, hubUrl: hub.url });
  const dataDir = join(work, 'no-server');
  const text = await listModels(['--data-dir', dataDir], cacheDir);
  assert.match(text.stderr, new RegExp(`^data directory: ${dataDir} \\(--data-dir\\); catalog from this machine's model cache and provider keys`));
  assert.match(text.stdout, /^catalog \(what requests may name as `model`; GET \/v1\/models\):\n  tiny-sd15\s+local\s+SD 1.x\/2.x: text-to-image, image-to-image, inpaint, outpaint; sides multiples of 16, default \d+x\d+, \d+ steps, guidance [\d.]+\n/);
  assert.match(text.stdout, /\n  openai:gpt-image-1\s+openai\n/);
  assert.match(text.stdout, /\ncached:\n  pixelpipe-test\/tiny-sd15@[0-9a-f]{12}\s+[\d.]+ GiB\s+complete/);
  assert.match(text.stdout, /known-good exports:\n\s+sd-turbo\s+TensorStack\/SD-Turbo-onnx@/);

  const json = JSON.parse((await listModels(['--data-dir', dataDir, '--json'], cacheDir)).stdout) as { catalog: { from: string; models: ListedModel[] }; cached: unknown[]; registry: unknown[] };
  const local = json.catalog.models.find((model) => model.id === 'tiny-sd15');
  assert.deepEqual(local?.capabilities?.operations, ['text-to-image', 'image-to-image', 'inpaint', 'outpaint']);
  assert.ok(local?.capabilities?.samplers.includes('euler'));
  assert.ok(json.catalog.models.some((model) => model.id === 'openai:gpt-image-1' && model.ownedBy === 'openai' && model.capabilities === undefined));
  assert.equal(json.cached.length, 1);
  assert.ok(json.registry.length > 0);
});

test('beside a running server, models list shows its catalog, with its --model, through the admin socket', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'pp-models-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const service = await createImageService({ settings: { dataDir, cacheDir: join(dataDir, 'models') }, defaultModel: testData('fixtures', 'tiny-sd15-inpaint'), workers: 0 });
  t.after(() => service.close());
  const admin = createAdminRoutes(serviceAdmin(service), () => ({ pid: process.pid, dataDir, database: service.databaseKind }));
  const socket = await startHttpServer({ app: admin, socketPath: adminSocketPath(dataDir) });
  t.after(() => socket.close());

  // This CLI's own cache is empty: what it lists is the server's.
  const { stdout, stderr } = await listModels(['--data-dir', dataDir, '--json'], join(work, 'empty-cache'));
  assert.match(stderr, /catalog from the running server \(pid \d+, through .*pixelpipe\.sock\)/);
  const { catalog } = JSON.parse(stdout) as { catalog: { from: string; models: ListedModel[] } };
  const served = catalog.models.find((model) => model.id === 'tiny-sd15-inpaint');
  assert.deepEqual(served?.capabilities?.operations, ['inpaint', 'outpaint']);
  assert.deepEqual(catalog.models, await service.listModels());
});

test('models optimize builds a local model\'s optimised graphs into the graph cache once; a second run finds them; a model not here is refused', async () => {
  const graphs = join(work, 'graphs-optimize');
  const env = { ...environment(), PIXELPIPE_GRAPH_CACHE: graphs };
  const first = await runCli(['models', 'optimize', testData('fixtures', 'tiny-sd15')], env);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /textEncoder\s+built[\s\S]*unet\s+built[\s\S]*vaeDecoder\s+built/);
  assert.match(first.stderr, new RegExp(`tiny-sd15: optimised graphs are in ${graphs.replace(/[/\\]/g, '.')}`));
  const second = await runCli(['models', 'optimize', testData('fixtures', 'tiny-sd15')], env);
  assert.match(second.stdout, /textEncoder\s+hit[\s\S]*unet\s+hit[\s\S]*vaeDecoder\s+hit/);
  const downloadsBefore = hub.requests.length;
  const missing = await runCli(['models', 'optimize', 'nobody/not-pulled'], env);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /nobody\/not-pulled is not a model on this machine.*pixelpipe models pull nobody\/not-pulled/);
  assert.equal(hub.requests.length, downloadsBefore, 'the hub is not asked');
  const off = await runCli(['models', 'optimize', testData('fixtures', 'tiny-sd15')], { ...env, PIXELPIPE_GRAPH_CACHE: 'off' });
  assert.equal(off.code, 2);
  assert.match(off.stderr, /graph cache is off \(PIXELPIPE_GRAPH_CACHE=off\)/);
});
