import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { createFirefly, type FireflyProviderSettings } from './firefly-provider.js';

/**
 * Answers like Firefly: an IMS token, uploads, and async jobs that run for one poll (reporting progress)
 * and then succeed with one presigned URL per variation, which answers 403 when fetched late.
 */
async function mockFirefly(settings: FireflyProviderSettings = {}) {
  const server = await startMockApiServer();
  const jobs = new Map<string, { body: any; handedOutAt?: number }>();
  let uploads = 0;
  server.route('POST', '/ims/token/v3', { json: { access_token: 'token-1', token_type: 'bearer', expires_in: 86399 } });
  server.route('POST', '/v2/storage/image', () => ({ json: { images: [{ id: `upload-${(uploads += 1)}` }] } }));
  const submit: MockHandler = (request) => {
    const jobId = `urn:ff:jobs:${jobs.size + 1}`;
    jobs.set(jobId, { body: request.json });
    return { status: 202, json: { jobId, statusUrl: `${server.url}/v3/status/${jobId}`, cancelUrl: `${server.url}/v3/cancel/${jobId}` } };
  };
  server.route('POST', '/v3/images/generate-async', submit);
  server.route('POST', '/v3/images/fill-async', submit);
  const polls = new Map<string, number>();
  server.route('GET', '/v3/status/*', (request) => {
    const jobId = request.path.slice('/v3/status/'.length);
    const job = jobs.get(jobId)!;
    const poll = (polls.get(jobId) ?? 0) + 1;
    polls.set(jobId, poll);
    if (poll === 1) return { json: { jobId, status: 'running', progress: 50 } };
    job.handedOutAt = Date.now();
    const { width, height } = job.body.size ?? { width: 2048, height: 2048 };
    const outputs = (job.body.seeds as number[]).map((seed, index) => ({ seed, image: { url: `${server.url}/results/${encodeURIComponent(jobId)}/${index}.png?sig=abc&w=${width}&h=${height}` } }));
    return { json: { jobId, status: 'succeeded', result: { size: { width, height }, outputs, contentClass: 'photo' } } };
  });
  server.route('GET', '/results/*', async (request) => {
    const jobId = decodeURIComponent(request.path.split('/')[2]!);
    if (Date.now() - (jobs.get(jobId)?.handedOutAt ?? 0) > 500) return { status: 403, body: '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>' };
    return { headers: { 'content-type': 'image/png' }, body: await testImage('png', Number(request.query.get('w')) / 32, Number(request.query.get('h')) / 32) };
  });
  server.route('PUT', '/v3/cancel/*', { json: {} });
  const sleeper = recordingSleep();
  const provider = createFirefly({ clientId: 'ff-client', clientSecret: 'ff-secret', baseURL: server.url, tokenURL: `${server.url}/ims/token/v3`, sleep: sleeper.sleep, random: () => 0.5, pollIntervalMs: 5, ...settings });
  return { server, provider, delays: sleeper.delays, submit };
}

for (const modelId of ['image4_standard', 'image3']) {
  providerConformance({
    name: `firefly:${modelId}`,
    size: { width: 2048, height: 2048 },
    async setup() {
      const { server, provider } = await mockFirefly();
      return { model: provider(modelId), close: () => server.close() };
    },
  });
}

/** Runs `body` with the variables removed from the environment, restoring them afterwards. */
async function withoutEnvironment(names: string[], body: () => Promise<void>): Promise<void> {
  const saved = names.map((name) => [name, process.env[name]] as const);
  for (const name of names) delete process.env[name];
  try {
    await body();
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}

describe('firefly', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: FireflyProviderSettings = {}) => {
    const mock = await mockFirefly(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));

  test('a token from IMS (form-encoded client credentials) is cached; generate-async gets the documented body and headers', async () => {
    const { server, provider } = await fresh();
    const events: string[] = [];
    const result = await provider('image4_ultra').doGenerate({
      prompt: 'a fox in snow', negativePrompt: 'blurry', n: 2, seed: 41, aspectRatio: '16:9',
      providerOptions: { firefly: { contentClass: 'photo', visualIntensity: 6, stylePresets: ['digital_art'], styleStrength: 60, locale: 'en-GB' } },
      onProgress: ({ imageIndex, step, steps }) => events.push(`${imageIndex}:${step}/${steps}`),
    });
    const [token] = server.requestsTo('POST', '/ims/token/v3');
    assert.match(String(token!.headers['content-type']), /application\/x-www-form-urlencoded/);
    assert.deepEqual(Object.fromEntries(new URLSearchParams(token!.body.toString('utf8'))), { grant_type: 'client_credentials', client_id: 'ff-client', client_secret: 'ff-secret', scope: 'openid,AdobeID,session,additional_info,read_organizations,firefly_api,ff_apis' });
    const [submitted] = server.requestsTo('POST', '/v3/images/generate-async');
    assert.equal(submitted!.headers.authorization, 'Bearer token-1');
    assert.equal(submitted!.headers['x-api-key'], 'ff-client');
    assert.equal(submitted!.headers['x-model-version'], 'image4_ultra');
    assert.deepEqual(submitted!.json, { prompt: 'a fox in snow', negativePrompt: 'blurry', numVariations: 2, seeds: [41, 42], size: { width: 2688, height: 1536 }, contentClass: 'photo', visualIntensity: 6, style: { presets: ['digital_art'], strength: 60 }, promptBiasingLocaleCode: 'en-GB' });
    const status = server.requests.filter((request) => request.path.startsWith('/v3/status/'));
    assert.ok(status.every((request) => request.headers.authorization === 'Bearer token-1' && request.headers['x-api-key'] === 'ff-client'));
    const download = server.requests.find((request) => request.path.startsWith('/results/'))!;
    assert.equal(download.headers.authorization, undefined, 'presigned URLs get no credentials');
    assert.deepEqual(result.images.map((image) => [image.settings.seed, image.settings.width, image.settings.height, image.settings.negativePrompt]), [['41', 84, 48, 'blurry'], ['42', 84, 48, 'blurry']]);
    assert.deepEqual(events, ['0:50/100']);
    assert.equal(result.response.requestId, 'urn:ff:jobs:1');
    assert.equal(result.cost, undefined, 'Firefly is priced by contract: no price-table entry');
    // Image 4's widest size is 7:4, so 16:9 moves a little, and says so.
    assert.deepEqual(result.warnings.map((warning) => warning.type !== 'other' && warning.setting), ['aspectRatio']);
    await provider('image4_ultra').doGenerate({ prompt: 'again', n: 1 });
    assert.equal(server.requestsTo('POST', '/ims/token/v3').length, 1, 'the token is reused until shortly before it expires');
  });

  test('steps, guidance and sampler become warnings; sizes go to the nearest documented size; n above 4 is split', async () => {
    const { server, provider } = await fresh();
    const result = await provider('image3').doGenerate({ prompt: 'a tower', n: 5, width: 1000, height: 1000, steps: 20, guidance: 7, sampler: 'euler', seed: 7 });
    const bodies = server.requestsTo('POST', '/v3/images/generate-async').map((request) => request.json);
    assert.deepEqual(bodies.map((body) => [body.numVariations, body.seeds, body.size]), [[4, [7, 8, 9, 10], { width: 1024, height: 1024 }], [1, [11], { width: 1024, height: 1024 }]]);
    assert.deepEqual(result.images.map((image) => image.settings.seed), ['7', '8', '9', '10', '11']);
    assert.deepEqual(result.warnings.map((warning) => warning.type === 'other' ? warning.type : `${warning.type}:${warning.setting}`).sort(), ['adjusted-setting:n', 'adjusted-setting:size', 'unsupported-setting:guidance', 'unsupported-setting:sampler', 'unsupported-setting:steps']);
  });

  test('generative fill uploads the image and a white-is-fill mask, then references both by upload id', async () => {
    const { server, provider } = await fresh();
    const image = await testImage('png', 64, 64);
    const whiteTopHalf = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'black' } }).composite([{ input: { create: { width: 64, height: 32, channels: 3, background: 'white' } }, top: 0, left: 0 }]).png().toBuffer();
    const result = await provider('image4_standard').doGenerate({ prompt: 'a hat', negativePrompt: 'text', n: 1, seed: 5, images: [image], mask: whiteTopHalf, width: 1024, height: 1024 });
    const uploads = server.requestsTo('POST', '/v2/storage/image');
    assert.equal(uploads.length, 2);
    assert.ok(uploads.every((upload) => upload.headers['content-type'] === 'image/png' && upload.headers.authorization === 'Bearer token-1'));
    assert.deepEqual(new Uint8Array(uploads[0]!.body), image);
    const mask = await sharp(uploads[1]!.body).greyscale().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([mask.info.width, mask.info.height], [64, 64]);
    assert.equal(mask.data[0], 255, 'top-left is to be filled: white');
    assert.equal(mask.data[63 * 64], 0, 'bottom-left is kept: black');
    const [fill] = server.requestsTo('POST', '/v3/images/fill-async');
    assert.deepEqual(fill!.json, { image: { source: { uploadId: 'upload-1' } }, mask: { source: { uploadId: 'upload-2' } }, prompt: 'a hat', negativePrompt: 'text', numVariations: 1, seeds: [5], size: { width: 1024, height: 1024 } });
    assert.equal(result.images[0]!.settings.operation, 'inpaint');
    assert.equal(result.images[0]!.settings.edit?.maskConvention, 'luminance');
  });

  test('an input image without a mask, or a custom model without its id, is refused before anything is sent', async () => {
    const { server, provider } = await fresh();
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'x', n: 1, images: [await testImage()] }), isInvalidArgument('mask', /generative fill/));
    await assert.rejects(provider('image4_custom').doGenerate({ prompt: 'x', n: 1 }), isInvalidArgument('providerOptions.firefly.customModelId', /custom model/));
    assert.equal(server.requests.length, 0);
    await provider('image4_custom').doGenerate({ prompt: 'x', negativePrompt: 'y', n: 1, providerOptions: { firefly: { customModelId: 'urn:aaid:sc:VA6C2:1234', upsamplerType: 'low_creativity' } } }).then((result) => {
      assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'negativePrompt'));
    });
    const [submitted] = server.requestsTo('POST', '/v3/images/generate-async');
    assert.equal(submitted!.headers['x-model-version'], 'image4_custom');
    assert.deepEqual([submitted!.json.customModelId, submitted!.json.upsamplerType, submitted!.json.negativePrompt], ['urn:aaid:sc:VA6C2:1234', 'low_creativity', undefined]);
  });

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays, submit } = await fresh();
    server.route('POST', '/v3/images/generate-async', { status: 429, headers: { 'retry-after': '3' }, json: { error_code: 'rate_limited' } }, submit);
    const result = await provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(delays[0], 3000);
    const submits = result.attempts!.filter((attempt) => attempt.request === 'POST /v3/images/generate-async');
    assert.deepEqual(submits.map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs })), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 3000 },
      { outcome: 'succeeded', statusCode: 202, retryDelayMs: undefined },
    ]);
  });

  test('500 then success: one retry after an exponential delay with jitter', async () => {
    const { server, provider, delays, submit } = await fresh({ retryDelayMs: 1000 });
    server.route('POST', '/v3/images/generate-async', { status: 500, json: { error_code: 'runtime_error' } }, submit);
    const result = await provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.equal(delays[0], 750);
    assert.equal(server.requestsTo('POST', '/v3/images/generate-async').length, 2);
  });

  test('a prompt refused under the content policy is a ContentPolicyError and is not retried', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v3/images/generate-async', { status: 400, json: { error_code: 'prompt_unsafe', message: 'The prompt is not allowed.' } });
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && /prompt_unsafe/.test(error.message));
    assert.equal(server.requestsTo('POST', '/v3/images/generate-async').length, 1);
  });

  test('an upload refused with HTTP 451 and a job failed with output_media_unsafe are ContentPolicyErrors too', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v2/storage/image', { status: 451, json: { error_code: 'input_media_unsafe', message: 'unsafe input' } });
    const image = await testImage();
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'x', n: 1, images: [image], mask: image }), (error: unknown) => ContentPolicyError.isInstance(error));
    server.route('GET', '/v3/status/*', (request) => ({ json: { jobId: request.path.slice(11), status: 'failed', error_code: 'output_media_unsafe', message: 'The output was blocked.' } }));
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && /output_media_unsafe/.test(error.message));
  });

  test('a 422 validation error is an InvalidRequestError naming the field', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v3/images/generate-async', { status: 422, json: { error_code: 'validation_error', validation_errors: [{ loc: ['body', 'contentClass'], msg: "value is not a valid enumeration member; permitted: 'photo', 'art'", type: 'type_error.enum' }] } });
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === 'contentClass' && /permitted/.test(error.message));
  });

  test('malformed JSON is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('GET', '/v3/status/*', { status: 200, headers: { 'content-type': 'application/json' }, body: '{"status": "succ' });
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('presigned result URLs are fetched at once (the mock refuses them 500 ms after they are handed out)', async () => {
    const { server, provider } = await fresh();
    const result = await provider('image4_standard').doGenerate({ prompt: 'a cat', n: 3 });
    assert.equal(result.images.length, 3);
    assert.ok(server.requests.filter((request) => request.path.startsWith('/results/')).length === 3);
  });

  test('aborting while the job runs cancels it through its cancel URL and ends with AbortedError', async () => {
    const { server, provider } = await fresh();
    server.route('GET', '/v3/status/*', (request) => ({ json: { jobId: request.path.slice(11), status: 'running', progress: 10 } }));
    const controller = new AbortController();
    await assert.rejects(
      provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal, onProgress: () => controller.abort() }),
      (error: unknown) => AbortedError.isInstance(error) && /cancelled at firefly/.test((error as Error).message),
    );
    const cancels = server.requestsTo('PUT', '/v3/cancel/urn:ff:jobs:1');
    assert.equal(cancels.length, 1);
    assert.equal(cancels[0]!.headers.authorization, 'Bearer token-1');
  });

  test('no client ID or secret: an AuthenticationError naming the variable, and nothing sent', async () => {
    const { server } = await fresh();
    await withoutEnvironment(['FIREFLY_SERVICES_CLIENT_ID', 'FIREFLY_SERVICES_CLIENT_SECRET'], async () => {
      const noId = createFirefly({ baseURL: server.url, tokenURL: `${server.url}/ims/token/v3` });
      await assert.rejects(noId('image4_standard').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'FIREFLY_SERVICES_CLIENT_ID' && /FIREFLY_SERVICES_CLIENT_ID/.test(error.message));
      const noSecret = createFirefly({ clientId: 'ff-client', baseURL: server.url, tokenURL: `${server.url}/ims/token/v3` });
      await assert.rejects(noSecret('image4_standard').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'FIREFLY_SERVICES_CLIENT_SECRET');
      assert.equal(server.requests.length, 0);
    });
  });

  test('credentials come from the environment; PIXELPIPE_FIREFLY_TOKEN_URL and PIXELPIPE_FIREFLY_BASE_URL point at other hosts', async () => {
    const { server } = await fresh();
    const names = ['FIREFLY_SERVICES_CLIENT_ID', 'FIREFLY_SERVICES_CLIENT_SECRET', 'PIXELPIPE_FIREFLY_TOKEN_URL', 'PIXELPIPE_FIREFLY_BASE_URL'];
    await withoutEnvironment(names, async () => {
      Object.assign(process.env, { FIREFLY_SERVICES_CLIENT_ID: 'env-client', FIREFLY_SERVICES_CLIENT_SECRET: 'env-secret', PIXELPIPE_FIREFLY_TOKEN_URL: `${server.url}/ims/token/v3`, PIXELPIPE_FIREFLY_BASE_URL: `${server.url}/` });
      try {
        const result = await createFirefly({ sleep: recordingSleep().sleep, pollIntervalMs: 1 })('image4_standard').doGenerate({ prompt: 'a cat', n: 1 });
        assert.equal(result.images.length, 1);
        assert.equal(new URLSearchParams(server.requestsTo('POST', '/ims/token/v3')[0]!.body.toString('utf8')).get('client_id'), 'env-client');
        assert.equal(server.requestsTo('POST', '/v3/images/generate-async')[0]!.headers['x-api-key'], 'env-client');
      } finally {
        for (const name of names) delete process.env[name];
      }
    });
  });

  test('IMS refusing the client is an AuthenticationError naming both variables; an expired token is fetched again', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/ims/token/v3', { status: 400, json: { error: 'invalid_client', error_description: 'invalid client_secret parameter' } });
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && /FIREFLY_SERVICES_CLIENT_ID/.test(error.message) && /FIREFLY_SERVICES_CLIENT_SECRET/.test(error.message));
    assert.equal(server.requestsTo('POST', '/v3/images/generate-async').length, 0);
    server.route('POST', '/ims/token/v3', { json: { access_token: 'short-lived', token_type: 'bearer', expires_in: 0 } });
    await provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 });
    await provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(server.requestsTo('POST', '/ims/token/v3').length, 3);
  });

  test('a 401 from Firefly drops the cached token, so the next call fetches a new one', async () => {
    const { server, provider, submit } = await fresh();
    server.route('POST', '/v3/images/generate-async', { status: 401, json: { error_code: 'unauthorized', message: 'Oauth token is not valid' } }, submit);
    await assert.rejects(provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.statusCode === 401);
    await provider('image4_standard').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(server.requestsTo('POST', '/ims/token/v3').length, 2);
  });
});
