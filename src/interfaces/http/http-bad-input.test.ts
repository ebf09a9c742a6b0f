// Malformed requests, one row each: the status, the error code and field, and a server that still answers afterwards.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { createImageService } from '../../service/image-service.js';
import { testData } from '../../testing/paths.js';
import { startMockApiServer, type MockApiServer } from '../../testing/mock-api-server.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../testing/postgres.js';
import { createHttpApp } from './http-app.js';
import { startHttpServer } from './http-server.js';
import { decompressionBombPng, errorOf, pngBase64 } from './http-test-harness.case.js';

interface BadInput {
  name: string;
  /** Default POST /v1/jobs. */
  path?: string;
  method?: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  param: string | null;
  /** Checked against the model, which the test double does not have. */
  modelCheck?: true;
}

const maxBodyBytes = 256 * 1024;
let image64: string;
let mask32: string;
// Hosted providers' base URL for the real service: nothing may reach it, since what they refuse is refused at submit.
let hostedApi: MockApiServer;

before(async () => {
  image64 = await pngBase64(64, 64);
  mask32 = await pngBase64(32, 32);
  hostedApi = await startMockApiServer();
});
after(() => hostedApi.close());

const unknownBlobKey = `sha256/ab/cd/abcd${'0'.repeat(60)}.png`;

function rows(): BadInput[] {
  const invalid = (name: string, body: unknown, param: string | null): BadInput => ({ name, body, status: 400, code: 'invalid_argument', param });
  return [
    { name: 'JSON cut short', body: '{"prompt": "a cat", ', status: 400, code: 'invalid_json', param: null },
    { name: 'not JSON at all', body: 'prompt=a cat', status: 400, code: 'invalid_json', param: null },
    { name: 'text/plain body', body: '{"prompt":"a"}', headers: { 'content-type': 'text/plain' }, status: 415, code: 'unsupported_media_type', param: null },
    invalid('an array instead of an object', [1, 2], null),
    invalid('no prompt', {}, 'prompt'),
    invalid('prompt is a number', { prompt: 5 }, 'prompt'),
    invalid('prompt over maxPromptLength', { prompt: 'x'.repeat(10_001) }, 'prompt'),
    invalid('n = 0', { prompt: 'a', n: 0 }, 'n'),
    invalid('n = 1000', { prompt: 'a', n: 1000 }, 'n'),
    invalid('n is a string', { prompt: 'a', n: '2' }, 'n'),
    invalid('width 100000', { prompt: 'a', width: 100_000 }, 'width'),
    invalid('width not whole', { prompt: 'a', width: 64.5 }, 'width'),
    invalid('width × height over maxPixels (checked by the service)', { prompt: 'a', width: 4096, height: 4096 }, 'width'),
    invalid('steps 0', { prompt: 'a', steps: 0 }, 'steps'),
    invalid('guidance negative', { prompt: 'a', guidance: -1 }, 'guidance'),
    invalid('an unknown field', { prompt: 'a', colour: 'red' }, 'colour'),
    invalid('an unknown field in an image', { prompt: 'a', images: [{ url: 'http://x/y.png' }] }, 'images.0.url'),
    invalid('seed not a number', { prompt: 'a', seed: 'abc' }, 'seed'),
    invalid('seed negative', { prompt: 'a', seed: -1 }, 'seed'),
    invalid('seed above 2^64−1 (refused at submit, not when a local job runs)', { prompt: 'a', seed: '18446744073709551616' }, 'seed'),
    invalid('priority not whole', { prompt: 'a', priority: 1.5 }, 'priority'),
    invalid('priority a word', { prompt: 'a', priority: 'high' }, 'priority'),
    invalid('priority too high', { prompt: 'a', priority: 10_000_000 }, 'priority'),
    invalid('webhook URL not http', { prompt: 'a', webhook: { url: 'ftp://example.com/hook' } }, 'webhook.url'),
    invalid('webhook URL not a URL', { prompt: 'a', webhook: { url: 'not a url' } }, 'webhook.url'),
    invalid('images empty', { prompt: 'a', images: [] }, 'images'),
    invalid('image with both b64_json and blobKey', { prompt: 'a', images: [{ b64_json: 'aGk=', blobKey: unknownBlobKey }] }, 'images.0'),
    invalid('image blobKey malformed', { prompt: 'a', images: [{ blobKey: '../../etc/passwd' }] }, 'images.0.blobKey'),
    { name: 'image blobKey unknown', body: { prompt: 'a', images: [{ blobKey: unknownBlobKey }] }, status: 400, code: 'blob_not_found', param: 'images.0.blobKey' },
    { name: 'bad base64', body: { prompt: 'a', images: [{ b64_json: '!!! not base64 !!!' }] }, status: 400, code: 'invalid_base64', param: 'images.0.b64_json' },
    invalid('base64 of bytes that are no image', { prompt: 'a', images: [{ b64_json: Buffer.from('hello, world').toString('base64') }] }, 'images.0'),
    invalid('a decompression bomb (20000 × 20000 PNG)', { prompt: 'a', images: [{ b64_json: decompressionBombPng().toString('base64') }] }, 'images.0'),
    invalid('a bomb as the mask', { prompt: 'a', images: [{ b64_json: image64 }], mask: { b64_json: decompressionBombPng().toString('base64') } }, 'mask'),
    invalid('mask of the wrong size', { prompt: 'a', images: [{ b64_json: image64 }], mask: { b64_json: mask32 } }, 'mask'),
    invalid('strength without an image (checked by the service)', { prompt: 'a', strength: 0.5 }, 'images'),
    invalid('strength above 1', { prompt: 'a', images: [{ b64_json: image64 }], strength: 1.5 }, 'strength'),
    invalid('Idempotency-Key of 300 characters', { prompt: 'a' }, 'idempotency-key'),
    // The server's default model is the tiny SD 1.5, whose sides must be multiples of 16.
    { ...invalid('width not a multiple of the model\'s size rule', { prompt: 'a', width: 100 }, 'width'), modelCheck: true },
    { ...invalid('an unknown sampler', { prompt: 'a', sampler: 'no-such-sampler' }, 'sampler'), modelCheck: true },
    { ...invalid('an inpainting model asked for text-to-image', { prompt: 'a', model: 'tiny-sd15-inpaint' }, 'images'), modelCheck: true },
    { name: 'a model not served here', body: { prompt: 'a', model: 'no-such-model-xyz' }, status: 404, code: 'model_not_found', param: 'model', modelCheck: true },
    { name: 'a path as the model', body: { prompt: 'a', model: '/etc' }, status: 404, code: 'model_not_found', param: 'model', modelCheck: true },
    { ...invalid('an inpainting model given an image without a mask', { prompt: 'a', model: 'tiny-sd15-inpaint', images: [{ b64_json: image64 }] }, 'mask'), modelCheck: true },
    invalid('decoder neither full nor fast', { prompt: 'a', decoder: 'quick' }, 'decoder'),
    invalid('a control image that is no image', { prompt: 'a', controls: [{ controlnet: 'edges', image: { b64_json: Buffer.from('hello, world').toString('base64') } }] }, 'controls.0.image'),
    invalid('controls with an input image (ControlNets are text-to-image only)', { prompt: 'a', images: [{ b64_json: image64 }], controls: [{ controlnet: 'edges', image: { b64_json: image64 } }] }, 'controls'),
    invalid('a ControlNet named by path', { prompt: 'a', controls: [{ controlnet: '../etc', image: { b64_json: image64 } }] }, 'controls.0.controlnet'),
    { ...invalid('controls on a model whose UNet takes no ControlNet residuals', { prompt: 'a', controls: [{ controlnet: 'edges', image: { b64_json: image64 } }] }, 'controls'), modelCheck: true },
    { ...invalid('controls on a hosted model', { prompt: 'a', model: 'stability:core', controls: [{ controlnet: 'edges', image: { b64_json: image64 } }] }, 'controls'), modelCheck: true },
    invalid('hiresFix with an input image', { prompt: 'a', images: [{ b64_json: image64 }], hiresFix: {} }, 'hiresFix'),
    invalid('hiresFix with best-of-N', { prompt: 'a', n: 1, bestOf: 2, rankBy: 'clip', hiresFix: {} }, 'hiresFix'),
    invalid('hiresFix whose second pass is over the output limit', { prompt: 'a', width: 2048, height: 2048, hiresFix: { scale: 2 } }, 'hiresFix.scale'),
    invalid('hiresFix strength 0', { prompt: 'a', hiresFix: { strength: 0 } }, 'hiresFix.strength'),
    { ...invalid('hiresFix on a hosted model', { prompt: 'a', model: 'stability:core', hiresFix: {} }, 'hiresFix'), modelCheck: true },
    invalid('upscale at a scale the bundled upscaler lacks', { prompt: 'a', upscale: { scale: 5 } }, 'upscale.scale'),
    invalid('upscale with neither a scale nor a resize to reach', { prompt: 'a', upscale: {} }, 'upscale.scale'),
    invalid('upscale to more pixels than the upscale limit', { prompt: 'a', width: 2048, height: 2048, upscale: { scale: 4 } }, 'upscale.scale'),
    // This server configures no fast decoder (PIXELPIPE_FAST_DECODER); SDXL's latents have none at all.
    { ...invalid('decoder fast where no fast decoder is configured', { prompt: 'a', decoder: 'fast' }, 'decoder'), modelCheck: true },
    { ...invalid('decoder fast on a family without a fast decoder (SDXL)', { prompt: 'a', model: 'tiny-sdxl', decoder: 'fast' }, 'decoder'), modelCheck: true },
    // Hosted models: what the provider would refuse when called is refused at submit by its own check, without a request.
    { ...invalid('stability:core given an image without a mask or extend (no such endpoint)', { prompt: 'a', model: 'stability:core', images: [{ b64_json: image64 }] }, 'images'), modelCheck: true },
    { ...invalid('stability given both a mask and extend', { prompt: 'a', model: 'stability:ultra', images: [{ b64_json: image64 }], mask: { b64_json: image64 }, extend: { right: 64 } }, 'extend'), modelCheck: true },
    { ...invalid('stability seed above its largest', { prompt: 'a', model: 'stability:core', seed: 4_294_967_295 }, 'seed'), modelCheck: true },
    { ...invalid('a provider option the provider does not take', { prompt: 'a', model: 'stability:core', providerOptions: { stability: { stylePreset: 'no-such-style' } } }, 'providerOptions.stability.stylePreset'), modelCheck: true },
    { ...invalid('a hosted model its provider does not have', { prompt: 'a', model: 'ideogram:V_2' }, 'model'), modelCheck: true },
    { ...invalid('decoder fast on a hosted model (it returns finished images)', { prompt: 'a', model: 'stability:core', decoder: 'fast' }, 'decoder'), modelCheck: true },
    // Every job on a provider without its key here would fail: such a model is not served here (bfl has none in this test).
    { name: 'a hosted model whose provider has no API key here', body: { prompt: 'a', model: 'bfl:flux-pro-1.1' }, status: 404, code: 'model_not_found', param: 'model', modelCheck: true },
    { name: 'body over maxBodyBytes', body: { prompt: 'x'.repeat(maxBodyBytes) }, status: 413, code: 'body_too_large', param: null },
    { name: 'records limit 0', path: '/v1/records?limit=0', method: 'GET', status: 400, code: 'invalid_argument', param: 'limit' },
    { name: 'records limit not a number', path: '/v1/records?limit=ten', method: 'GET', status: 400, code: 'invalid_argument', param: 'limit' },
    { name: 'records since not a date', path: '/v1/records?since=yesterday', method: 'GET', status: 400, code: 'invalid_argument', param: 'since' },
    { name: 'records since after until', path: '/v1/records?since=2030-01-02&until=2030-01-01', method: 'GET', status: 400, code: 'invalid_argument', param: 'since' },
    { name: 'records unknown query', path: '/v1/records?colour=red', method: 'GET', status: 400, code: 'invalid_argument', param: 'colour' },
    { name: 'records cursor garbage', path: '/v1/records?cursor=%25%25%25', method: 'GET', status: 400, code: 'invalid_argument', param: 'cursor' },
    { name: 'events after=-1', path: '/v1/jobs/any/events?after=-1', method: 'GET', status: 400, code: 'invalid_argument', param: 'after' },
    { name: 'events Last-Event-ID not a number', path: '/v1/jobs/any/events', method: 'GET', headers: { 'last-event-id': 'abc' }, status: 400, code: 'invalid_argument', param: 'last-event-id' },
  ];
}

type Request = (path: string, init?: RequestInit) => Promise<Response>;

async function checkTable(request: Request, { model }: { model: boolean }): Promise<void> {
  const table = rows().filter((row) => model || !row.modelCheck);
  assert.ok(table.length >= 15);
  for (const row of table) {
    const headers: Record<string, string> = { 'content-type': 'application/json', ...row.headers };
    if (row.name.startsWith('Idempotency-Key')) headers['idempotency-key'] = 'k'.repeat(300);
    const body = row.body === undefined ? undefined : typeof row.body === 'string' ? row.body : JSON.stringify(row.body);
    const response = await request(row.path ?? '/v1/jobs', { method: row.method ?? 'POST', headers, body }).catch((error: Error) => {
      throw new Error(`${row.name}: ${error.message}`, { cause: error });
    });
    const text = await response.text();
    let parsed: unknown;
    assert.doesNotThrow(() => (parsed = JSON.parse(text)), `${row.name}: the body is JSON, got ${text.slice(0, 200)}`);
    const error = errorOf(parsed);
    assert.deepEqual({ status: response.status, code: error.code, param: error.param }, { status: row.status, code: row.code, param: row.param }, `${row.name}: ${error.message}`);
    assert.equal(error.type, 'invalid_request_error', row.name);
    if (row.param) assert.ok(error.message.includes(`\`${row.param}\``), `${row.name}: the message names \`${row.param}\`: ${error.message}`);
    assert.equal((await request('/healthz')).status, 200, `${row.name}: the server still answers`);
    if (process.env.SHOW_MESSAGES) console.log(`${row.name} -> ${response.status} ${error.code} ${error.param}: ${error.message}`);
  }
}

// The table against the real service, on each database: malformed requests get a 4xx in the one error shape naming the field, and the server keeps answering.
async function realServer(t: TestContext, databaseUrl: string | undefined): Promise<Request> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-bad-input-'));
  const providers = { stability: { apiKey: 'sk-test', baseURL: hostedApi.url }, ideogram: { apiKey: 'ideogram-test', baseURL: hostedApi.url } };
  const service = await createImageService({ settings: { dataDir, databaseUrl }, defaultModel: testData('fixtures', 'tiny-sd15'), models: [testData('fixtures', 'tiny-sd15-inpaint'), testData('fixtures', 'tiny-sdxl')], workers: 0, limits: { maxBodyBytes }, pixelpipe: { providers }, queue: { queueName: `bad-input-${Math.random().toString(36).slice(2, 10)}` } });
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret }), host: '127.0.0.1', port: 0, closeTimeoutMs: 2000 });
  t.after(async () => {
    await server.close();
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return (path, init) => fetch(`${server.url}${path}`, init);
}

let postgres: TestDatabase | undefined;
after(async () => void (await postgres?.drop()));

/** What a hosted provider would only warn about is no refusal: the job is queued, and no request went to the provider at submit. */
async function checkHostedWarningsPass(request: Request): Promise<void> {
  const body = JSON.stringify({ prompt: 'a', model: 'stability:core', steps: 30, sampler: 'euler', width: 1000, height: 704, n: 2 });
  const response = await request('/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  assert.equal(response.status, 202, await response.text());
  assert.deepEqual(hostedApi.requests, [], 'nothing reached the hosted provider');
}

test('the bad-input table against the real service on PGlite', async (t) => {
  const request = await realServer(t, undefined);
  await checkTable(request, { model: true });
  await checkHostedWarningsPass(request);
});

test('the bad-input table against the real service on PostgreSQL', async (t) => {
  const serverUrl = testDatabaseUrl(t);
  if (!serverUrl) return;
  postgres = await createTestDatabase(serverUrl);
  const request = await realServer(t, postgres.url);
  await checkTable(request, { model: true });
  await checkHostedWarningsPass(request);
});
