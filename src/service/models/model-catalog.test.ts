// The catalog under the real service (PGlite): friendly ids, never a path; unknown models refused at submit with no hub request; models pulled or removed while it runs.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { NotFoundError } from '../errors/not-found-error.js';
import { createImageService } from '../image-service.js';
import { fixtureFiles, startFakeHubServer } from '../../testing/fake-hub-server.js';
import { testData } from '../../testing/paths.js';
import { pullModel } from './pull-model.js';
import { repoFolder } from './model-cache.js';

const isModelNotFound = (name: string) => (error: unknown) => {
  assert.ok(NotFoundError.isInstance(error), `${name}: ${String(error)}`);
  assert.equal(error.resource, 'model');
  assert.equal(error.message, `\`model\` names ${JSON.stringify(name)}, which is not served here: the local models here are tiny-sd15, tiny-sd15-2 (GET /v1/models lists them, with hosted ones as PROVIDER:MODEL); the operator adds one with \`pixelpipe models pull ID\``);
  return true;
};

test('the catalog names local models by name, refuses everything else at submit without a hub request, and follows the cache while the service runs', async (t) => {
  const hub = await startFakeHubServer({ 'pixelpipe-test/tiny-pulled': { files: fixtureFiles('tiny-sd15') } });
  t.after(() => hub.close());
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-catalog-'));
  t.after(() => rm(dataDir, { recursive: true, force: true }));
  const cacheDir = join(dataDir, 'models');
  // A second folder with the default's name: the catalog numbers it.
  await mkdir(join(dataDir, 'other'));
  await symlink(testData('fixtures', 'tiny-sd15'), join(dataDir, 'other', 'tiny-sd15'));
  const service = await createImageService({
    settings: { dataDir, cacheDir, hubUrl: hub.url },
    defaultModel: testData('fixtures', 'tiny-sd15'),
    models: [join(dataDir, 'other', 'tiny-sd15')],
    workers: 0,
  });
  t.after(() => service.close());

  const localIds = async () => (await service.listModels()).filter((model) => model.ownedBy === 'local').map((model) => model.id);
  assert.deepEqual(await localIds(), ['tiny-sd15', 'tiny-sd15-2']);
  assert.equal(service.defaultModel, 'tiny-sd15');
  const { job } = await service.submit({ prompt: 'a red cube', model: 'tiny-sd15-2', width: 64, height: 64 });
  assert.equal(job.request.model, 'tiny-sd15-2');

  // Not in the catalog: a repo the hub has, a name, paths that exist and paths that do not; each the same answer.
  for (const name of ['pixelpipe-test/tiny-pulled', 'no-such-model-xyz', '/etc', '/root/.ssh', testData('fixtures', 'tiny-sdxl')]) {
    await assert.rejects(service.submit({ prompt: 'a', model: name }), isModelNotFound(name));
  }
  // Each model of a fallback list is checked.
  await assert.rejects(service.submit({ prompt: 'a', model: 'tiny-sd15,/etc' }), isModelNotFound('/etc'));
  assert.deepEqual(hub.requests, [], 'nothing a client sent reached the hub');

  // Pulled while the service runs: listed and usable by its name or repo id, no restart.
  await pullModel({ repoId: 'pixelpipe-test/tiny-pulled', cacheDir, hubUrl: hub.url });
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.deepEqual(await localIds(), ['tiny-sd15', 'tiny-sd15-2', 'tiny-pulled']);
  for (const name of ['tiny-pulled', 'pixelpipe-test/tiny-pulled', 'local:tiny-pulled']) {
    assert.equal((await service.submit({ prompt: 'a', model: name, width: 64, height: 64 })).job.request.model, 'tiny-pulled', name);
  }

  // Removed while it runs: gone from the list, and refused again.
  await rm(repoFolder(cacheDir, 'pixelpipe-test/tiny-pulled'), { recursive: true, force: true });
  await new Promise((resolve) => setTimeout(resolve, 1100));
  assert.deepEqual(await localIds(), ['tiny-sd15', 'tiny-sd15-2']);
  await assert.rejects(service.submit({ prompt: 'a', model: 'tiny-pulled' }), isModelNotFound('tiny-pulled'));
});
