import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler, type RecordedApiRequest } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { decodeBase64 } from '../shared/image-data.js';
import { createReplicate, type ReplicateProviderSettings } from './replicate-provider.js';

let predictions = 0;

/** The size FLUX makes for an input: a custom width × height, or the aspect ratio at 1 or 0.25 megapixels. */
function sizeOf(input: Record<string, any>): { width: number; height: number } {
  if (input.aspect_ratio === 'custom') return { width: input.width, height: input.height };
  const [w, h] = String(input.aspect_ratio ?? '1:1').split(':').map(Number) as [number, number];
  const pixels = Number(input.megapixels ?? '1') * 1024 * 1024;
  const width = Math.round(Math.sqrt((pixels * w) / h) / 16) * 16;
  return { width, height: Math.round((width * h) / w / 16) * 16 };
}

/** A prediction object as Replicate returns it, with its URLs on the mock server. */
function prediction(server: MockApiServer, id: string, fields: Record<string, unknown>) {
  return { id, model: 'black-forest-labs/flux-schnell', version: 'dp-123', input: {}, logs: '', error: null, status: 'starting', output: null, metrics: {}, urls: { get: `${server.url}/v1/predictions/${id}`, cancel: `${server.url}/v1/predictions/${id}/cancel` }, ...fields };
}

/** Output URLs for the request's input, one per image (files are served at 1/16 of the size). */
function outputsFor(server: MockApiServer, request: RecordedApiRequest, id: string): string[] {
  const input = request.json.input;
  const { width, height } = input.image ? { width: 1024, height: 1024 } : sizeOf(input);
  return Array.from({ length: Number(input.num_outputs ?? 1) }, (_, index) => `${server.url}/files/${id}-${index}-${width}x${height}.${input.output_format ?? 'webp'}`);
}

/** Answers like Replicate's sync mode when the model finishes within the wait: a succeeded prediction. */
const syncAnswer = (server: MockApiServer, single = false): MockHandler => (request) => {
  const id = `p${(predictions += 1)}`;
  const output = outputsFor(server, request, id);
  return { status: 201, json: prediction(server, id, { status: 'succeeded', input: request.json.input, output: single ? output[0] : output, metrics: { predict_time: 1.25 } }) };
};

async function mockReplicate(settings: ReplicateProviderSettings = {}) {
  const server = await startMockApiServer();
  server.route('POST', '/v1/models/black-forest-labs/flux-schnell/predictions', syncAnswer(server));
  server.route('POST', '/v1/models/black-forest-labs/flux-dev/predictions', syncAnswer(server));
  server.route('POST', '/v1/models/black-forest-labs/flux-1.1-pro/predictions', syncAnswer(server, true));
  server.route('POST', '/v1/predictions', syncAnswer(server, true));
  server.route('GET', '/files/*', async (request) => {
    const [, width, height, format] = /(\d+)x(\d+)\.(\w+)$/.exec(request.path)!;
    const type = format === 'jpg' ? 'jpeg' : (format as 'png' | 'webp');
    return { headers: { 'content-type': `image/${type}` }, body: await testImage(type, Number(width) / 16, Number(height) / 16) };
  });
  const sleeper = recordingSleep();
  const provider = createReplicate({ apiKey: 'r8_test', baseURL: `${server.url}/v1`, sleep: sleeper.sleep, random: () => 0.5, pollIntervalMs: 5, ...settings });
  return { server, provider, delays: sleeper.delays };
}

for (const modelId of ['black-forest-labs/flux-schnell', 'black-forest-labs/flux-dev', 'black-forest-labs/flux-1.1-pro']) {
  providerConformance({
    name: `replicate:${modelId}`,
    edits: modelId.endsWith('flux-dev'),
    size: { width: 1024, height: 1024 },
    async setup() {
      const { server, provider } = await mockReplicate();
      return { model: provider(modelId), close: () => server.close() };
    },
  });
}

describe('replicate requests', () => {
  let mock: Awaited<ReturnType<typeof mockReplicate>>;
  before(async () => {
    mock = await mockReplicate();
  });
  after(() => mock.server.close());

  test('an official model is run in sync mode with FLUX inputs and the token as a bearer token', async () => {
    const result = await mock.provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a fox', n: 2, seed: 42, steps: 4, aspectRatio: '16:9', providerOptions: { replicate: { outputFormat: 'png', goFast: false, disableSafetyChecker: true } } });
    const sent = mock.server.requestsTo('POST', '/v1/models/black-forest-labs/flux-schnell/predictions').at(-1)!;
    assert.equal(sent.headers.authorization, 'Bearer r8_test');
    assert.equal(sent.headers.prefer, 'wait');
    assert.deepEqual(sent.json, { input: { prompt: 'a fox', seed: 42, num_outputs: 2, num_inference_steps: 4, aspect_ratio: '16:9', output_format: 'png', go_fast: false, disable_safety_checker: true } });
    assert.equal(result.images.length, 2);
    assert.deepEqual(result.images.map((image) => [image.mediaType, image.settings.width, image.settings.height]), [['image/png', 85, 48], ['image/png', 85, 48]]);
    // One prediction made both images from one seed: neither can be remade alone from it.
    assert.deepEqual(result.images.map((image) => image.settings.seed), [undefined, undefined]);
    assert.match(result.response.requestId!, /^p\d+$/);
    assert.equal(result.response.timings.inference, 1250);
    assert.deepEqual(result.cost && { amountUsd: result.cost.amountUsd, priceDate: result.cost.priceDate }, { amountUsd: 0.006, priceDate: '2024-08-01' });
    assert.deepEqual(result.warnings.map((warning) => warning.type !== 'other' && warning.setting), ['seed']);
    assert.equal(mock.server.requestsTo('GET', `/files/${result.response.requestId}-0-1360x768.png`)[0]!.headers.authorization, undefined, 'delivery URLs get no token');
  });

  test('width × height picks the nearest ratio and the megapixels; one image records its seed', async () => {
    const result = await mock.provider('black-forest-labs/flux-dev').doGenerate({ prompt: 'a koi', n: 1, width: 512, height: 512, seed: 7, steps: 80, guidance: 3 });
    const sent = mock.server.requestsTo('POST', '/v1/models/black-forest-labs/flux-dev/predictions').at(-1)!;
    assert.deepEqual(sent.json.input, { prompt: 'a koi', seed: 7, num_outputs: 1, num_inference_steps: 50, guidance: 3, aspect_ratio: '1:1', megapixels: '0.25' });
    assert.equal(result.images[0]!.settings.seed, '7');
    assert.equal(result.images[0]!.settings.steps, 50, 'the steps sent, not the steps asked for');
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'steps' && /1 to 50/.test(warning.details)));
  });

  test('flux-dev edits: the image goes as a data URI with prompt_strength, and no aspect ratio', async () => {
    const input = await testImage('png', 64, 64);
    const result = await mock.provider('black-forest-labs/flux-dev').doGenerate({ prompt: 'make it blue', n: 1, images: [input], strength: 0.35 });
    const sent = mock.server.requestsTo('POST', '/v1/models/black-forest-labs/flux-dev/predictions').at(-1)!.json.input;
    assert.match(sent.image, /^data:image\/png;base64,/);
    assert.deepEqual(Buffer.from(decodeBase64(sent.image)), Buffer.from(input));
    assert.equal(sent.prompt_strength, 0.35);
    assert.equal(sent.aspect_ratio, undefined);
    assert.equal(result.images[0]!.settings.operation, 'image-to-image');
    assert.equal(result.images[0]!.settings.edit?.strength, 0.35);
  });

  test('flux-1.1-pro takes a custom size in multiples of 32 and its own options; options it lacks are warned about', async () => {
    const result = await mock.provider('black-forest-labs/flux-1.1-pro').doGenerate({ prompt: 'a tower', n: 1, width: 1000, height: 600, providerOptions: { replicate: { safetyTolerance: 5, promptUpsampling: true, goFast: true } } });
    const sent = mock.server.requestsTo('POST', '/v1/models/black-forest-labs/flux-1.1-pro/predictions').at(-1)!.json.input;
    assert.deepEqual({ ...sent, seed: undefined }, { prompt: 'a tower', seed: undefined, aspect_ratio: 'custom', width: 992, height: 608, safety_tolerance: 5, prompt_upsampling: true });
    assert.deepEqual([result.images[0]!.settings.width, result.images[0]!.settings.height], [62, 38]);
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'size' && /992x608/.test(warning.details)));
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'providerOptions.replicate.goFast'));
    assert.equal(result.cost?.amountUsd, 0.04);
  });

  test('owner/name:version runs that version through /v1/predictions; its inputs come from providerOptions.replicate.input', async () => {
    const result = await mock.provider('someone/sdxl-thing:5c7d5dc6dd8bf75c').doGenerate({ prompt: 'a cat', n: 2, seed: 3, width: 768, height: 768, providerOptions: { replicate: { input: { width: 768, height: 768, num_outputs: 1 } } } });
    const sent = mock.server.requestsTo('POST', '/v1/predictions');
    assert.equal(sent.length, 2, 'models pixelpipe does not know make one image per prediction');
    assert.deepEqual(sent.map((request) => request.json), [
      { version: '5c7d5dc6dd8bf75c', input: { prompt: 'a cat', seed: 3, width: 768, height: 768, num_outputs: 1 } },
      { version: '5c7d5dc6dd8bf75c', input: { prompt: 'a cat', seed: 4, width: 768, height: 768, num_outputs: 1 } },
    ]);
    assert.deepEqual(result.images.map((image) => image.settings.seed), ['3', '4']);
    assert.equal(result.cost, undefined, 'no price for a model outside the table');
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'size'));
  });

  test('a prediction still running after the wait is polled at urls.get, reporting the steps its logs show', async () => {
    const { server, provider, delays } = mock;
    server.route('POST', '/v1/models/black-forest-labs/flux-dev/predictions', { status: 201, json: prediction(server, 'slow1', { status: 'starting' }) });
    server.route('GET', '/v1/predictions/slow1',
      { json: prediction(server, 'slow1', { status: 'processing', logs: 'Using seed: 1\n  0%|          | 0/28 [00:00<?, ?it/s]\n 25%|██▌       | 7/28 [00:01<00:03,  6.1it/s]' }) },
      { json: prediction(server, 'slow1', { status: 'processing', logs: ' 25%|██▌       | 7/28 [00:01<00:03,  6.1it/s]\r 75%|███████▌  | 21/28 [00:03<00:01,  6.1it/s]' }) },
      { json: prediction(server, 'slow1', { status: 'succeeded', output: [`${server.url}/files/slow1-0-1024x1024.webp`], metrics: { predict_time: 4.5 } }) });
    const progress: ImageModelProgress[] = [];
    const before = delays.length;
    const result = await provider('black-forest-labs/flux-dev').doGenerate({ prompt: 'a slow cat', n: 1, onProgress: (event) => progress.push(event) });
    assert.deepEqual(progress.map(({ imageIndex, step, steps }) => ({ imageIndex, step, steps })), [{ imageIndex: 0, step: 7, steps: 28 }, { imageIndex: 0, step: 21, steps: 28 }]);
    assert.deepEqual(delays.slice(before), [5, 5]);
    assert.equal(result.response.requestId, 'slow1');
    assert.equal(server.requestsTo('GET', '/v1/predictions/slow1')[0]!.headers.authorization, 'Bearer r8_test');
    server.route('POST', '/v1/models/black-forest-labs/flux-dev/predictions', syncAnswer(server));
  });
});

describe('replicate failures', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: ReplicateProviderSettings = {}) => {
    const mock = await mockReplicate(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));
  const schnell = '/v1/models/black-forest-labs/flux-schnell/predictions';

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays } = await fresh();
    server.route('POST', schnell, { status: 429, headers: { 'retry-after': '3' }, json: { title: 'Request was throttled', detail: 'Request was throttled. Expected available in 3 seconds.', status: 429 } }, syncAnswer(server));
    const result = await provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(delays, [3000]);
    assert.deepEqual(result.attempts?.filter((attempt) => attempt.request?.startsWith('POST')).map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs })), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 3000 },
      { outcome: 'succeeded', statusCode: 201, retryDelayMs: undefined },
    ]);
  });

  test('500 then success: one retry after an exponential delay with jitter', async () => {
    const { server, provider, delays } = await fresh({ retryDelayMs: 200 });
    server.route('POST', schnell, { status: 500, json: { title: 'Internal Server Error', detail: 'something broke', status: 500 } }, syncAnswer(server));
    const result = await provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays, [150]);
  });

  test('a prediction failed by the safety checker is a ContentPolicyError and is not retried', async () => {
    const { server, provider } = await fresh();
    server.route('POST', schnell, { status: 201, json: prediction(server, 'nsfw1', { status: 'failed', error: 'NSFW content detected. Try running it again, or try a different prompt.' }) });
    await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && /NSFW content detected/.test(error.message) && /nsfw1/.test(error.message));
    assert.equal(server.requestsTo('POST', schnell).length, 1);
  });

  test('any other failed prediction is a non-retryable error carrying the model\'s message', async () => {
    const { server, provider } = await fresh();
    server.route('POST', schnell, { status: 201, json: prediction(server, 'oom1', { status: 'failed', error: 'CUDA out of memory' }) });
    await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => (error as Error).name === 'GenerationFailedError' && !(error as { isRetryable: boolean }).isRetryable && /oom1 failed: CUDA out of memory/.test((error as Error).message));
  });

  test('a prediction canceled elsewhere ends the call with AbortedError', async () => {
    const { server, provider } = await fresh();
    server.route('POST', schnell, { status: 201, json: prediction(server, 'gone1', { status: 'canceled' }) });
    await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AbortedError.isInstance(error) && /gone1 was canceled/.test(error.message));
  });

  test('a 422 naming an input is an InvalidRequestError with that field', async () => {
    const { server, provider } = await fresh();
    server.route('POST', schnell, { status: 422, json: { title: 'Input validation failed', detail: '- input.num_outputs: Must be less than or equal to 4', status: 422, invalid_fields: [{ type: 'maximum', field: 'input.num_outputs', description: 'Must be less than or equal to 4' }] } });
    await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === 'input.num_outputs' && /less than or equal to 4/.test(error.message));
  });

  test('malformed JSON is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('POST', schnell, { status: 201, headers: { 'content-type': 'application/json' }, body: '{"id": "p1", "status": "succ' });
    await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('output files are downloaded at once, before their URLs expire', async () => {
    const { server, provider } = await fresh();
    let answeredAt = 0;
    const webp = await testImage('webp', 32, 32);
    server.route('POST', schnell, () => {
      answeredAt = Date.now();
      return { status: 201, json: prediction(server, 'fresh1', { status: 'succeeded', output: [`${server.url}/delivery/out-0.webp`] }) };
    });
    server.route('GET', '/delivery/out-0.webp', () => (Date.now() - answeredAt < 500 ? { headers: { 'content-type': 'image/webp' }, body: webp } : { status: 403, body: 'Request has expired' }));
    const result = await provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(Buffer.from(result.images[0]!.bytes), Buffer.from(webp));
  });

  test('fewer outputs than asked for (flagged images dropped) are kept, with a warning', async () => {
    const { server, provider } = await fresh();
    server.route('POST', schnell, { status: 201, json: prediction(server, 'some1', { status: 'succeeded', logs: 'NSFW content detected in 1 outputs, showing the rest', output: [`${server.url}/files/some1-0-1024x1024.webp`] }) });
    const result = await provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 2 });
    assert.equal(result.images.length, 1);
    assert.ok(result.warnings.some((warning) => warning.type === 'other' && /1 of the 2 images.*safety checker/.test(warning.message)));
  });

  test('aborting while the prediction runs ends the call with AbortedError and cancels it at replicate', async () => {
    const { server, provider } = await fresh();
    const controller = new AbortController();
    server.route('POST', schnell, { status: 201, json: prediction(server, 'run1', { status: 'starting' }) });
    server.route('GET', '/v1/predictions/run1', (_request, hit) => {
      if (hit === 2) controller.abort();
      return { json: prediction(server, 'run1', { status: 'processing' }) };
    });
    server.route('POST', '/v1/predictions/run1/cancel', { json: prediction(server, 'run1', { status: 'canceled' }) });
    await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal }), (error: unknown) => AbortedError.isInstance(error) && /cancelled at replicate/.test(error.message));
    const cancels = server.requestsTo('POST', '/v1/predictions/run1/cancel');
    assert.equal(cancels.length, 1);
    assert.equal(cancels[0]!.headers.authorization, 'Bearer r8_test');
  });

  test('the overall timeout cancels a running prediction too, and names the limit', async () => {
    const { server, provider } = await fresh({ timeoutMs: 150, pollIntervalMs: 20, sleep: (milliseconds, signal) => new Promise((resolve, reject) => { const timer = setTimeout(resolve, milliseconds); signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }); }) });
    server.route('POST', schnell, { status: 201, json: prediction(server, 'stuck1', { status: 'starting' }) });
    server.route('GET', '/v1/predictions/stuck1', { json: prediction(server, 'stuck1', { status: 'starting' }) });
    server.route('POST', '/v1/predictions/stuck1/cancel', { json: prediction(server, 'stuck1', { status: 'canceled' }) });
    await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => TimeoutError.isInstance(error) && error.timeoutMs === 150);
    assert.equal(server.requestsTo('POST', '/v1/predictions/stuck1/cancel').length, 1);
  });

  test('no API token: an AuthenticationError naming REPLICATE_API_TOKEN, and nothing sent', async () => {
    const { server } = await fresh();
    const saved = process.env.REPLICATE_API_TOKEN;
    delete process.env.REPLICATE_API_TOKEN;
    try {
      const provider = createReplicate({ baseURL: `${server.url}/v1` });
      await assert.rejects(provider('black-forest-labs/flux-schnell').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'REPLICATE_API_TOKEN' && /REPLICATE_API_TOKEN/.test(error.message));
      assert.equal(server.requests.length, 0);
    } finally {
      if (saved !== undefined) process.env.REPLICATE_API_TOKEN = saved;
    }
  });

  test('a malformed model id is refused before any request, naming `model`', async () => {
    const { server, provider } = await fresh();
    await assert.rejects(provider('flux-schnell').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => (error as { argument?: string }).argument === 'model' && /owner\/name/.test((error as Error).message));
    assert.equal(server.requests.length, 0);
  });
});
