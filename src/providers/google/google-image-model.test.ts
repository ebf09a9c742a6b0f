import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { RateLimitError } from '../../spec/errors/rate-limit-error.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { parseAspectRatio } from '../shared/sizes.js';
import { createGoogle, type GoogleProviderSettings } from './google-provider.js';

const base64Image = async (ratio = '1:1') => {
  const shape = parseAspectRatio(ratio);
  return Buffer.from(await testImage('png', Math.round(64 * Math.max(1, shape)), Math.round(64 / Math.min(1, shape)))).toString('base64');
};

/** Answers like the Gemini API: Imagen's :predict with `sampleCount` predictions, Gemini's :generateContent with a text and an image part. */
const googleAnswer: MockHandler = async (request) => {
  const body = request.json;
  if (request.path.endsWith(':predict')) {
    const data = await base64Image(body.parameters?.aspectRatio);
    return { json: { predictions: Array.from({ length: body.parameters?.sampleCount ?? 4 }, () => ({ bytesBase64Encoded: data, mimeType: 'image/png' })) } };
  }
  const data = await base64Image(body.generationConfig?.imageConfig?.aspectRatio);
  return {
    json: {
      candidates: [{ content: { role: 'model', parts: [{ text: 'Here is a lighthouse.' }, { inlineData: { mimeType: 'image/png', data } }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 1290, totalTokenCount: 1300 },
      modelVersion: 'gemini-2.5-flash-image',
      responseId: 'resp-1',
    },
  };
};

async function mockGoogle(settings: GoogleProviderSettings = {}) {
  const server = await startMockApiServer();
  server.route('POST', '/v1beta/models/*', googleAnswer);
  const sleeper = recordingSleep();
  const provider = createGoogle({ apiKey: 'goog-test', baseURL: `${server.url}/v1beta`, sleep: sleeper.sleep, random: () => 0.5, ...settings });
  return { server, provider, delays: sleeper.delays };
}

const imagenPath = '/v1beta/models/imagen-4.0-generate-001:predict';
const geminiPath = '/v1beta/models/gemini-2.5-flash-image:generateContent';

for (const [modelId, edits] of [['imagen-4.0-generate-001', false], ['imagen-4.0-fast-generate-001', false], ['gemini-2.5-flash-image', true]] as const) {
  providerConformance({
    name: `google:${modelId}`,
    edits,
    size: { width: 1024, height: 1024 },
    async setup() {
      const { server, provider } = await mockGoogle();
      return { model: provider(modelId), close: () => server.close() };
    },
  });
}

describe('google requests', () => {
  let mock: Awaited<ReturnType<typeof mockGoogle>>;
  before(async () => {
    mock = await mockGoogle();
  });
  after(() => mock.server.close());

  test('Imagen: instances and parameters to :predict, the key in x-goog-api-key, never in the URL', async () => {
    const result = await mock.provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a fox', n: 2, aspectRatio: '16:9', providerOptions: { google: { personGeneration: 'allow_adult', imageSize: '2K' } } });
    const sent = mock.server.requestsTo('POST', imagenPath).at(-1)!;
    assert.equal(sent.headers['x-goog-api-key'], 'goog-test');
    assert.equal(sent.headers.authorization, undefined);
    assert.equal([...sent.query.keys()].length, 0);
    assert.deepEqual(sent.json, { instances: [{ prompt: 'a fox' }], parameters: { sampleCount: 2, aspectRatio: '16:9', personGeneration: 'allow_adult', imageSize: '2K' } });
    assert.equal(result.images.length, 2);
    assert.deepEqual([result.images[0]!.settings.width, result.images[0]!.settings.height], [114, 64]);
    assert.deepEqual(result.cost && { amountUsd: result.cost.amountUsd, priceDate: result.cost.priceDate }, { amountUsd: 0.08, priceDate: '2025-08-14' });
    assert.deepEqual(result.warnings, []);
  });

  test('Imagen takes no seed and at most 4 images a request: both are said', async () => {
    const before = mock.server.requestsTo('POST', imagenPath).length;
    const result = await mock.provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a koi pond', n: 6, seed: 7 });
    assert.deepEqual(mock.server.requestsTo('POST', imagenPath).slice(before).map((request) => request.json.parameters.sampleCount), [4, 2]);
    assert.equal(result.images.length, 6);
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'seed'));
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'n'));
    assert.ok(result.images.every((image) => image.settings.seed === undefined));
  });

  test('a large size asks Imagen Standard for 2K; Imagen Fast makes 1K only and says so', async () => {
    await mock.provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a tower', n: 1, width: 1536, height: 2048 });
    assert.deepEqual(mock.server.requestsTo('POST', imagenPath).at(-1)!.json.parameters, { sampleCount: 1, aspectRatio: '3:4', imageSize: '2K' });
    const fast = await mock.provider('imagen-4.0-fast-generate-001').doGenerate({ prompt: 'a tower', n: 1, providerOptions: { google: { imageSize: '2K' } } });
    assert.equal(mock.server.requestsTo('POST', '/v1beta/models/imagen-4.0-fast-generate-001:predict').at(-1)!.json.parameters.imageSize, undefined);
    assert.ok(fast.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'providerOptions.google.imageSize'));
  });

  test('Gemini: text and input images as parts, seed and aspect ratio in generationConfig, tokens as usage, text kept as metadata', async () => {
    const image = await testImage('png', 64, 64);
    const second = await testImage('jpeg', 64, 64, { r: 0, g: 0, b: 255 });
    const result = await mock.provider('gemini-2.5-flash-image').doGenerate({ prompt: 'put the cat on the sofa', n: 1, seed: 1234, aspectRatio: '16:9', images: [image, second], providerOptions: { google: { temperature: 0.4 } } });
    const sent = mock.server.requestsTo('POST', geminiPath).at(-1)!;
    assert.equal(sent.headers['x-goog-api-key'], 'goog-test');
    assert.deepEqual(sent.json, {
      contents: [{ role: 'user', parts: [{ text: 'put the cat on the sofa' }, { inlineData: { mimeType: 'image/png', data: Buffer.from(image).toString('base64') } }, { inlineData: { mimeType: 'image/jpeg', data: Buffer.from(second).toString('base64') } }] }],
      generationConfig: { responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '16:9' }, seed: 1234, temperature: 0.4 },
    });
    const [generated] = result.images;
    assert.equal(generated!.settings.seed, '1234');
    assert.equal(generated!.settings.operation, 'image-to-image');
    assert.equal(generated!.revisedPrompt, undefined);
    assert.deepEqual(result.usage, { images: 1, inputTokens: 10, outputTokens: 1290 });
    assert.deepEqual(result.response.providerMetadata, { text: ['Here is a lighthouse.'], finishReason: 'STOP', modelVersion: 'gemini-2.5-flash-image' });
    assert.equal(result.response.requestId, 'resp-1');
    assert.equal(result.cost?.amountUsd, 0.039);
    assert.deepEqual(result.warnings, []);
  });

  test('Gemini 2.5 Flash Image takes 3 input images; more are dropped with a warning; personGeneration is Imagen-only', async () => {
    const images = await Promise.all([0, 1, 2, 3].map((index) => testImage('png', 32, 32, { r: index * 60, g: 0, b: 0 })));
    const result = await mock.provider('gemini-2.5-flash-image').doGenerate({ prompt: 'a collage', n: 1, images, providerOptions: { google: { personGeneration: 'dont_allow', responseModalities: ['IMAGE'] } } });
    const sent = mock.server.requestsTo('POST', geminiPath).at(-1)!.json;
    assert.equal(sent.contents[0].parts.length, 4);
    assert.deepEqual(sent.generationConfig.responseModalities, ['IMAGE']);
    assert.equal(sent.generationConfig.imageConfig, undefined, 'an edit keeps the input shape unless one is asked');
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'images'));
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'providerOptions.google.personGeneration'));
  });

  test('thought images of thinking models are not results; the final image is', async () => {
    const { server, provider } = await mockGoogle();
    try {
      const thought = Buffer.from(await testImage('png', 16, 16)).toString('base64');
      const final = await base64Image('1:1');
      server.route('POST', '/v1beta/models/*', { json: { candidates: [{ content: { parts: [{ text: 'planning', thought: true }, { inlineData: { mimeType: 'image/png', data: thought }, thought: true }, { inlineData: { mimeType: 'image/png', data: final } }] }, finishReason: 'STOP' }] } });
      const result = await provider('gemini-3-pro-image-preview').doGenerate({ prompt: 'a map', n: 1, width: 4096, height: 4096 });
      assert.equal(result.images.length, 1);
      assert.equal(result.images[0]!.settings.width, 64);
      assert.deepEqual(server.requests.at(-1)!.json.generationConfig.imageConfig, { aspectRatio: '1:1', imageSize: '4K' });
    } finally {
      await server.close();
    }
  });
});

describe('google failures', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: GoogleProviderSettings = {}) => {
    const mock = await mockGoogle(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));
  const exhausted = (retryDelay?: string) => ({ error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED', ...(retryDelay ? { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay }] } : {}) } });

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays } = await fresh();
    server.route('POST', '/v1beta/models/*', { status: 429, headers: { 'retry-after': '2' }, json: exhausted() }, googleAnswer);
    const result = await provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(delays, [2000]);
    assert.deepEqual(result.attempts?.map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs })), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 2000 },
      { outcome: 'succeeded', statusCode: 200, retryDelayMs: undefined },
    ]);
  });

  test('RESOURCE_EXHAUSTED without Retry-After waits as long as its RetryInfo says', async () => {
    const { server, provider, delays } = await fresh();
    server.route('POST', '/v1beta/models/*', { status: 429, json: exhausted('30s') }, googleAnswer);
    const result = await provider('gemini-2.5-flash-image').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays, [30_000]);
    assert.equal(result.attempts?.[0]?.error?.name, 'RateLimitError');
  });

  test('rate limits past maxRetries end in a RateLimitError', async () => {
    const { server, provider } = await fresh({ maxRetries: 1 });
    server.route('POST', '/v1beta/models/*', { status: 429, json: exhausted('1.5s') });
    await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => RateLimitError.isInstance(error) && error.retryAfterMs === 1500 && /RESOURCE_EXHAUSTED/.test(error.message));
  });

  test('500 then success: one retry after an exponential delay with jitter', async () => {
    const { server, provider, delays } = await fresh({ retryDelayMs: 1000 });
    server.route('POST', '/v1beta/models/*', { status: 500, json: { error: { code: 500, message: 'An internal error has occurred.', status: 'INTERNAL' } } }, googleAnswer);
    const result = await provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays, [750]);
  });

  test('Imagen: every image filtered is a ContentPolicyError with the reason, not retried; some filtered is a warning', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1beta/models/*', { json: { predictions: [{ raiFilteredReason: 'The image was filtered for violating the safety policy.' }] } });
    await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && /safety policy/.test(error.message));
    assert.equal(server.requestsTo('POST', imagenPath).length, 1);
    server.route('POST', '/v1beta/models/*', { json: {} });
    await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'something refused', n: 2 }), (error: unknown) => ContentPolicyError.isInstance(error));
    const data = await base64Image();
    server.route('POST', '/v1beta/models/*', { json: { predictions: [{ bytesBase64Encoded: data, mimeType: 'image/png' }] } });
    const partial = await provider('imagen-4.0-generate-001').doGenerate({ prompt: 'two cats', n: 2 });
    assert.equal(partial.images.length, 1);
    assert.ok(partial.warnings.some((warning) => warning.type === 'other' && /1 of 2/.test(warning.message)));
  });

  test('Imagen: a 400 citing Responsible AI practices is a ContentPolicyError', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1beta/models/*', { status: 400, json: { error: { code: 400, message: "Image generation failed with the following error: The prompt could not be submitted. This prompt contains sensitive words that violate Google's Responsible AI practices.", status: 'INVALID_ARGUMENT' } } });
    await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && /Responsible AI/.test(error.message));
  });

  for (const [what, answer] of [
    ['a blocked prompt', { promptFeedback: { blockReason: 'PROHIBITED_CONTENT' } }],
    ['an IMAGE_SAFETY finish', { candidates: [{ content: { parts: [] }, finishReason: 'IMAGE_SAFETY', finishMessage: 'Unable to show the generated image.' }] }],
    ['a SAFETY finish without content', { candidates: [{ finishReason: 'SAFETY' }] }],
  ] as const) {
    test(`Gemini: ${what} is a ContentPolicyError, not retried`, async () => {
      const { server, provider } = await fresh();
      server.route('POST', '/v1beta/models/*', { json: answer });
      await assert.rejects(provider('gemini-2.5-flash-image').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable);
      assert.equal(server.requestsTo('POST', geminiPath).length, 1);
    });
  }

  test('Gemini: a text-only answer is an InvalidResponseError quoting the text', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1beta/models/*', { json: { candidates: [{ content: { parts: [{ text: 'I can describe it, but here is no picture.' }] }, finishReason: 'STOP' }] } });
    await assert.rejects(provider('gemini-2.5-flash-image').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /no picture/.test(error.message));
  });

  test('INVALID_ARGUMENT is an InvalidRequestError naming the field; API_KEY_INVALID is an AuthenticationError', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1beta/models/*', { status: 400, json: { error: { code: 400, message: 'Invalid value at aspect ratio', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field: 'parameters.aspectRatio', description: 'unsupported' }] }] } } });
    await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === 'parameters.aspectRatio' && /INVALID_ARGUMENT/.test(error.message));
    server.route('POST', '/v1beta/models/*', { status: 400, json: { error: { code: 400, message: 'API key not valid. Please pass a valid API key.', status: 'INVALID_ARGUMENT', details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }] } } });
    await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'x', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'GEMINI_API_KEY' && /API key not valid.*GEMINI_API_KEY/.test(error.message));
  });

  test('malformed JSON is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1beta/models/*', { headers: { 'content-type': 'application/json' }, body: '{"predictions": [{"bytesBase64Encoded": "iVBOR' });
    await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('aborting mid-request ends the call at once with AbortedError', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1beta/models/*', { delayMs: 10_000, json: {} });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await assert.rejects(provider('gemini-2.5-flash-image').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal }), (error: unknown) => AbortedError.isInstance(error));
    assert.ok(Date.now() - started < 5000);
  });

  test('API key: none is an AuthenticationError naming GEMINI_API_KEY with nothing sent; GOOGLE_API_KEY is read too and wins, as in Google\'s libraries', async () => {
    const { server } = await fresh();
    const saved = { GEMINI_API_KEY: process.env.GEMINI_API_KEY, GOOGLE_API_KEY: process.env.GOOGLE_API_KEY };
    delete process.env.GEMINI_API_KEY;
    delete process.env.GOOGLE_API_KEY;
    try {
      const provider = createGoogle({ baseURL: `${server.url}/v1beta`, sleep: recordingSleep().sleep });
      await assert.rejects(provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'GEMINI_API_KEY' && /GEMINI_API_KEY/.test(error.message) && /GOOGLE_API_KEY/.test(error.message));
      assert.equal(server.requests.length, 0);
      process.env.GEMINI_API_KEY = 'from-gemini';
      await provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(server.requests.at(-1)!.headers['x-goog-api-key'], 'from-gemini');
      process.env.GOOGLE_API_KEY = 'from-google';
      await provider('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(server.requests.at(-1)!.headers['x-goog-api-key'], 'from-google');
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });

  test('PIXELPIPE_GOOGLE_BASE_URL points the provider at a gateway', async () => {
    const { server } = await fresh();
    process.env.PIXELPIPE_GOOGLE_BASE_URL = `${server.url}/v1beta/`;
    try {
      const result = await createGoogle({ apiKey: 'goog-gateway' })('imagen-4.0-generate-001').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(result.images.length, 1);
      assert.equal(server.requestsTo('POST', imagenPath)[0]!.headers['x-goog-api-key'], 'goog-gateway');
    } finally {
      delete process.env.PIXELPIPE_GOOGLE_BASE_URL;
    }
  });
});
