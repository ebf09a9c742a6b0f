// POST /v1/models/pull on the real service against the fake hub: off without --allow-pull (no hub request), admin keys only, the pulled model in the catalog at once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createImageService, type RunningImageService } from '../../service/image-service.js';
import { fixtureFiles, startFakeHubServer, type FakeHubServer } from '../../testing/fake-hub-server.js';
import { testData } from '../../testing/paths.js';
import { createHttpApp } from './http-app.js';
import type { HttpAppOptions } from './http-env.js';
import { startHttpServer } from './http-server.js';
import { errorOf } from './http-test-harness.case.js';

let hub: FakeHubServer;
let dataDir: string;
let service: RunningImageService;
const closers: (() => Promise<void>)[] = [];
const downloads = () => hub.requests.filter((request) => /\/resolve\/|^\/cdn\//.test(request.url)).length;

before(async () => {
  hub = await startFakeHubServer({
    'pixelpipe-test/tiny-pulled': { files: fixtureFiles('tiny-sd15'), cardData: { license: 'creativeml-openrail-m' } },
    'someone/acme-style': { files: { 'pytorch_lora_weights.safetensors': readFileSync(testData('fixtures', 'tiny-sd15-lora', 'pytorch_lora_weights.safetensors')) }, cardData: { license: 'mit', instance_prompt: 'acme_style' } },
  });
  dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-model-pull-'));
  service = await createImageService({ settings: { dataDir, cacheDir: join(dataDir, 'models'), hubUrl: hub.url }, defaultModel: testData('fixtures', 'tiny-sd15'), workers: 0 });
});
after(async () => {
  for (const close of closers.reverse()) await close();
  await service.close();
  await hub.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** An app over the service on its own port (each with a fresh view of whether keys exist); `pull` posts `{ model }` with an optional key. */
async function app(options: Partial<HttpAppOptions> = {}) {
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret, ...options }), host: '127.0.0.1', port: 0, closeTimeoutMs: 2000 });
  closers.push(() => server.close());
  const request = (path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, init);
  const pull = async (model: unknown, secret?: string) => {
    const response = await request('/v1/models/pull', { method: 'POST', headers: { 'content-type': 'application/json', ...(secret ? { authorization: `Bearer ${secret}` } : {}) }, body: JSON.stringify({ model }) });
    return { status: response.status, body: (await response.json()) as any };
  };
  return { request, pull };
}

test('pulling over HTTP: off without allowModelPull, admin keys only, and the pulled model is in the catalog at once; never a hub request for a refused one', async () => {
  // No keys yet (a keyless server listens on loopback only): off, then on but no admin key.
  const off = await app();
  const disabled = await off.pull('pixelpipe-test/tiny-pulled');
  assert.equal(disabled.status, 403);
  assert.deepEqual([errorOf(disabled.body).code, errorOf(disabled.body).type], ['model_pull_disabled', 'permission_error']);
  assert.match(errorOf(disabled.body).message, /pixelpipe serve --allow-pull/);
  const keyless = await (await app({ allowModelPull: true })).pull('pixelpipe-test/tiny-pulled');
  assert.equal(keyless.status, 403);
  assert.equal(errorOf(keyless.body).code, 'admin_key_required');
  assert.match(errorOf(keyless.body).message, /no API key.*keys create --name NAME --admin/);

  const admin = await service.keys.create({ name: 'operator', admin: true });
  const plain = await service.keys.create({ name: 'app' });
  // Without the flag even an admin key is refused, before the body is read.
  assert.equal((await (await app()).pull('pixelpipe-test/tiny-pulled', admin.secret)).status, 403);
  const on = await app({ allowModelPull: true });
  const notAdmin = await on.pull('pixelpipe-test/tiny-pulled', plain.secret);
  assert.equal(notAdmin.status, 403);
  assert.match(errorOf(notAdmin.body).message, new RegExp(`${plain.key.prefix}… is no admin key`));
  assert.equal((await on.pull('pixelpipe-test/tiny-pulled')).status, 401);
  // Not a hub reference: refused naming `model`, nothing asked of the hub.
  for (const model of ['/etc', './models/x', 'openai:gpt-image-1', 'no-owner', 42]) {
    const refused = await on.pull(model, admin.secret);
    assert.deepEqual([refused.status, errorOf(refused.body).param], [400, 'model'], `${JSON.stringify(model)}: ${JSON.stringify(refused.body)}`);
  }
  assert.equal(hub.requests.length, 0, 'no refused request reached the hub');

  // Two pulls of one model at once download it once; the answer names its catalog id.
  const [first, second] = await Promise.all([on.pull('pixelpipe-test/tiny-pulled', admin.secret), on.pull('pixelpipe-test/tiny-pulled', admin.secret)]);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.deepEqual(second.body, first.body);
  assert.equal(first.body.id, 'tiny-pulled');
  assert.equal(first.body.repoId, 'pixelpipe-test/tiny-pulled');
  assert.equal(first.body.revision, hub.commitOf('pixelpipe-test/tiny-pulled'));
  assert.equal(first.body.license, 'creativeml-openrail-m');
  assert.ok(first.body.downloadedBytes > 0);
  const fetched = hub.requests.filter((request) => /\/resolve\//.test(request.url)).map((request) => request.url);
  assert.ok(fetched.length > 0);
  assert.equal(new Set(fetched).size, fetched.length, 'each file was fetched once');

  // In the catalog at once (no restart, no wait for its refresh), with capabilities, and usable by its id.
  const models = (await (await on.request('/v1/models', { headers: { authorization: `Bearer ${plain.secret}` } })).json()) as { data: { id: string; pixelpipe?: { capabilities: unknown } }[] };
  assert.ok(models.data.find((model) => model.id === 'tiny-pulled')?.pixelpipe?.capabilities);
  const submitted = await on.request('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${plain.secret}` }, body: JSON.stringify({ prompt: 'a', model: 'tiny-pulled', width: 64, height: 64 }) });
  assert.equal(submitted.status, 202);

  // Pulled again: nothing downloaded. A repo the hub lacks: 404 model_not_found.
  const before = downloads();
  const again = await on.pull('pixelpipe-test/tiny-pulled', admin.secret);
  assert.deepEqual([again.status, again.body.downloadedBytes, downloads()], [200, 0, before]);
  const missing = await on.pull('pixelpipe-test/nothing-here', admin.secret);
  assert.deepEqual([missing.status, errorOf(missing.body).code, errorOf(missing.body).param], [404, 'model_not_found', 'model']);
  assert.match(errorOf(missing.body).message, /pixelpipe-test\/nothing-here/);
});

test('POST /v1/loras/pull: off without allowModelPull, admin keys only; the LoRA is then in GET /v1/loras with its trigger word', async () => {
  const admin = await service.keys.create({ name: 'lora operator', admin: true });
  const pullLora = async (server: Awaited<ReturnType<typeof app>>, body: unknown, secret = admin.secret) => {
    const response = await server.request('/v1/loras/pull', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any };
  };
  const before = hub.requests.length;
  const off = await pullLora(await app(), { repo: 'someone/acme-style' });
  assert.deepEqual([off.status, errorOf(off.body).code], [403, 'model_pull_disabled']);
  assert.match(errorOf(off.body).message, /pulling LoRAs over HTTP is off.*pixelpipe lora pull OWNER\/NAME/);
  const on = await app({ allowModelPull: true });
  const path = await pullLora(on, { repo: '../etc' });
  assert.deepEqual([path.status, errorOf(path.body).param], [400, 'repo']);
  assert.equal(hub.requests.length, before, 'no refused request reached the hub');
  const pulled = await pullLora(on, { repo: 'someone/acme-style', name: 'acme' });
  assert.equal(pulled.status, 200, JSON.stringify(pulled.body));
  assert.deepEqual([pulled.body.name, pulled.body.triggerWord, pulled.body.source.commit], ['acme', 'acme_style', hub.commitOf('someone/acme-style')]);
  const listed = (await (await on.request('/v1/loras', { headers: { authorization: `Bearer ${admin.secret}` } })).json()) as { data: { name: string; triggerWord?: string }[] };
  assert.deepEqual(listed.data.map(({ name, triggerWord }) => [name, triggerWord]), [['acme', 'acme_style']]);
  const taken = await pullLora(on, { repo: 'someone/acme-style', name: 'acme' });
  assert.deepEqual([taken.status, errorOf(taken.body).param], [400, 'name']);
});

test('the routes are in /openapi.json', async () => {
  const document = (await (await (await app()).request('/openapi.json')).json()) as { paths: Record<string, { post?: unknown }> };
  assert.ok(document.paths['/v1/models/pull']?.post);
  assert.ok(document.paths['/v1/loras/pull']?.post);
});
