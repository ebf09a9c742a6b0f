// Pulls against a local server in the hub's API shape: full pull, resume after a dropped connection, hash checks, errors, cache reuse.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { DownloadError } from '../../spec/errors/download-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { startFakeHubServer, type FakeHubServer } from '../../testing/fake-hub-server.js';
import { testData } from '../../testing/paths.js';
import { listCachedModels, readManifest, resolveCachedModel, snapshotFolder } from './model-cache.js';
import { findRegistryEntry } from './model-registry.js';
import { pullModel, type PullProgress } from './pull-model.js';

const repoId = 'pixelpipe-test/tiny-sd-turbo-onnx';
const token = 'hf_test_token';

/** The committed tiny Optimum export, plus what real repos carry beside it. */
function tinyRepoFiles(): Record<string, Buffer | string> {
  const root = testData('fixtures', 'tiny-sd-turbo');
  const files: Record<string, Buffer | string> = {};
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath ?? entry.path, entry.name);
    files[relative(root, path).split(sep).join('/')] = readFileSync(path);
  }
  return {
    ...files,
    'unet/model.onnx_data': randomBytes(300_000), // external data of the kept graph
    '.gitattributes': '*.onnx filter=lfs diff=lfs merge=lfs -text\n',
    'README.md': '---\nlicense: other\nlicense_name: sai-nc-community\n---\n# tiny\n',
    'Sample.png': randomBytes(20_000),
    'unet/diffusion_pytorch_model.safetensors': randomBytes(40_000),
    'unet/model_fp16.onnx': randomBytes(30_000),
    'unet/model_fp16.onnx_data': randomBytes(30_000),
    'safety_checker/model.onnx': randomBytes(30_000),
    'vae/diffusion_pytorch_model.bin': randomBytes(30_000),
  };
}

const kept = (files: Record<string, unknown>) =>
  Object.keys(files)
    .filter((path) => !/^(\.gitattributes|Sample\.png|unet\/diffusion_pytorch_model\.safetensors|unet\/model_fp16\.onnx(_data)?|safety_checker\/.*|vae\/.*)$/.test(path))
    .sort();

const downloads = (server: FakeHubServer) => server.requests.filter((request) => /\/resolve\/|^\/cdn\//.test(request.url));

describe('pullModel', () => {
  const files = tinyRepoFiles();
  let server: FakeHubServer;
  let cacheDir: string;

  before(async () => {
    server = await startFakeHubServer({
      [repoId]: { files, refs: ['main', 'v1'], cardData: { license: 'other', license_name: 'sai-nc-community', license_link: 'LICENSE.md' }, tags: ['license:other'] },
      'pixelpipe-test/private': { files: { 'model_index.json': '{}', 'unet/model.onnx': 'x' }, private: true },
      'pixelpipe-test/gated': { files: { 'model_index.json': '{}', 'unet/model.onnx': randomBytes(20_000) }, gated: true, tags: ['license:openrail'] },
      'pixelpipe-test/pytorch-only': { files: { 'model_index.json': '{}', 'unet/diffusion_pytorch_model.safetensors': randomBytes(20_000) } },
    });
  });
  after(() => server.close());
  beforeEach(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'pixelpipe-models-'));
    server.requests.length = 0;
    server.ignoreRange = false;
  });
  afterEach(() => rm(cacheDir, { recursive: true, force: true }));

  const pull = (options: Partial<Parameters<typeof pullModel>[0]> = {}) => pullModel({ repoId, cacheDir, hubUrl: server.url, retryDelayMs: 0, ...options });

  it('downloads the pipeline files of a branch into a folder keyed by commit, with the licence', async () => {
    const progress: PullProgress[] = [];
    const result = await pull({ onProgress: (event) => progress.push(event) });

    const commit = server.commitOf(repoId);
    assert.equal(result.revision, commit);
    assert.equal(result.folder, snapshotFolder(cacheDir, repoId, commit));
    assert.equal(result.license, 'sai-nc-community');
    assert.equal(result.licenseLink, 'LICENSE.md');
    assert.deepEqual(result.files.map((file) => file.path), kept(files));
    assert.ok(result.files.every((file) => file.status === 'downloaded'));
    assert.deepEqual(result.skipped, ['.gitattributes', 'Sample.png', 'safety_checker/model.onnx', 'unet/diffusion_pytorch_model.safetensors', 'unet/model_fp16.onnx', 'unet/model_fp16.onnx_data', 'vae/diffusion_pytorch_model.bin']);
    for (const path of kept(files)) assert.deepEqual(readFileSync(join(result.folder, path)), Buffer.from(files[path]!), path);
    for (const path of result.skipped) assert.equal(existsSync(join(result.folder, path)), false, path);

    // Metadata came through @huggingface/hub's calls: model info, then the paginated recursive tree.
    assert.match(server.requests[0]!.url, new RegExp(`^/api/models/${repoId}/revision/main\\?`));
    const trees = server.requests.filter((request) => request.url.includes('/tree/'));
    assert.ok(trees.length > 1, 'the listing follows the Link header across pages');
    assert.match(trees[0]!.url, new RegExp(`/tree/${commit}\\?recursive=true`));
    // LFS files went through the resolve redirect to the CDN; small files were served directly.
    assert.ok(server.requests.some((request) => request.url.startsWith('/cdn/') && request.url.includes('unet%2Fmodel.onnx_data')));
    assert.equal(result.downloadedBytes, kept(files).reduce((sum, path) => sum + Buffer.from(files[path]!).length, 0));
    const last = progress.at(-1)!;
    assert.equal(last.bytes, last.totalBytes);
    assert.equal(last.totalBytes, result.downloadedBytes);

    const manifest = await readManifest(cacheDir, repoId, commit);
    assert.ok(manifest?.completedAt);
    assert.equal(manifest.requestedRevision, 'main');
    const cached = await resolveCachedModel(cacheDir, `${repoId}@main`);
    assert.equal(cached?.folder, result.folder);
    assert.equal(cached?.complete, true);
  });

  it('downloads nothing on a second pull, and makes no request at all for a cached commit', async () => {
    const first = await pull();
    server.requests.length = 0;
    const second = await pull();
    assert.deepEqual(downloads(server), []);
    assert.equal(second.downloadedBytes, 0);
    assert.ok(second.files.every((file) => file.status === 'cached'));
    assert.equal(second.folder, first.folder);
    assert.equal(second.license, 'sai-nc-community');

    server.requests.length = 0;
    const byCommit = await pull({ revision: first.revision });
    assert.deepEqual(server.requests, []);
    assert.equal(byCommit.folder, first.folder);
    assert.deepEqual(byCommit.skipped, first.skipped);
  });

  it('leaves a .part file when the connection drops, and the next pull resumes it with a Range request', async () => {
    const path = 'unet/model.onnx_data';
    server.dropConnectionOnce(path, 100_000);
    const failure = await pull({ maxRetries: 0 }).then(() => assert.fail('the pull should fail'), (error: unknown) => error);
    assert.ok(DownloadError.isInstance(failure), String(failure));
    assert.equal(failure.reason, 'network');
    assert.equal(failure.isRetryable, true);
    assert.equal(failure.path, path);
    assert.match(failure.message, /\.part is kept, so pulling again resumes it/);

    const folder = snapshotFolder(cacheDir, repoId, server.commitOf(repoId));
    const partSize = statSync(join(folder, `${path}.part`)).size;
    assert.ok(partSize > 0 && partSize <= 100_000, `part holds ${partSize} bytes`);
    assert.equal(existsSync(join(folder, path)), false);
    const [listed] = await listCachedModels(cacheDir);
    assert.equal(listed?.complete, false);

    const alreadyDone = kept(files).filter((file) => existsSync(join(folder, file)));
    server.requests.length = 0;
    const result = await pull();
    const ranged = server.requests.filter((request) => request.url.includes(encodeURIComponent(path)) || request.url.includes(`/${path}`));
    assert.ok(ranged.length > 0);
    assert.ok(ranged.every((request) => request.headers.range === `bytes=${partSize}-`), JSON.stringify(ranged.map((request) => request.headers.range)));
    assert.deepEqual(readFileSync(join(folder, path)), files[path]);
    assert.equal(existsSync(join(folder, `${path}.part`)), false);
    assert.equal(result.files.find((file) => file.path === path)?.status, 'resumed');
    const size = (file: string) => Buffer.from(files[file]!).length;
    const remaining = kept(files).filter((file) => !alreadyDone.includes(file)).reduce((sum, file) => sum + size(file), 0);
    assert.equal(result.downloadedBytes, remaining - partSize);
    assert.ok(result.files.filter((file) => alreadyDone.includes(file.path)).every((file) => file.status === 'cached'));
  });

  it('retries a dropped file within one pull, resuming where it stopped', async () => {
    server.dropConnectionOnce('unet/model.onnx', 1_000_000);
    const result = await pull();
    const unet = server.requests.filter((request) => request.url.startsWith('/cdn/') && request.url.endsWith('path=unet%2Fmodel.onnx'));
    assert.equal(unet.length, 2);
    assert.equal(unet[0]!.headers.range, undefined);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(unet[1]!.headers.range ?? '')?.[1]);
    assert.ok(resumedAt > 0 && resumedAt <= 1_000_000, `resumed at ${unet[1]!.headers.range}`);
    assert.equal(result.files.find((file) => file.path === 'unet/model.onnx')?.status, 'resumed');
    assert.deepEqual(readFileSync(join(result.folder, 'unet/model.onnx')), files['unet/model.onnx']);
    const keptBytes = kept(files).reduce((sum, path) => sum + Buffer.from(files[path]!).length, 0);
    assert.ok(result.downloadedBytes >= keptBytes, 'bytes of the dropped attempt count too');
  });

  it('starts a file again when the server ignores Range and answers 200', async () => {
    const path = 'unet/model.onnx';
    server.dropConnectionOnce(path, 500_000);
    await assert.rejects(pull({ maxRetries: 0 }));
    const part = join(snapshotFolder(cacheDir, repoId, server.commitOf(repoId)), `${path}.part`);
    await writeFile(part, randomBytes(statSync(part).size)); // a stale part that appending to would corrupt
    server.ignoreRange = true;
    server.requests.length = 0;
    const result = await pull();
    assert.equal(downloads(server).filter((request) => request.headers.range).length, 2, 'asked for a range at the resolve URL and the CDN');
    assert.equal(result.files.find((file) => file.path === path)?.status, 'downloaded');
    assert.deepEqual(readFileSync(join(result.folder, path)), files[path]);
  });

  it('rejects an LFS file whose SHA-256 differs, naming the file and both hashes, and deletes the part', async () => {
    const bad = await startFakeHubServer({ [repoId]: { files } });
    bad.corrupt('unet/model.onnx');
    try {
      const failure = await pullModel({ repoId, cacheDir, hubUrl: bad.url, retryDelayMs: 0 }).then(() => assert.fail('should fail'), (error: unknown) => error);
      assert.ok(DownloadError.isInstance(failure), String(failure));
      assert.equal(failure.reason, 'integrity');
      assert.equal(failure.isRetryable, false);
      assert.match(failure.message, /unet\/model\.onnx/);
      assert.match(failure.message, /SHA-256 check: expected [0-9a-f]{64}, got [0-9a-f]{64}/);
      const folder = snapshotFolder(cacheDir, repoId, bad.commitOf(repoId));
      assert.equal(existsSync(join(folder, 'unet/model.onnx.part')), false);
      assert.equal(existsSync(join(folder, 'unet/model.onnx')), false);
      assert.equal((await readManifest(cacheDir, repoId, bad.commitOf(repoId)))?.completedAt, undefined);
    } finally {
      await bad.close();
    }
  });

  it('checks small files stored in git against their blob id', async () => {
    const bad = await startFakeHubServer({ [repoId]: { files } });
    bad.corrupt('model_index.json');
    try {
      await assert.rejects(pullModel({ repoId, cacheDir, hubUrl: bad.url }), (error: unknown) => DownloadError.isInstance(error) && error.reason === 'integrity' && /model_index\.json.*git sha1/.test(error.message));
    } finally {
      await bad.close();
    }
  });

  it('names the repo id and revision in a 404', async () => {
    await assert.rejects(pull({ repoId: 'pixelpipe-test/absent', accessToken: token }), (error: unknown) => {
      assert.ok(DownloadError.isInstance(error));
      assert.equal(error.reason, 'not-found');
      assert.equal(error.statusCode, 404);
      assert.match(error.message, /pixelpipe-test\/absent at revision main was not found/);
      return true;
    });
    await assert.rejects(pull({ revision: 'no-such-branch' }), (error: unknown) => DownloadError.isInstance(error) && error.reason === 'not-found' && error.message.includes(`${repoId} at revision no-such-branch`));
  });

  it('says a 401 may mean a gated or private repo and to set HF_TOKEN', async () => {
    await assert.rejects(pull({ repoId: 'pixelpipe-test/private' }), (error: unknown) => {
      assert.ok(DownloadError.isInstance(error));
      assert.equal(error.reason, 'unauthorized');
      assert.equal(error.statusCode, 401);
      assert.equal(error.isRetryable, false);
      assert.match(error.message, /gated or private/);
      assert.match(error.message, /HF_TOKEN/);
      return true;
    });
    // Gated: the listing is public, the file is not; the error names the file.
    await assert.rejects(pull({ repoId: 'pixelpipe-test/gated' }), (error: unknown) => DownloadError.isInstance(error) && error.reason === 'unauthorized' && error.path === 'model_index.json');
    server.requests.length = 0;
    const withToken = await pull({ repoId: 'pixelpipe-test/gated', accessToken: token });
    assert.equal(withToken.license, 'openrail');
    assert.ok(downloads(server).every((request) => request.headers.authorization === `Bearer ${token}`));
  });

  it('refuses a repo without an ONNX UNet before downloading anything', async () => {
    await assert.rejects(pull({ repoId: 'pixelpipe-test/pytorch-only' }), (error: unknown) => InvalidArgumentError.isInstance(error) && /lacks unet\/model\.onnx/.test(error.message));
    assert.deepEqual(downloads(server), []);
  });

  it('keeps a partial file when cancelled', async () => {
    const controller = new AbortController();
    const pulling = pull({ signal: controller.signal, onProgress: ({ path, fileBytes }) => path === 'unet/model.onnx' && fileBytes > 0 && fileBytes < 4_000_000 && controller.abort() });
    await assert.rejects(pulling, (error: unknown) => error instanceof Error && error.name === 'AbortError');
    const folder = snapshotFolder(cacheDir, repoId, server.commitOf(repoId));
    assert.ok(statSync(join(folder, 'unet/model.onnx.part')).size > 0);
  });

  it('keeps revisions side by side and lists them', async () => {
    const other = await startFakeHubServer({ [repoId]: { files: { ...files, 'model_index.json': '{"_class_name":"StableDiffusionPipeline"}' } } });
    try {
      const first = await pull();
      const second = await pullModel({ repoId, cacheDir, hubUrl: other.url, revision: 'main' });
      assert.notEqual(first.revision, second.revision);
      const models = await listCachedModels(cacheDir);
      assert.deepEqual(models.map((model) => model.revision).sort(), [first.revision, second.revision].sort());
      for (const model of models) {
        assert.equal(model.repoId, repoId);
        assert.equal(model.complete, true);
        assert.ok(model.sizeBytes >= 4_393_763 + 300_000);
        assert.equal(model.license, model.revision === first.revision ? 'sai-nc-community' : undefined);
      }
      // refs/main points at the last pull; the older snapshot is still resolvable by its sha.
      assert.equal((await resolveCachedModel(cacheDir, repoId))?.revision, second.revision);
      assert.equal((await resolveCachedModel(cacheDir, `${repoId}@${first.revision}`))?.folder, first.folder);
    } finally {
      await other.close();
    }
  });

  it('pulls a registry alias at its pinned commit', async () => {
    const entry = findRegistryEntry('sd-turbo')!;
    const pinned = await startFakeHubServer({ [entry.repoId]: { files, commit: entry.revision } });
    try {
      const result = await pullModel({ repoId: 'sd-turbo', cacheDir, hubUrl: pinned.url });
      assert.equal(result.repoId, entry.repoId);
      assert.equal(result.revision, entry.revision);
      assert.match(pinned.requests[0]!.url, new RegExp(`/revision/${entry.revision}\\?`));
    } finally {
      await pinned.close();
    }
  });
});
