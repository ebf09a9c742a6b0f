import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { createFal, type FalProviderSettings } from './fal-provider.js';

const presets: Record<string, [number, number]> = { square_hd: [1024, 1024], square: [512, 512], portrait_4_3: [768, 1024], portrait_16_9: [576, 1024], landscape_4_3: [1024, 768], landscape_16_9: [1024, 576] };
/** What each submitted request asked for, by request id. */
const submitted = new Map<string, any>();
let requestCount = 0;

/** Answers a submit like queue.fal.run: the request id and its URLs, which name the app without the endpoint's sub-path. */
const submitAnswer = (server: MockApiServer, app: string): MockHandler => (request) => {
  const id = `req-${(requestCount += 1)}`;
  submitted.set(id, request.json);
  const base = `${server.url}/${app}/requests/${id}`;
  return { json: { status: 'IN_QUEUE', request_id: id, response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel`, queue_position: 0 } };
};

/** A FLUX result for the request: one image per `num_images`, at `image_size`, the seed echoed. */
function resultFor(server: MockApiServer, id: string, fields: Record<string, unknown> = {}) {
  const input = submitted.get(id) ?? {};
  const [width, height] = typeof input.image_size === 'object' ? [input.image_size.width, input.image_size.height] : presets[input.image_size ?? 'landscape_4_3']!;
  const format = input.output_format ?? 'jpeg';
  const count = Number(input.num_images ?? 1);
  const images = Array.from({ length: count }, (_, index) => ({ url: `${server.url}/files/${id}-${index}-${width}x${height}.${format}`, width, height, content_type: `image/${format}` }));
  return { images, timings: { inference: 0.75 }, seed: input.seed ?? 920212137, has_nsfw_concepts: Array(count).fill(false), prompt: input.prompt, ...fields };
}

/** Status and result routes of an app: COMPLETED at once, then the result. */
const queueAnswer = (server: MockApiServer): MockHandler => (request) => {
  const [, id, status] = /requests\/([^/]+)(\/status)?$/.exec(request.path)!;
  return status ? { json: { status: 'COMPLETED', request_id: id, response_url: `${server.url}${request.path.replace(/\/status$/, '')}` } } : { json: resultFor(server, id!) };
};

async function mockFal(settings: FalProviderSettings = {}) {
  const server = await startMockApiServer();
  for (const [model, app] of [['fal-ai/flux/schnell', 'fal-ai/flux'], ['fal-ai/flux/dev', 'fal-ai/flux'], ['fal-ai/flux-pro/v1.1', 'fal-ai/flux-pro'], ['fal-ai/recraft-v3', 'fal-ai/recraft-v3']] as const) {
    server.route('POST', `/${model}`, submitAnswer(server, app));
    server.route('GET', `/${app}/requests/*`, queueAnswer(server));
  }
  server.route('GET', '/files/*', async (request) => {
    const [, width, height, format] = /(\d+)x(\d+)\.(\w+)$/.exec(request.path)!;
    return { headers: { 'content-type': `image/${format}` }, body: await testImage(format as 'jpeg' | 'png', Number(width) / 16, Number(height) / 16) };
  });
  const sleeper = recordingSleep();
  const provider = createFal({ apiKey: 'fal-test', baseURL: server.url, sleep: sleeper.sleep, random: () => 0.5, pollIntervalMs: 5, ...settings });
  return { server, provider, delays: sleeper.delays };
}

for (const modelId of ['fal-ai/flux/schnell', 'fal-ai/flux/dev', 'fal-ai/flux-pro/v1.1']) {
  providerConformance({
    name: `fal:${modelId}`,
    size: { width: 1024, height: 1024 },
    async setup() {
      const { server, provider } = await mockFal();
      return { model: provider(modelId), close: () => server.close() };
    },
  });
}

describe('fal requests', () => {
  let mock: Awaited<ReturnType<typeof mockFal>>;
  before(async () => {
    mock = await mockFal();
  });
  after(() => mock.server.close());

  test('a request is submitted to the queue with FLUX inputs and `Key` auth, then polled and fetched at the URLs fal returned', async () => {
    const result = await mock.provider('fal-ai/flux/dev').doGenerate({ prompt: 'a fox', n: 2, seed: 42, steps: 20, guidance: 4, aspectRatio: '16:9', providerOptions: { fal: { outputFormat: 'png', enableSafetyChecker: false } } });
    const sent = mock.server.requestsTo('POST', '/fal-ai/flux/dev').at(-1)!;
    assert.equal(sent.headers.authorization, 'Key fal-test');
    assert.deepEqual(sent.json, { prompt: 'a fox', seed: 42, num_images: 2, image_size: 'landscape_16_9', num_inference_steps: 20, guidance_scale: 4, output_format: 'png', enable_safety_checker: false });
    const id = result.response.requestId!;
    // The sub-path (/dev) is in the submit URL only.
    assert.equal(mock.server.requestsTo('GET', `/fal-ai/flux/requests/${id}/status`)[0]!.headers.authorization, 'Key fal-test');
    assert.equal(mock.server.requestsTo('GET', `/fal-ai/flux/requests/${id}`).length, 1);
    assert.equal(mock.server.requestsTo('GET', `/files/${id}-0-1024x576.png`)[0]!.headers.authorization, undefined, 'CDN URLs get no key');
    assert.deepEqual(result.images.map((image) => [image.mediaType, image.settings.width, image.settings.height, image.settings.steps, image.settings.guidance]), [['image/png', 64, 36, 20, 4], ['image/png', 64, 36, 20, 4]]);
    // One seed made both images: neither can be remade alone from it.
    assert.deepEqual(result.images.map((image) => image.settings.seed), [undefined, undefined]);
    assert.deepEqual(result.warnings.map((warning) => warning.type !== 'other' && warning.setting), ['seed']);
    assert.equal(result.response.timings.inference, 750);
    assert.deepEqual(result.cost && { amountUsd: result.cost.amountUsd, priceDate: result.cost.priceDate }, { amountUsd: 0.05, priceDate: '2024-08-01' });
  });

  test('one image per request records the seed fal reports', async () => {
    const { server, provider } = mock;
    server.route('GET', '/fal-ai/flux/requests/*', (request) => {
      const [, id, status] = /requests\/([^/]+)(\/status)?$/.exec(request.path)!;
      return status ? { json: { status: 'COMPLETED' } } : { json: resultFor(server, id!, { seed: 777 }) };
    });
    const result = await provider('fal-ai/flux/schnell').doGenerate({ prompt: 'a koi', n: 1 });
    assert.equal(result.images[0]!.settings.seed, '777');
    server.route('GET', '/fal-ai/flux/requests/*', queueAnswer(server));
  });

  test('width × height is sent exactly; a preset in providerOptions wins with a warning; a ratio goes to the nearest preset', async () => {
    await mock.provider('fal-ai/flux/schnell').doGenerate({ prompt: 'a', n: 1, width: 1280, height: 720 });
    assert.deepEqual(mock.server.requestsTo('POST', '/fal-ai/flux/schnell').at(-1)!.json.image_size, { width: 1280, height: 720 });
    const preset = await mock.provider('fal-ai/flux/schnell').doGenerate({ prompt: 'b', n: 1, width: 1280, height: 720, providerOptions: { fal: { imageSize: 'square' } } });
    assert.equal(mock.server.requestsTo('POST', '/fal-ai/flux/schnell').at(-1)!.json.image_size, 'square');
    assert.ok(preset.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'size' && /square/.test(warning.details)));
    const wide = await mock.provider('fal-ai/flux/schnell').doGenerate({ prompt: 'c', n: 1, aspectRatio: '21:9' });
    assert.equal(mock.server.requestsTo('POST', '/fal-ai/flux/schnell').at(-1)!.json.image_size, 'landscape_16_9');
    assert.ok(wide.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'aspectRatio'));
  });

  test('flux-pro v1.1 takes its own options; options it lacks are warned about, never sent', async () => {
    const result = await mock.provider('fal-ai/flux-pro/v1.1').doGenerate({ prompt: 'a tower', n: 1, seed: 5, providerOptions: { fal: { safetyTolerance: 5, enhancePrompt: true, acceleration: 'high' } } });
    assert.deepEqual(mock.server.requestsTo('POST', '/fal-ai/flux-pro/v1.1').at(-1)!.json, { prompt: 'a tower', seed: 5, num_images: 1, safety_tolerance: '5', enhance_prompt: true });
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'providerOptions.fal.acceleration'));
    assert.equal(mock.server.requestsTo('GET', `/fal-ai/flux-pro/requests/${result.response.requestId}`).length, 1);
  });

  test('a queued request is polled until COMPLETED; the queue position is not reported as progress', async () => {
    const { server, provider, delays } = mock;
    server.route('GET', '/fal-ai/flux/requests/*', (request, hit) => {
      const [, id, status] = /requests\/([^/]+)(\/status)?$/.exec(request.path)!;
      if (!status) return { json: resultFor(server, id!) };
      return { status: hit < 2 ? 202 : 200, json: [{ status: 'IN_QUEUE', queue_position: 3 }, { status: 'IN_PROGRESS', logs: [] }, { status: 'COMPLETED' }][Math.min(hit, 2)] };
    });
    const progress: ImageModelProgress[] = [];
    const before = delays.length;
    const result = await provider('fal-ai/flux/dev').doGenerate({ prompt: 'a slow cat', n: 1, onProgress: (event) => progress.push(event) });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays.slice(before), [5, 5]);
    assert.deepEqual(progress, []);
    assert.equal(typeof result.response.timings.queue, 'number');
    server.route('GET', '/fal-ai/flux/requests/*', queueAnswer(server));
  });

  test('any other model id gets the prompt, the seed and providerOptions.fal.input, one image per request', async () => {
    const result = await mock.provider('fal-ai/recraft-v3').doGenerate({ prompt: 'a logo', n: 2, seed: 10, width: 1024, height: 1024, providerOptions: { fal: { input: { style: 'vector_illustration', image_size: 'square_hd' } } } });
    assert.deepEqual(mock.server.requestsTo('POST', '/fal-ai/recraft-v3').map((request) => request.json), [
      { prompt: 'a logo', seed: 10, style: 'vector_illustration', image_size: 'square_hd' },
      { prompt: 'a logo', seed: 11, style: 'vector_illustration', image_size: 'square_hd' },
    ]);
    assert.deepEqual(result.images.map((image) => image.settings.seed), ['10', '11']);
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'size'));
    assert.equal(result.cost, undefined);
  });

  test('images fal flagged and blacked out are left out with a warning', async () => {
    const { server, provider } = mock;
    server.route('GET', '/fal-ai/flux/requests/*', (request) => {
      const [, id, status] = /requests\/([^/]+)(\/status)?$/.exec(request.path)!;
      return status ? { json: { status: 'COMPLETED' } } : { json: resultFor(server, id!, { has_nsfw_concepts: [true, false] }) };
    });
    const result = await provider('fal-ai/flux/schnell').doGenerate({ prompt: 'a beach', n: 2 });
    assert.equal(result.images.length, 1);
    assert.ok(result.warnings.some((warning) => warning.type === 'other' && /flagged 1 of 2/.test(warning.message)));
    server.route('GET', '/fal-ai/flux/requests/*', queueAnswer(server));
  });

  test('sync mode results carry data URIs, decoded without a download', async () => {
    const { server, provider } = mock;
    const png = await testImage('png', 16, 16);
    server.route('GET', '/fal-ai/flux/requests/*', (request) => {
      const [, id, status] = /requests\/([^/]+)(\/status)?$/.exec(request.path)!;
      return status ? { json: { status: 'COMPLETED' } } : { json: resultFor(server, id!, { images: [{ url: `data:image/png;base64,${Buffer.from(png).toString('base64')}`, width: 16, height: 16, content_type: 'image/png' }] }) };
    });
    const downloads = server.requests.filter((request) => request.path.startsWith('/files/')).length;
    const result = await provider('fal-ai/flux/schnell').doGenerate({ prompt: 'a dot', n: 1, providerOptions: { fal: { syncMode: true } } });
    assert.equal(mock.server.requestsTo('POST', '/fal-ai/flux/schnell').at(-1)!.json.sync_mode, true);
    assert.deepEqual(Buffer.from(result.images[0]!.bytes), Buffer.from(png));
    assert.equal(server.requests.filter((request) => request.path.startsWith('/files/')).length, downloads);
    server.route('GET', '/fal-ai/flux/requests/*', queueAnswer(server));
  });
});

describe('fal failures', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: FalProviderSettings = {}) => {
    const mock = await mockFal(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));
  /** Status COMPLETED; the result route answers `result`. */
  const completedWith = (result: MockHandler): MockHandler => (request, hit) => (/\/status$/.test(request.path) ? { json: { status: 'COMPLETED' } } : typeof result === 'function' ? result(request, hit) : result);

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays } = await fresh();
    server.route('POST', '/fal-ai/flux/schnell', { status: 429, headers: { 'retry-after': '2' }, json: { detail: 'Too many concurrent requests' } }, submitAnswer(server, 'fal-ai/flux'));
    const result = await provider('fal-ai/flux/schnell').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(delays.filter((delay) => delay !== 5), [2000]);
    assert.deepEqual(result.attempts?.filter((attempt) => attempt.request?.startsWith('POST')).map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs })), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 2000 },
      { outcome: 'succeeded', statusCode: 200, retryDelayMs: undefined },
    ]);
  });

  test('500 then success: one retry after an exponential delay with jitter', async () => {
    const { server, provider, delays } = await fresh({ retryDelayMs: 400 });
    server.route('POST', '/fal-ai/flux/schnell', { status: 500, json: { detail: 'The runner encountered an internal server error', error_type: 'runner_server_error' } }, submitAnswer(server, 'fal-ai/flux'));
    const result = await provider('fal-ai/flux/schnell').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays, [300]);
  });

  test('a content_policy_violation is a ContentPolicyError and is not retried', async () => {
    const { server, provider } = await fresh();
    server.route('GET', '/fal-ai/flux/requests/*', completedWith({ status: 422, json: { detail: [{ loc: ['body', 'prompt'], msg: 'The content could not be processed because it contained material flagged by a content checker.', type: 'content_policy_violation', url: 'https://docs.fal.ai/errors#content_policy_violation' }] } }));
    await assert.rejects(provider('fal-ai/flux/dev').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && /flagged by a content checker/.test(error.message));
    assert.equal(server.requests.filter((request) => request.method === 'GET' && !request.path.endsWith('/status')).length, 1);
  });

  test('every image flagged by the safety checker is a ContentPolicyError', async () => {
    const { server, provider } = await fresh();
    server.route('GET', '/fal-ai/flux/requests/*', completedWith((request) => ({ json: resultFor(server, /requests\/([^/]+)$/.exec(request.path)![1]!, { has_nsfw_concepts: [true] }) })));
    await assert.rejects(provider('fal-ai/flux/dev').doGenerate({ prompt: 'a beach', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && /flagged every image/.test(error.message));
  });

  test('a 422 naming an input is an InvalidRequestError with that field', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/fal-ai/flux/dev', { status: 422, json: { detail: [{ loc: ['body', 'num_inference_steps'], msg: 'Input should be less than or equal to 50', type: 'less_than_equal' }] } });
    await assert.rejects(provider('fal-ai/flux/dev').doGenerate({ prompt: 'a cat', n: 1, steps: 80 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === 'num_inference_steps' && /less than or equal to 50/.test(error.message));
  });

  test('malformed JSON is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('GET', '/fal-ai/flux/requests/*', completedWith({ headers: { 'content-type': 'application/json' }, body: '{"images": [{"url": "https://v3.fal.me' }));
    await assert.rejects(provider('fal-ai/flux/dev').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('result images are downloaded at once, before their URLs expire', async () => {
    const { server, provider } = await fresh();
    let answeredAt = 0;
    const jpeg = await testImage('jpeg', 32, 24);
    server.route('GET', '/fal-ai/flux/requests/*', completedWith(() => {
      answeredAt = Date.now();
      return { json: { images: [{ url: `${server.url}/cdn/out.jpeg`, width: 1024, height: 768, content_type: 'image/jpeg' }], seed: 1, has_nsfw_concepts: [false], timings: {} } };
    }));
    server.route('GET', '/cdn/out.jpeg', () => (Date.now() - answeredAt < 500 ? { headers: { 'content-type': 'image/jpeg' }, body: jpeg } : { status: 403, body: 'Request has expired' }));
    const result = await provider('fal-ai/flux/dev').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(Buffer.from(result.images[0]!.bytes), Buffer.from(jpeg));
  });

  test('aborting while the request waits in the queue ends the call with AbortedError and cancels it at fal', async () => {
    const { server, provider } = await fresh();
    const controller = new AbortController();
    server.route('GET', '/fal-ai/flux/requests/*', (_request, hit) => {
      if (hit === 2) controller.abort();
      return { status: 202, json: { status: 'IN_QUEUE', queue_position: 4 } };
    });
    server.route('PUT', '/fal-ai/flux/requests/*', { status: 202, json: { status: 'CANCELLATION_REQUESTED' } });
    await assert.rejects(provider('fal-ai/flux/dev').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal }), (error: unknown) => AbortedError.isInstance(error) && /cancelled in fal's queue/.test(error.message));
    const [cancel, ...more] = server.requests.filter((request) => request.method === 'PUT');
    assert.equal(more.length, 0);
    assert.match(cancel!.path, /^\/fal-ai\/flux\/requests\/req-\d+\/cancel$/);
    assert.equal(cancel!.headers.authorization, 'Key fal-test');
  });

  test('the overall timeout cancels a running request too, and names the limit', async () => {
    const { server, provider } = await fresh({ timeoutMs: 150, pollIntervalMs: 20, sleep: (milliseconds, signal) => new Promise((resolve, reject) => { const timer = setTimeout(resolve, milliseconds); signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason); }); }) });
    server.route('GET', '/fal-ai/flux/requests/*', { status: 202, json: { status: 'IN_PROGRESS', logs: [] } });
    server.route('PUT', '/fal-ai/flux/requests/*', { status: 202, json: { status: 'CANCELLATION_REQUESTED' } });
    await assert.rejects(provider('fal-ai/flux/dev').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => TimeoutError.isInstance(error) && error.timeoutMs === 150);
    assert.equal(server.requests.filter((request) => request.method === 'PUT').length, 1);
  });

  test('no key: an AuthenticationError naming FAL_KEY, and nothing sent', async () => {
    const { server } = await fresh();
    const saved = process.env.FAL_KEY;
    delete process.env.FAL_KEY;
    try {
      const provider = createFal({ baseURL: server.url });
      await assert.rejects(provider('fal-ai/flux/dev').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'FAL_KEY' && /FAL_KEY/.test(error.message));
      assert.equal(server.requests.length, 0);
    } finally {
      if (saved !== undefined) process.env.FAL_KEY = saved;
    }
  });

  test('PIXELPIPE_FAL_BASE_URL points the provider at a gateway', async () => {
    const { server } = await fresh();
    process.env.PIXELPIPE_FAL_BASE_URL = `${server.url}/`;
    try {
      const result = await createFal({ apiKey: 'fal-gateway', sleep: recordingSleep().sleep })('fal-ai/flux/schnell').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(result.images.length, 1);
      assert.equal(server.requestsTo('POST', '/fal-ai/flux/schnell')[0]!.headers.authorization, 'Key fal-gateway');
    } finally {
      delete process.env.PIXELPIPE_FAL_BASE_URL;
    }
  });
});
