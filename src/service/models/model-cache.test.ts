// The cache layout: parsing `owner/name@revision`, refs, manifests, and listing snapshots without network.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { listCachedModels, parseModelRef, readRef, repoFolder, resolveCachedModel, snapshotFolder, writeManifest, writeRef, type CacheManifest } from './model-cache.js';

const commit = 'a'.repeat(40);
const older = 'b'.repeat(40);

describe('parseModelRef', () => {
  it('splits the repo id from the revision', () => {
    assert.deepEqual(parseModelRef('TensorStack/SD-Turbo-onnx'), { repoId: 'TensorStack/SD-Turbo-onnx' });
    assert.deepEqual(parseModelRef(`onnxruntime/sd-turbo@${commit}`), { repoId: 'onnxruntime/sd-turbo', revision: commit });
    assert.deepEqual(parseModelRef('owner/name@refs/pr/1'), { repoId: 'owner/name', revision: 'refs/pr/1' });
  });

  it('refuses ids the hub refuses and revisions that climb out of refs/', () => {
    for (const bad of ['', 'a/b/c', 'owner/na--me', 'owner/..', 'owner/name@', 'owner/name@../../x', 'owner name']) {
      assert.throws(() => parseModelRef(bad), (error: unknown) => InvalidArgumentError.isInstance(error) && error.message.includes(JSON.stringify(bad).slice(1, -1)), bad);
    }
  });
});

describe('model cache', () => {
  let cacheDir: string;
  beforeEach(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'pixelpipe-cache-'));
  });
  afterEach(() => rm(cacheDir, { recursive: true, force: true }));

  async function addSnapshot(repoId: string, revision: string, files: Record<string, string>, complete: boolean): Promise<void> {
    const folder = snapshotFolder(cacheDir, repoId, revision);
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(folder, path, '..'), { recursive: true });
      await writeFile(join(folder, path), text);
    }
    const manifest: CacheManifest = {
      repoId,
      revision,
      requestedRevision: 'main',
      hubUrl: 'https://huggingface.co',
      license: 'mit',
      files: Object.entries(files).map(([path, text]) => ({ path, size: text.length })),
      skipped: [],
      startedAt: '2024-01-01T00:00:00.000Z',
      ...(complete ? { completedAt: '2024-01-01T00:01:00.000Z' } : {}),
    };
    await writeManifest(cacheDir, manifest);
  }

  it('names folders like the Hugging Face cache', () => {
    assert.equal(repoFolder('/cache', 'owner/name'), join('/cache', 'models--owner--name'));
    assert.equal(snapshotFolder('/cache', 'owner/name', commit), join('/cache', 'models--owner--name', 'snapshots', commit));
  });

  it('resolves a branch through refs/ and a sha directly', async () => {
    await addSnapshot('owner/name', commit, { 'model_index.json': '{}', 'unet/model.onnx': 'abc' }, true);
    await writeRef(cacheDir, 'owner/name', 'main', commit);
    assert.equal(await readRef(cacheDir, 'owner/name', 'main'), commit);
    assert.equal((await resolveCachedModel(cacheDir, 'owner/name'))?.folder, snapshotFolder(cacheDir, 'owner/name', commit));
    assert.equal((await resolveCachedModel(cacheDir, `owner/name@${commit}`))?.complete, true);
    assert.equal(await resolveCachedModel(cacheDir, 'owner/name@dev'), undefined);
    assert.equal(await resolveCachedModel(cacheDir, 'other/name'), undefined);
  });

  it('lists every snapshot with its size, refs and whether it is complete', async () => {
    await addSnapshot('owner/name', commit, { 'model_index.json': '{}', 'unet/model.onnx': 'abcd' }, true);
    await addSnapshot('owner/name', older, { 'model_index.json': '{}', 'unet/model.onnx': 'abcd' }, false);
    await writeFile(join(snapshotFolder(cacheDir, 'owner/name', older), 'unet', 'model.onnx.part'), 'ab');
    await writeRef(cacheDir, 'owner/name', 'main', commit);
    await writeRef(cacheDir, 'owner/name', 'refs/pr/2', commit);
    // A complete manifest whose file was later truncated is not complete.
    await addSnapshot('solo', commit, { 'model_index.json': '{}' }, true);
    await writeFile(join(snapshotFolder(cacheDir, 'solo', commit), 'model_index.json'), '');

    const models = await listCachedModels(cacheDir);
    assert.deepEqual(
      models.map(({ repoId, revision, sizeBytes, complete, refs, license }) => ({ repoId, revision, sizeBytes, complete, refs, license })),
      [
        { repoId: 'owner/name', revision: commit, sizeBytes: 6, complete: true, refs: ['main', 'refs/pr/2'], license: 'mit' },
        { repoId: 'owner/name', revision: older, sizeBytes: 8, complete: false, refs: [], license: 'mit' },
        { repoId: 'solo', revision: commit, sizeBytes: 0, complete: false, refs: [], license: 'mit' },
      ],
    );
  });

  it('lists nothing for a cache folder that does not exist yet', async () => {
    assert.deepEqual(await listCachedModels(join(cacheDir, 'absent')), []);
  });
});
