// The hub client alone: licence lookup, token check, and the ranged download's answers to odd servers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { DownloadError } from '../../spec/errors/download-error.js';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { startFakeHubServer, type FakeHubServer } from '../../testing/fake-hub-server.js';
import { createHubClient, type HubFile } from './hub-client.js';

const content = Buffer.from('0123456789'.repeat(100));
const file: HubFile = { path: 'unet/model.onnx', size: content.length, sha256: createHash('sha256').update(content).digest('hex') };
const commit = 'c'.repeat(40);

/** A fetch that answers every request with one canned response and records the Range asked for. */
function cannedFetch(respond: (range: string | undefined) => Response, ranges: (string | undefined)[] = []): typeof fetch {
  return async (_input, init) => {
    const range = new Headers(init?.headers).get('range') ?? undefined;
    ranges.push(range);
    return respond(range);
  };
}

describe('createHubClient', () => {
  let server: FakeHubServer;
  let folder: string;
  before(async () => {
    server = await startFakeHubServer({
      'owner/tagged': { files: { 'model_index.json': '{}' }, tags: ['diffusers', 'license:mit'] },
      'owner/dual': { files: { 'model_index.json': '{}' }, cardData: { license: ['apache-2.0', 'mit'] } },
    });
  });
  after(() => server.close());
  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'pixelpipe-hub-'));
  });
  afterEach(() => rm(folder, { recursive: true, force: true }));

  it('reads the licence from the card, or from a license: tag', async () => {
    const client = createHubClient({ hubUrl: `${server.url}/` });
    assert.equal((await client.modelInfo('owner/tagged', 'main')).license, 'mit');
    const dual = await client.modelInfo('owner/dual', 'main');
    assert.equal(dual.license, 'apache-2.0, mit');
    assert.equal(dual.commit, server.commitOf('owner/dual'));
    assert.deepEqual(await client.listFiles('owner/dual', dual.commit), [{ path: 'model_index.json', size: 2, sha256: undefined, gitOid: '9e26dfeeb6e641a33dae4961196235bdb965b21b' }]);
  });

  it('refuses a token that is not a Hugging Face token, without echoing it', () => {
    assert.throws(
      () => createHubClient({ accessToken: 'secret-value' }),
      (error: unknown) => InvalidArgumentError.isInstance(error) && error.argument === 'accessToken' && !error.message.includes('secret-value'),
    );
  });

  it('marks a 503 retryable and a 403 not', async () => {
    for (const [status, retryable] of [[503, true], [403, false]] as const) {
      const client = createHubClient({ fetch: cannedFetch(() => new Response('busy', { status })) });
      await assert.rejects(client.downloadFile({ repoId: 'owner/name', commit, file, destination: join(folder, 'model.onnx') }), (error: unknown) => {
        assert.ok(DownloadError.isInstance(error));
        assert.equal(error.statusCode, status);
        assert.equal(error.isRetryable, retryable);
        return true;
      });
    }
  });

  it('reports an unreachable hub as a retryable network error', async () => {
    const closed = await startFakeHubServer({});
    await closed.close();
    await assert.rejects(createHubClient({ hubUrl: closed.url }).modelInfo('owner/name', 'main'), (error: unknown) => DownloadError.isInstance(error) && error.reason === 'network' && error.isRetryable);
  });

  it('says what to do instead when the hub cannot be reached: a local folder, a mirror, or a hosted model', async () => {
    const closed = await startFakeHubServer({});
    await closed.close();
    const client = createHubClient({ hubUrl: closed.url });
    for (const call of [client.modelInfo('owner/name', 'main'), client.downloadFile({ repoId: 'owner/name', commit, file, destination: join(folder, 'model.onnx') })]) {
      const error = await call.then(() => assert.fail('the hub is closed'), (failure: unknown) => failure);
      assert.ok(DownloadError.isInstance(error), String(error));
      assert.match(error.message, new RegExp(`^Could not reach ${closed.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\S*: .*ECONNREFUSED.*\\. To go on without it: `));
      assert.match(error.message, /pass `--model` \(the `model` option\) a local model folder in the Optimum ONNX layout/);
      assert.match(error.message, /set PIXELPIPE_HUB_URL \(or HF_ENDPOINT\) to a Hugging Face mirror/);
      assert.match(error.message, /`--model openai:gpt-image-1` with OPENAI_API_KEY set/);
    }
  });

  it('deletes a file that arrives longer than listed', async () => {
    const client = createHubClient({ fetch: cannedFetch(() => new Response(Buffer.concat([content, Buffer.from('extra')]))) });
    const destination = join(folder, 'model.onnx');
    await assert.rejects(client.downloadFile({ repoId: 'owner/name', commit, file, destination }), (error: unknown) => DownloadError.isInstance(error) && error.reason === 'integrity' && /is 1005 bytes, but the hub lists 1000/.test(error.message));
    assert.equal(existsSync(`${destination}.part`), false);
  });

  it('starts again when the server answers 416 to a resumed range', async () => {
    const ranges: (string | undefined)[] = [];
    const client = createHubClient({
      fetch: cannedFetch((range) => (range ? new Response(null, { status: 416, headers: { 'Content-Range': 'bytes */1000' } }) : new Response(content)), ranges),
    });
    const destination = join(folder, 'model.onnx');
    await writeFile(`${destination}.part`, Buffer.from('xyz'));
    const result = await client.downloadFile({ repoId: 'owner/name', commit, file, destination });
    assert.deepEqual(ranges, ['bytes=3-', undefined]);
    assert.deepEqual(result, { resumedFrom: 0, fetchedBytes: 1000 });
    assert.deepEqual(readFileSync(destination), content);
  });

  it('verifies a part that already holds the whole file without fetching', async () => {
    const ranges: (string | undefined)[] = [];
    const client = createHubClient({ fetch: cannedFetch(() => assert.fail('no request expected'), ranges) });
    const destination = join(folder, 'model.onnx');
    await writeFile(`${destination}.part`, content);
    assert.deepEqual(await client.downloadFile({ repoId: 'owner/name', commit, file, destination }), { resumedFrom: 1000, fetchedBytes: 0 });
    assert.deepEqual(ranges, []);
  });
});
