import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { GenerationFailedError } from '../../spec/errors/generation-failed-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import type { ImageModelProgress } from '../../spec/image-model-call-options.js';
import type { ImageModelAttempt } from '../../spec/image-model-usage.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler, type RecordedApiRequest } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { hostedDefaults } from '../shared/provider-settings.js';
import { createBfl, type BflProviderSettings } from './bfl-provider.js';

/** Answers like BFL: a task per submission, Pending on the first poll, Ready with a signed URL that expires after 500 ms on the next. */
function bflMock(server: MockApiServer) {
  const tasks = new Map<string, { body: any; polls: number; readyAt: number }>();
  const submit: MockHandler = (request) => {
    const id = `task-${tasks.size + 1}`;
    tasks.set(id, { body: request.json, polls: 0, readyAt: 0 });
    return { json: { id, polling_url: `${server.url}/v1/get_result?id=${id}`, cost: 4 } };
  };
  const poll: MockHandler = (request) => {
    const id = request.query.get('id') ?? '';
    const task = tasks.get(id);
    if (!task) return { json: { id, status: 'Task not found' } };
    task.polls += 1;
    if (task.polls === 1) return { json: { id, status: 'Pending', progress: 0.5, result: null } };
    task.readyAt = Date.now();
    const prompt = task.body.prompt_upsampling ? `${task.body.prompt}, golden hour, detailed` : task.body.prompt;
    return { json: { id, status: 'Ready', result: { sample: `${server.url}/delivery/${id}.jpeg?sig=abc`, seed: task.body.seed ?? 777, prompt, start_time: 1, end_time: 2, duration: 1 }, progress: null } };
  };
  const delivery: MockHandler = async (request) => {
    const id = request.path.replace(/^\/delivery\/|\.jpeg$/g, '');
    const task = tasks.get(id)!;
    if (Date.now() - task.readyAt > 500) return { status: 403, body: '<Error><Code>AuthenticationFailed</Code><Message>Signature expired</Message></Error>' };
    const { width = 1024, height = 1024 } = task.body;
    return { headers: { 'content-type': 'image/jpeg' }, body: await testImage('jpeg', Math.round(width / 16), Math.round(height / 16)) };
  };
  server.route('POST', '/v1/*', submit);
  server.route('GET', '/v1/get_result', poll);
  server.route('GET', '/delivery/*', delivery);
  return { tasks, submit, poll };
}

async function mockBfl(settings: BflProviderSettings = {}) {
  const server = await startMockApiServer();
  const mock = bflMock(server);
  const sleeper = recordingSleep();
  const provider = createBfl({ apiKey: 'bfl-test-key', baseURL: server.url, sleep: sleeper.sleep, pollIntervalMs: 5, random: () => 0.5, ...settings });
  return { server, provider, delays: sleeper.delays, ...mock };
}

const submissions = (server: MockApiServer, model: string) => server.requestsTo('POST', `/v1/${model}`);

for (const [modelId, edits] of [['flux-pro-1.1', false], ['flux-dev', false], ['flux-kontext-pro', true], ['flux-2-pro', true]] as const) {
  providerConformance({
    name: `bfl:${modelId}`,
    edits,
    size: { width: 1024, height: 1024 },
    async setup() {
      const { server, provider } = await mockBfl();
      return { model: provider(modelId), close: () => server.close() };
    },
  });
}

describe('bfl requests', () => {
  let mock: Awaited<ReturnType<typeof mockBfl>>;
  before(async () => {
    mock = await mockBfl();
  });
  after(() => mock.server.close());

  test('a task is submitted with x-key, polled at its polling_url, and its signed sample fetched without the key', async () => {
    const progress: ImageModelProgress[] = [];
    const result = await mock.provider('flux-pro-1.1').doGenerate({ prompt: 'a fox', n: 1, width: 1024, height: 768, seed: 42, onProgress: (update) => progress.push(update), providerOptions: { bfl: { safetyTolerance: 2, outputFormat: 'png', promptUpsampling: true } } });
    const submitted = submissions(mock.server, 'flux-pro-1.1').at(-1)!;
    assert.equal(submitted.headers['x-key'], 'bfl-test-key');
    assert.equal(submitted.headers.authorization, undefined);
    assert.match(String(submitted.headers['content-type']), /application\/json/);
    assert.deepEqual(submitted.json, { prompt: 'a fox', seed: 42, width: 1024, height: 768, safety_tolerance: 2, output_format: 'png', prompt_upsampling: true });
    const polls = mock.server.requestsTo('GET', '/v1/get_result').filter((request) => request.query.get('id') === result.response.requestId);
    assert.equal(polls.length, 2);
    assert.ok(polls.every((request) => request.headers['x-key'] === 'bfl-test-key'));
    const download = mock.server.requests.filter((request) => request.path.startsWith('/delivery/')).at(-1)!;
    assert.equal(download.headers['x-key'], undefined, 'signed URLs get no API key');
    assert.equal(download.query.get('sig'), 'abc');
    const [image] = result.images;
    assert.deepEqual([image!.settings.width, image!.settings.height, image!.settings.seed], [64, 48, '42']);
    assert.equal(image!.revisedPrompt, 'a fox, golden hour, detailed');
    assert.deepEqual(progress.map(({ imageIndex, step, steps }) => ({ imageIndex, step, steps })), [{ imageIndex: 0, step: 50, steps: 100 }]);
    assert.deepEqual(result.cost && { amountUsd: result.cost.amountUsd, priceDate: result.cost.priceDate }, { amountUsd: 0.04, priceDate: '2024-10-02' });
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.response.providerMetadata, { taskId: result.response.requestId });
  });

  test('the seed the task reports is the image seed; n=2 is two tasks with consecutive seeds', async () => {
    const result = await mock.provider('flux-2-pro').doGenerate({ prompt: 'a koi pond', n: 2, seed: 10 });
    assert.deepEqual(submissions(mock.server, 'flux-2-pro').slice(-2).map((request) => request.json.seed), [10, 11]);
    assert.deepEqual(result.images.map((image) => image.settings.seed), ['10', '11']);
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'n'));
    const unseeded = await mock.provider('flux-2-pro').doGenerate({ prompt: 'a koi pond', n: 1 });
    const sent = submissions(mock.server, 'flux-2-pro').at(-1)!.json.seed;
    assert.equal(unseeded.images[0]!.settings.seed, String(sent), 'a random seed is sent and recorded');
  });

  test('FLUX.1 sizes go to multiples of 32 within 256–1440, with a warning when they move', async () => {
    const moved = await mock.provider('flux-pro-1.1').doGenerate({ prompt: 'a tower', n: 1, width: 1000, height: 700 });
    assert.deepEqual([submissions(mock.server, 'flux-pro-1.1').at(-1)!.json.width, submissions(mock.server, 'flux-pro-1.1').at(-1)!.json.height], [992, 704]);
    assert.ok(moved.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'size' && /992x704/.test(warning.details)));
    await mock.provider('flux-pro-1.1').doGenerate({ prompt: 'a tower', n: 1, width: 2048, height: 2048 });
    assert.deepEqual([submissions(mock.server, 'flux-pro-1.1').at(-1)!.json.width, submissions(mock.server, 'flux-pro-1.1').at(-1)!.json.height], [1440, 1440]);
  });

  test('FLUX.2 sizes go to multiples of 16 up to 4 MP; an aspect ratio alone is about 1 MP', async () => {
    const wide = await mock.provider('flux-2-pro').doGenerate({ prompt: 'a panorama', n: 1, aspectRatio: '16:9' });
    assert.deepEqual([submissions(mock.server, 'flux-2-pro').at(-1)!.json.width, submissions(mock.server, 'flux-2-pro').at(-1)!.json.height], [1360, 768]);
    assert.deepEqual(wide.warnings, []);
    await mock.provider('flux-2-pro').doGenerate({ prompt: 'a panorama', n: 1, width: 3000, height: 3000 });
    assert.deepEqual([submissions(mock.server, 'flux-2-pro').at(-1)!.json.width, submissions(mock.server, 'flux-2-pro').at(-1)!.json.height], [2048, 2048]);
  });

  test('flux-dev takes steps and guidance, kept within the documented range', async () => {
    const result = await mock.provider('flux-dev').doGenerate({ prompt: 'a cat', n: 1, steps: 28, guidance: 7 });
    const body = submissions(mock.server, 'flux-dev').at(-1)!.json;
    assert.deepEqual([body.steps, body.guidance], [28, 5]);
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'guidance'));
    assert.equal(result.images[0]!.settings.steps, 28);
  });

  test('Kontext edits send input images as base64 and are sized by aspect ratio', async () => {
    const image = await testImage('png', 64, 48);
    const second = await testImage('jpeg', 32, 32, { r: 0, g: 0, b: 255 });
    const result = await mock.provider('flux-kontext-pro').doGenerate({ prompt: 'make it night', n: 1, images: [image, second], width: 1344, height: 768 });
    const body = submissions(mock.server, 'flux-kontext-pro').at(-1)!.json;
    assert.equal(body.input_image, Buffer.from(image).toString('base64'));
    assert.equal(body.input_image_2, Buffer.from(second).toString('base64'));
    assert.equal(body.aspect_ratio, '16:9');
    assert.equal(body.width, undefined);
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'size'));
    assert.equal(result.images[0]!.settings.operation, 'image-to-image');
  });

  test('Ultra takes raw and an aspect ratio; raw elsewhere is a warning, and so is a mask', async () => {
    await mock.provider('flux-pro-1.1-ultra').doGenerate({ prompt: 'a glacier', n: 1, aspectRatio: '21:9', providerOptions: { bfl: { raw: true } } });
    assert.deepEqual(submissions(mock.server, 'flux-pro-1.1-ultra').at(-1)!.json, { prompt: 'a glacier', seed: submissions(mock.server, 'flux-pro-1.1-ultra').at(-1)!.json.seed, aspect_ratio: '21:9', raw: true });
    const elsewhere = await mock.provider('flux-pro-1.1').doGenerate({ prompt: 'a glacier', n: 1, providerOptions: { bfl: { raw: true } } });
    assert.ok(elsewhere.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'providerOptions.bfl.raw'));
    await assert.rejects(mock.provider('flux-kontext-pro').doGenerate({ prompt: 'x', n: 1, images: [await testImage()], mask: await testImage() }), (error: unknown) => (error as { argument?: string }).argument === 'mask');
  });

  test('FLUX.2 caps safety_tolerance at 5', async () => {
    const result = await mock.provider('flux-2-pro').doGenerate({ prompt: 'a cat', n: 1, providerOptions: { bfl: { safetyTolerance: 6 } } });
    assert.equal(submissions(mock.server, 'flux-2-pro').at(-1)!.json.safety_tolerance, 5);
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'providerOptions.bfl.safetyTolerance'));
  });
});

describe('bfl failures', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: BflProviderSettings = {}) => {
    const mock = await mockBfl(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));
  const submitAttempts = (attempts: ImageModelAttempt[] | undefined) =>
    attempts?.filter((attempt) => attempt.request === 'POST /v1/flux-pro-1.1').map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs }));

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays, submit } = await fresh();
    server.route('POST', '/v1/*', { status: 429, headers: { 'retry-after': '3' }, json: { detail: 'You have exceeded the number of active tasks (24).' } }, submit);
    const result = await provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.equal(delays[0], 3000);
    assert.deepEqual(submitAttempts(result.attempts), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 3000 },
      { outcome: 'succeeded', statusCode: 200, retryDelayMs: undefined },
    ]);
  });

  test('500 on submit and 503 on a poll are retried, then the task succeeds', async () => {
    const { server, provider, delays, submit, poll } = await fresh({ retryDelayMs: 1000 });
    server.route('POST', '/v1/*', { status: 500, json: { detail: 'Internal Server Error' } }, submit);
    server.route('GET', '/v1/get_result', { status: 503, body: 'Service Unavailable' }, poll);
    const result = await provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    // random() = 0.5 → 750 ms before each retry; 5 ms between polls.
    assert.deepEqual(delays, [750, 750, 5]);
  });

  for (const status of ['Request Moderated', 'Content Moderated']) {
    test(`${status} is a ContentPolicyError, not retried and not polled again`, async () => {
      const { server, provider } = await fresh();
      server.route('GET', '/v1/get_result', { json: { id: 'task-1', status, details: { 'Moderation Reasons': ['Derivative Works Filter'] } } });
      await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && /Derivative Works Filter/.test(error.message) && error.message.includes(status));
      assert.equal(submissions(server, 'flux-pro-1.1').length, 1);
      assert.equal(server.requestsTo('GET', '/v1/get_result').length, 1);
    });
  }

  test('status Error is a non-retryable failure that carries the details', async () => {
    const { server, provider } = await fresh();
    server.route('GET', '/v1/get_result', { json: { id: 'task-1', status: 'Error', details: { error: 'input image could not be decoded' } } });
    await assert.rejects(provider('flux-kontext-pro').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => GenerationFailedError.isInstance(error) && !error.isRetryable && /could not be decoded/.test(error.message));
    assert.equal(submissions(server, 'flux-kontext-pro').length, 1);
  });

  test('Task not found is an InvalidRequestError naming the task', async () => {
    const { server, provider } = await fresh();
    server.route('GET', '/v1/get_result', { json: { id: 'task-1', status: 'Task not found' } });
    await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && /task-1/.test(error.message));
  });

  test('a 422 names the field BFL objected to', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/*', { status: 422, json: { detail: [{ loc: ['body', 'width'], msg: 'Input should be less than or equal to 1440', type: 'less_than_equal' }] } });
    await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === 'width' && /1440/.test(error.message));
  });

  test('malformed JSON on submit or poll is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/*', { headers: { 'content-type': 'application/json' }, body: '{"id": "task-1", "polling_' });
    await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
    const second = await fresh();
    second.server.route('GET', '/v1/get_result', { headers: { 'content-type': 'application/json' }, body: '{"status": "Rea' });
    await assert.rejects(second.provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('the signed sample URL is fetched at once, before it expires; an expired one says the result is lost', async () => {
    const { server, provider, tasks } = await fresh();
    const result = await provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.ok(Date.now() - tasks.get('task-1')!.readyAt < 500);
    server.route('GET', '/delivery/*', { status: 403, body: 'Signature expired' });
    await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /expire/.test(error.message));
  });

  test('without polling_url the task is polled at /v1/get_result on the base URL', async () => {
    const { server, provider, submit } = await fresh();
    server.route('POST', '/v1/*', async (request, hit) => {
      const answer = await (submit as (request: RecordedApiRequest, hit: number) => Promise<{ json: { id: string } }>)(request, hit);
      return { json: { id: answer.json.id } };
    });
    const result = await provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.equal(server.requestsTo('GET', '/v1/get_result')[0]!.query.get('id'), 'task-1');
  });

  test('aborting mid-poll ends the call with AbortedError and stops polling; BFL has no cancel endpoint to call', async () => {
    const { server, provider } = await fresh({ sleep: hostedDefaults.sleep, pollIntervalMs: 10 });
    server.route('GET', '/v1/get_result', { json: { id: 'task-1', status: 'Pending', progress: 0.1 } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 60);
    await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal }), (error: unknown) => AbortedError.isInstance(error) && /no cancel endpoint/.test(error.message));
    // A poll already on the wire when the signal fired may still reach the server; none may start later.
    await new Promise((resolve) => setTimeout(resolve, 30));
    const polls = server.requestsTo('GET', '/v1/get_result').length;
    assert.ok(polls >= 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(server.requestsTo('GET', '/v1/get_result').length, polls, 'no poll after the abort');
    assert.deepEqual(server.requests.map((request) => request.method).filter((method) => method !== 'GET' && method !== 'POST'), []);
  });

  test('the overall timeout ends a task that never finishes with TimeoutError naming the limit', async () => {
    const { server, provider } = await fresh({ sleep: hostedDefaults.sleep, pollIntervalMs: 10, timeoutMs: 80 });
    server.route('GET', '/v1/get_result', { json: { id: 'task-1', status: 'Pending' } });
    await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => TimeoutError.isInstance(error) && error.timeoutMs === 80 && /80 ms/.test(error.message));
  });

  test('no API key: an AuthenticationError naming BFL_API_KEY, and nothing sent', async () => {
    const { server } = await fresh();
    const saved = process.env.BFL_API_KEY;
    delete process.env.BFL_API_KEY;
    try {
      const provider = createBfl({ baseURL: server.url });
      await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'BFL_API_KEY' && /BFL_API_KEY/.test(error.message));
      assert.equal(server.requests.length, 0);
    } finally {
      if (saved !== undefined) process.env.BFL_API_KEY = saved;
    }
  });

  test('a 403 is an AuthenticationError that says which variable to check', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/*', { status: 403, json: { detail: 'Not authenticated - Invalid Authentication' } });
    await assert.rejects(provider('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && /Invalid Authentication.*BFL_API_KEY/.test(error.message));
  });

  test('PIXELPIPE_BFL_BASE_URL points the provider at a regional endpoint or gateway', async () => {
    const { server } = await fresh();
    process.env.PIXELPIPE_BFL_BASE_URL = `${server.url}/`;
    try {
      const result = await createBfl({ apiKey: 'bfl-gateway', sleep: recordingSleep().sleep })('flux-pro-1.1').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(result.images.length, 1);
      assert.equal(submissions(server, 'flux-pro-1.1')[0]!.headers['x-key'], 'bfl-gateway');
    } finally {
      delete process.env.PIXELPIPE_BFL_BASE_URL;
    }
  });
});
