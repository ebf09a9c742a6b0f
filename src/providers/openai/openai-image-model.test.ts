import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { createOpenAI, type OpenAIProviderSettings } from './openai-provider.js';

/** Answers like OpenAI: one base64 PNG per requested image, at the requested size. */
const imagesAnswer: MockHandler = async (request) => {
  const fields = request.json ?? Object.fromEntries([...(request.form?.entries() ?? [])].filter(([, value]) => typeof value === 'string'));
  const [width, height] = String(fields.size ?? '1024x1024').split('x').map(Number) as [number, number];
  const png = await testImage('png', Math.round(width / 16), Math.round(height / 16));
  const data = Array.from({ length: Number(fields.n ?? 1) }, () => ({ b64_json: Buffer.from(png).toString('base64'), ...(fields.model === 'dall-e-3' ? { revised_prompt: `A detailed picture: ${fields.prompt}` } : {}) }));
  return { headers: { 'x-request-id': 'req_123' }, json: { created: 1, data, ...(String(fields.model).startsWith('gpt-image') ? { usage: { input_tokens: 10, output_tokens: 272 }, quality: fields.quality ?? 'low', size: fields.size ?? '1024x1024', output_format: 'png' } : {}) } };
};

async function mockOpenAI(settings: OpenAIProviderSettings = {}) {
  const server = await startMockApiServer();
  server.route('POST', '/v1/images/generations', imagesAnswer);
  server.route('POST', '/v1/images/edits', imagesAnswer);
  const sleeper = recordingSleep();
  const provider = createOpenAI({ apiKey: 'sk-test', baseURL: `${server.url}/v1`, sleep: sleeper.sleep, random: () => 0.5, ...settings });
  return { server, provider, delays: sleeper.delays };
}

for (const modelId of ['gpt-image-1', 'dall-e-3']) {
  providerConformance({
    name: `openai:${modelId}`,
    edits: modelId === 'gpt-image-1',
    size: { width: 1024, height: 1024 },
    async setup() {
      const { server, provider } = await mockOpenAI();
      return { model: provider(modelId), close: () => server.close() };
    },
  });
}

describe('openai requests', () => {
  let mock: Awaited<ReturnType<typeof mockOpenAI>>;
  before(async () => {
    mock = await mockOpenAI();
  });
  after(() => mock.server.close());

  test('generations send the body the official openai client sends, with the key as a bearer token', async () => {
    const result = await mock.provider('gpt-image-1').doGenerate({ prompt: 'a fox', n: 2, width: 1536, height: 1024, providerOptions: { openai: { quality: 'low', background: 'transparent', outputFormat: 'png', moderation: 'low' } } });
    const ours = mock.server.requestsTo('POST', '/v1/images/generations').at(-1)!;
    assert.equal(ours.headers.authorization, 'Bearer sk-test');
    assert.match(String(ours.headers['content-type']), /application\/json/);
    const official = new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.server.url}/v1`, maxRetries: 0 });
    await official.images.generate({ model: 'gpt-image-1', prompt: 'a fox', n: 2, size: '1536x1024', quality: 'low', background: 'transparent', output_format: 'png', moderation: 'low' });
    const theirs = mock.server.requestsTo('POST', '/v1/images/generations').at(-1)!;
    assert.deepEqual(ours.json, theirs.json);
    assert.equal(result.images.length, 2);
    assert.deepEqual(result.usage, { images: 2, inputTokens: 10, outputTokens: 272 });
    assert.equal(result.response.requestId, 'req_123');
    assert.deepEqual(result.cost && { amountUsd: result.cost.amountUsd, priceDate: result.cost.priceDate }, { amountUsd: 0.032, priceDate: '2025-04-23' });
    assert.equal(result.attempts?.length, 1);
    assert.deepEqual(result.warnings, []);
  });

  test('edits send image[] files and an alpha mask whose transparent pixels are the edit area, as multipart', async () => {
    const image = await testImage('png', 64, 64);
    const second = await testImage('jpeg', 64, 64, { r: 0, g: 0, b: 255 });
    const whiteTopHalf = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'black' } }).composite([{ input: { create: { width: 64, height: 32, channels: 3, background: 'white' } }, top: 0, left: 0 }]).png().toBuffer();
    const result = await mock.provider('gpt-image-1').doGenerate({ prompt: 'add a hat', n: 1, images: [image, second], mask: whiteTopHalf, providerOptions: { openai: { inputFidelity: 'high' } } });
    const request = mock.server.requestsTo('POST', '/v1/images/edits').at(-1)!;
    const form = request.form!;
    assert.equal(form.get('prompt'), 'add a hat');
    assert.equal(form.get('model'), 'gpt-image-1');
    assert.equal(form.get('input_fidelity'), 'high');
    const files = form.getAll('image[]') as File[];
    assert.deepEqual(files.map((file) => file.type), ['image/png', 'image/jpeg']);
    const mask = await sharp(Buffer.from(await (form.get('mask') as File).arrayBuffer())).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    assert.equal(mask.data[3], 0, 'top-left is in the edit area: transparent');
    assert.equal(mask.data[(63 * 64) * 4 + 3], 255, 'bottom-left is kept: opaque');
    assert.equal(result.images[0]!.settings.operation, 'inpaint');
    assert.equal(result.images[0]!.settings.edit?.maskConvention, 'luminance');
    assert.equal(result.images[0]!.settings.edit?.moreImages?.length, 1);
    // The official client names several files image[] too.
    await new OpenAI({ apiKey: 'sk-test', baseURL: `${mock.server.url}/v1`, maxRetries: 0 }).images.edit({ model: 'gpt-image-1', prompt: 'add a hat', image: [await toFile(image, 'a.png', { type: 'image/png' }), await toFile(second, 'b.jpg', { type: 'image/jpeg' })] });
    const theirs = mock.server.requestsTo('POST', '/v1/images/edits').at(-1)!.form!;
    assert.equal((theirs.getAll('image[]') as File[]).length, 2);
  });

  test('dall-e-3 takes one image per request: n=3 is three requests, a warning, and each revised prompt kept', async () => {
    const before = mock.server.requestsTo('POST', '/v1/images/generations').length;
    const result = await mock.provider('dall-e-3').doGenerate({ prompt: 'a koi pond', n: 3, width: 1792, height: 1024, providerOptions: { openai: { quality: 'hd', style: 'natural' } } });
    const sent = mock.server.requestsTo('POST', '/v1/images/generations').slice(before);
    assert.equal(sent.length, 3);
    assert.deepEqual(sent[0]!.json, { model: 'dall-e-3', prompt: 'a koi pond', n: 1, size: '1792x1024', quality: 'hd', style: 'natural', response_format: 'b64_json' });
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'n'));
    assert.deepEqual(result.images.map((image) => image.revisedPrompt), Array(3).fill('A detailed picture: a koi pond'));
    assert.equal(result.cost?.amountUsd, 0.36);
  });

  test('an unsupported size goes to the nearest size with the same shape, with a warning', async () => {
    const result = await mock.provider('gpt-image-1').doGenerate({ prompt: 'a tower', n: 1, aspectRatio: '9:16' });
    assert.equal(mock.server.requestsTo('POST', '/v1/images/generations').at(-1)!.json.size, '1024x1536');
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'aspectRatio'));
  });

  test('dall-e-3 cannot edit: an input image is refused naming `images`', async () => {
    await assert.rejects(mock.provider('dall-e-3').doGenerate({ prompt: 'x', n: 1, images: [await testImage()] }), (error: unknown) => (error as { argument?: string }).argument === 'images');
  });
});

describe('openai failures', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: OpenAIProviderSettings = {}) => {
    const mock = await mockOpenAI(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays } = await fresh();
    server.route('POST', '/v1/images/generations', { status: 429, headers: { 'retry-after': '2' }, json: { error: { message: 'Rate limit reached', type: 'requests' } } }, imagesAnswer);
    const result = await provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(delays, [2000]);
    assert.deepEqual(result.attempts?.map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs })), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 2000 },
      { outcome: 'succeeded', statusCode: 200, retryDelayMs: undefined },
    ]);
  });

  test('500 then success: one retry after an exponential delay with jitter', async () => {
    const { server, provider, delays } = await fresh({ retryDelayMs: 1000 });
    server.route('POST', '/v1/images/generations', { status: 500, json: { error: { message: 'The server had an error' } } }, { status: 502, body: 'bad gateway' }, imagesAnswer);
    const result = await provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    // random() = 0.5 → half fixed + half of the random half: 750 ms, then 1500 ms.
    assert.deepEqual(delays, [750, 1500]);
  });

  test('retries stop after maxRetries and the last error is thrown', async () => {
    const { server, provider, delays } = await fresh({ maxRetries: 1 });
    server.route('POST', '/v1/images/generations', { status: 503, json: { error: { message: 'overloaded' } } });
    await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => (error as Error).name === 'ProviderUnavailableError' && /503/.test((error as Error).message));
    assert.equal(delays.length, 1);
    assert.equal(server.requestsTo('POST', '/v1/images/generations').length, 2);
  });

  test('a content refusal is a ContentPolicyError and is not retried', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/images/generations', { status: 400, json: { error: { message: 'Your request was rejected by the safety system.', type: 'image_generation_user_error', code: 'moderation_blocked', param: null } } });
    await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && /safety system/.test(error.message));
    assert.equal(server.requestsTo('POST', '/v1/images/generations').length, 1);
  });

  test('a 400 naming a parameter is an InvalidRequestError with that field', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/images/generations', { status: 400, json: { error: { message: "Invalid value: 'hd'.", type: 'invalid_request_error', param: 'quality', code: 'invalid_value' } } });
    await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === 'quality' && /quality/.test(error.message));
  });

  test('malformed JSON is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/images/generations', { status: 200, headers: { 'content-type': 'application/json' }, body: '{"data": [{"b64_json": "iVBOR' });
    await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('no API key: an AuthenticationError naming OPENAI_API_KEY, and nothing sent', async () => {
    const { server } = await fresh();
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      const provider = createOpenAI({ baseURL: `${server.url}/v1` });
      await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'OPENAI_API_KEY' && /OPENAI_API_KEY/.test(error.message));
      assert.equal(server.requests.length, 0);
    } finally {
      if (saved !== undefined) process.env.OPENAI_API_KEY = saved;
    }
  });

  test('a 401 is an AuthenticationError that says which variable to check', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/images/generations', { status: 401, json: { error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } } });
    await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && /Incorrect API key.*OPENAI_API_KEY/.test(error.message));
  });

  test('an image sent as a URL is downloaded at once, before it expires', async () => {
    const { server, provider } = await fresh();
    let answeredAt = 0;
    const png = await testImage('png', 32, 32);
    server.route('POST', '/v1/images/generations', () => {
      answeredAt = Date.now();
      return { json: { created: 1, data: [{ url: `${server.url}/files/result.png`, revised_prompt: 'a cat, photographed' }] } };
    });
    // A signed URL that is only good for a moment.
    server.route('GET', '/files/result.png', () => (Date.now() - answeredAt < 500 ? { headers: { 'content-type': 'image/png' }, body: png } : { status: 403, body: 'Request has expired' }));
    const result = await provider('dall-e-3').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(Buffer.from(result.images[0]!.bytes), Buffer.from(png));
    assert.equal(server.requestsTo('GET', '/files/result.png')[0]!.headers.authorization, undefined, 'signed URLs get no API key');
  });

  test('an expired result URL is an InvalidResponseError that says the result is lost', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/images/generations', { json: { data: [{ url: `${server.url}/files/gone.png` }] } });
    server.route('GET', '/files/gone.png', { status: 403, body: '<Error><Code>AuthenticationFailed</Code></Error>' });
    await assert.rejects(provider('dall-e-3').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /expire/.test(error.message));
  });

  test('aborting mid-request ends the call at once with AbortedError', async () => {
    const { server, provider } = await fresh();
    server.route('POST', '/v1/images/generations', { delayMs: 10_000, json: { data: [] } });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal }), (error: unknown) => AbortedError.isInstance(error));
    assert.ok(Date.now() - started < 5000);
  });

  test('the overall timeout ends a slow call with TimeoutError naming the limit', async () => {
    const { server, provider } = await fresh({ timeoutMs: 100 });
    server.route('POST', '/v1/images/generations', { delayMs: 10_000, json: { data: [] } });
    await assert.rejects(provider('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => TimeoutError.isInstance(error) && error.timeoutMs === 100 && /100 ms/.test(error.message));
  });

  test('PIXELPIPE_OPENAI_BASE_URL points the provider at a gateway', async () => {
    const { server } = await fresh();
    process.env.PIXELPIPE_OPENAI_BASE_URL = `${server.url}/v1/`;
    try {
      const result = await createOpenAI({ apiKey: 'sk-gateway' })('gpt-image-1').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(result.images.length, 1);
      assert.equal(server.requestsTo('POST', '/v1/images/generations')[0]!.headers.authorization, 'Bearer sk-gateway');
    } finally {
      delete process.env.PIXELPIPE_OPENAI_BASE_URL;
    }
  });
});
