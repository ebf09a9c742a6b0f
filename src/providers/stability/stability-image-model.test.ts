import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidRequestError } from '../../spec/errors/invalid-request-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler, type RecordedApiRequest } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { parseAspectRatio } from '../shared/sizes.js';
import { createStability, type StabilityProviderSettings } from './stability-provider.js';

const field = (request: RecordedApiRequest, name: string) => request.form?.get(name) ?? undefined;

/** Answers like Stability with `accept: application/json`: one base64 PNG, shaped by aspect_ratio or by the input image (grown when outpainting). */
const imageAnswer: MockHandler = async (request) => {
  let width = 64;
  let height = 64;
  const input = field(request, 'image');
  if (input instanceof File) {
    const metadata = await sharp(Buffer.from(await input.arrayBuffer())).metadata();
    width = metadata.width! + Number(field(request, 'left') ?? 0) + Number(field(request, 'right') ?? 0);
    height = metadata.height! + Number(field(request, 'up') ?? 0) + Number(field(request, 'down') ?? 0);
  } else {
    const ratio = parseAspectRatio(String(field(request, 'aspect_ratio') ?? '1:1'));
    width = Math.round(64 * Math.sqrt(ratio));
    height = Math.round(64 / Math.sqrt(ratio));
  }
  const seed = Number(field(request, 'seed') ?? 0) || 987_654_321;
  const png = await testImage('png', width, height);
  return { headers: { 'x-request-id': `req-${seed}` }, json: { image: Buffer.from(png).toString('base64'), finish_reason: 'SUCCESS', seed } };
};

const corePath = '/v2beta/stable-image/generate/core';
const ultraPath = '/v2beta/stable-image/generate/ultra';
const sd3Path = '/v2beta/stable-image/generate/sd3';
const inpaintPath = '/v2beta/stable-image/edit/inpaint';
const outpaintPath = '/v2beta/stable-image/edit/outpaint';

async function mockStability(settings: StabilityProviderSettings = {}) {
  const server = await startMockApiServer();
  for (const path of [corePath, ultraPath, sd3Path, inpaintPath, outpaintPath]) server.route('POST', path, imageAnswer);
  const sleeper = recordingSleep();
  const provider = createStability({ apiKey: 'sk-stability', baseURL: server.url, sleep: sleeper.sleep, random: () => 0.5, ...settings });
  return { server, provider, delays: sleeper.delays };
}

for (const [modelId, edits] of [['core', false], ['ultra', true], ['sd3.5-large', true]] as const) {
  providerConformance({
    name: `stability:${modelId}`,
    edits,
    size: { width: 1024, height: 1024 },
    async setup() {
      const { server, provider } = await mockStability();
      return { model: provider(modelId), close: () => server.close() };
    },
  });
}

describe('stability requests', () => {
  let mock: Awaited<ReturnType<typeof mockStability>>;
  before(async () => {
    mock = await mockStability({ clientId: 'pixelpipe-tests' });
  });
  after(() => mock.server.close());

  test('core: multipart with the bearer key, JSON accepted, aspect ratio, style preset; the reported seed is kept', async () => {
    const result = await mock.provider('core').doGenerate({ prompt: 'a fox', negativePrompt: 'blurry', n: 1, aspectRatio: '16:9', seed: 42, providerOptions: { stability: { stylePreset: 'photographic', outputFormat: 'png' } } });
    const sent = mock.server.requestsTo('POST', corePath).at(-1)!;
    assert.equal(sent.headers.authorization, 'Bearer sk-stability');
    assert.equal(sent.headers.accept, 'application/json');
    assert.equal(sent.headers['stability-client-id'], 'pixelpipe-tests');
    assert.match(String(sent.headers['content-type']), /^multipart\/form-data; boundary=/);
    const fields = Object.fromEntries([...sent.form!.entries()].map(([key, value]) => [key, String(value)]));
    assert.deepEqual(fields, { prompt: 'a fox', seed: '42', output_format: 'png', style_preset: 'photographic', negative_prompt: 'blurry', aspect_ratio: '16:9' });
    assert.equal(result.images[0]!.settings.seed, '42');
    assert.equal(result.images[0]!.settings.negativePrompt, 'blurry');
    assert.equal(result.response.requestId, 'req-42');
    assert.deepEqual(result.response.providerMetadata, { finishReason: 'SUCCESS', endpoint: corePath });
    assert.deepEqual(result.cost && { amountUsd: result.cost.amountUsd, priceDate: result.cost.priceDate }, { amountUsd: 0.03, priceDate: '2024-04-17' });
    assert.deepEqual(result.warnings, []);
  });

  test('sd3.5 models share one endpoint, named by `model`; guidance is cfg_scale, kept within 1–10', async () => {
    const result = await mock.provider('sd3.5-large-turbo').doGenerate({ prompt: 'a koi pond', n: 1, seed: 7, guidance: 12 });
    const fields = mock.server.requestsTo('POST', sd3Path).at(-1)!.form!;
    assert.equal(fields.get('model'), 'sd3.5-large-turbo');
    assert.equal(fields.get('cfg_scale'), '10');
    assert.equal(fields.get('aspect_ratio'), null);
    assert.ok(result.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'guidance' && /12 was sent as 10/.test(warning.details)));
    assert.equal(result.cost?.amountUsd, 0.04);
  });

  test('n=3 is three requests with seeds seed, seed+1, seed+2, one warning for n, one for the size', async () => {
    const before = mock.server.requestsTo('POST', ultraPath).length;
    const result = await mock.provider('ultra').doGenerate({ prompt: 'a tower', n: 3, seed: 4_294_967_293, width: 800, height: 800 });
    const sent = mock.server.requestsTo('POST', ultraPath).slice(before);
    assert.deepEqual(sent.map((request) => request.form!.get('seed')), ['4294967293', '4294967294', '0']);
    // Seed 0 asks Stability to choose; the seed it reports is the one recorded.
    assert.deepEqual(result.images.map((image) => image.settings.seed), ['4294967293', '4294967294', '987654321']);
    assert.deepEqual(result.warnings.map((warning) => warning.type !== 'other' && warning.setting), ['n', 'size']);
    assert.equal(result.cost?.amountUsd, 0.24);
  });

  test('`decoder` "fast" has nothing to act on in a finished image: a warning when a fallback list passes it on, none for "full"', async () => {
    const fast = await mock.provider('core').doGenerate({ prompt: 'a cat', n: 1, decoder: 'fast' });
    assert.ok(fast.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'decoder'));
    const full = await mock.provider('core').doGenerate({ prompt: 'a cat', n: 1, decoder: 'full' });
    assert.ok(!full.warnings.some((warning) => warning.type !== 'other' && warning.setting === 'decoder'));
  });

  test('a seed above 4294967294 is refused naming `seed`', async () => {
    await assert.rejects(mock.provider('core').doGenerate({ prompt: 'a cat', n: 1, seed: 4_294_967_295 }), isInvalidArgument('seed', /4294967294/));
  });

  test('image to image on sd3.5: mode, image file and strength; without strength 0.7 is sent', async () => {
    const input = await testImage('jpeg', 96, 64);
    const result = await mock.provider('sd3.5-medium').doGenerate({ prompt: 'make it blue', n: 1, images: [input], strength: 0.35 });
    const form = mock.server.requestsTo('POST', sd3Path).at(-1)!.form!;
    assert.equal(form.get('mode'), 'image-to-image');
    assert.equal(form.get('strength'), '0.35');
    assert.equal(form.get('aspect_ratio'), null);
    assert.equal((form.get('image') as File).type, 'image/jpeg');
    assert.deepEqual(Buffer.from(await (form.get('image') as File).arrayBuffer()), Buffer.from(input));
    assert.equal(result.images[0]!.settings.operation, 'image-to-image');
    assert.equal(result.images[0]!.settings.edit?.strength, 0.35);
    await mock.provider('ultra').doGenerate({ prompt: 'make it blue', n: 1, images: [input] });
    const ultra = mock.server.requestsTo('POST', ultraPath).at(-1)!.form!;
    assert.equal(ultra.get('strength'), '0.7');
    assert.equal(ultra.get('mode'), null, 'Ultra has no mode field');
  });

  test('a mask goes to edit/inpaint as white-is-edit, at the input image size', async () => {
    const image = await testImage('png', 64, 64);
    const whiteTopHalf = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'black' } }).composite([{ input: { create: { width: 64, height: 32, channels: 3, background: 'white' } }, top: 0, left: 0 }]).png().toBuffer();
    const result = await mock.provider('core').doGenerate({ prompt: 'a red hat', negativePrompt: 'text', n: 1, seed: 9, images: [image], mask: whiteTopHalf, strength: 0.5, providerOptions: { stability: { growMask: 10, creativity: 0.2 } } });
    const form = mock.server.requestsTo('POST', inpaintPath).at(-1)!.form!;
    assert.equal(form.get('prompt'), 'a red hat');
    assert.equal(form.get('negative_prompt'), 'text');
    assert.equal(form.get('grow_mask'), '10');
    assert.equal(form.get('creativity'), null);
    const mask = await sharp(Buffer.from(await (form.get('mask') as File).arrayBuffer())).greyscale().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([mask.info.width, mask.info.height], [64, 64]);
    assert.equal(mask.data[0], 255, 'top-left is edited: white');
    assert.equal(mask.data[63 * 64], 0, 'bottom-left is kept: black');
    assert.equal(result.images[0]!.settings.operation, 'inpaint');
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'strength'), 'core has no strength');
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'providerOptions.stability.creativity'));
    assert.deepEqual([result.cost!.amountUsd, result.cost!.basis], [0.05, "1 × $0.05 (inpaint)"], "inpainting is priced per call, whatever the model");
  });

  test('extend goes to edit/outpaint as left/right/up/down; its result is the grown canvas', async () => {
    const image = await testImage('png', 64, 48);
    const result = await mock.provider('ultra').doGenerate({ prompt: 'a wider beach', negativePrompt: 'people', n: 1, images: [image], extend: { left: 16, bottom: 8 }, providerOptions: { stability: { creativity: 0.3 } } });
    const form = mock.server.requestsTo('POST', outpaintPath).at(-1)!.form!;
    assert.deepEqual(['left', 'right', 'up', 'down', 'creativity'].map((name) => form.get(name)), ['16', '0', '0', '8', '0.3']);
    assert.equal(form.get('negative_prompt'), null);
    assert.deepEqual([result.images[0]!.settings.width, result.images[0]!.settings.height, result.images[0]!.settings.operation], [80, 56, 'outpaint']);
    assert.ok(result.warnings.some((warning) => warning.type === 'unsupported-setting' && warning.setting === 'negativePrompt'));
  });

  test('inputs no endpoint takes are refused before anything is sent', async () => {
    const image = await testImage('png', 64, 64);
    const before = mock.server.requests.length;
    await assert.rejects(mock.provider('core').doGenerate({ prompt: 'x', n: 1, images: [image] }), isInvalidArgument('images', /mask.*extend/));
    await assert.rejects(mock.provider('ultra').doGenerate({ prompt: 'x', n: 1, images: [image], mask: image, extend: { left: 8 } }), isInvalidArgument('extend', /not both/));
    await assert.rejects(mock.provider('ultra').doGenerate({ prompt: 'x', n: 1, images: [image], extend: { left: 2001 } }), isInvalidArgument('extend.left', /0 to 2000/));
    await assert.rejects(mock.provider('ultra').doGenerate({ prompt: 'x', n: 1, images: [image], extend: {} }), isInvalidArgument('extend', /adds nothing/));
    await assert.rejects(mock.provider('ultra').doGenerate({ prompt: 'x', n: 1, extend: { left: 8 } }), isInvalidArgument('extend', /input image/));
    await assert.rejects(mock.provider('sdxl-1.0').doGenerate({ prompt: 'x', n: 1 }), isInvalidArgument('model', /core, ultra/));
    assert.equal(mock.server.requests.length, before);
  });

  test('doCheck refuses the same inputs from counts alone (what a service knows at submit), and lets warnings pass', async () => {
    const before = mock.server.requests.length;
    await assert.rejects(mock.provider('core').doCheck({ n: 1, images: 1 }), isInvalidArgument('images', /mask.*extend/));
    await assert.rejects(mock.provider('ultra').doCheck({ n: 1, images: 1, mask: true, extend: { left: 8 } }), isInvalidArgument('extend', /not both/));
    await assert.rejects(mock.provider('ultra').doCheck({ n: 1, images: 1, extend: { left: 2001 } }), isInvalidArgument('extend.left', /0 to 2000/));
    await assert.rejects(mock.provider('ultra').doCheck({ n: 1, extend: { left: 8 } }), isInvalidArgument('extend', /input image/));
    await assert.rejects(mock.provider('sdxl-1.0').doCheck({ n: 1 }), isInvalidArgument('model', /core, ultra/));
    await assert.rejects(mock.provider('core').doCheck({ n: 1, seed: 4_294_967_295 }), isInvalidArgument('seed', /4294967294/));
    await assert.rejects(mock.provider('core').doCheck({ n: 1, providerOptions: { stability: { stylePreset: 'no-such-style' } } }), isInvalidArgument('providerOptions.stability.stylePreset', /stylePreset/));
    // Unsupported or adjusted settings are warnings when the call runs, not refusals.
    await mock.provider('core').doCheck({ n: 3, steps: 30, sampler: 'euler', guidance: 4, width: 1000, height: 700 });
    await mock.provider('core').doCheck({ n: 1, images: 1, mask: true });
    assert.equal(mock.server.requests.length, before);
  });
});

describe('stability failures', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: StabilityProviderSettings = {}) => {
    const mock = await mockStability(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays } = await fresh();
    server.route('POST', corePath, { status: 429, headers: { 'retry-after': '3' }, json: { id: 'rate_limit_exceeded', name: 'rate_limit_exceeded', errors: ['You have exceeded the rate limit of 150 requests within a 10 second period'] } }, imageAnswer);
    const result = await provider('core').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(delays, [3000]);
    assert.deepEqual(result.attempts?.map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs })), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 3000 },
      { outcome: 'succeeded', statusCode: 200, retryDelayMs: undefined },
    ]);
  });

  test('500 then success: one retry after a backoff delay', async () => {
    const { server, provider, delays } = await fresh({ retryDelayMs: 1000 });
    server.route('POST', corePath, { status: 500, json: { id: 'x', name: 'internal_error', errors: ['An unexpected server error has occurred, please try again later.'] } }, imageAnswer);
    const result = await provider('core').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays, [750]);
    assert.equal(result.attempts?.length, 2);
  });

  test('a 403 from content moderation is a ContentPolicyError and is not retried', async () => {
    const { server, provider } = await fresh();
    server.route('POST', corePath, { status: 403, json: { id: 'ed14db44362126aab3cbd25cca51ffe3', name: 'content_moderation', errors: ['Your request was flagged by our content moderation system, as a result your request was denied and you were not charged.'] } });
    await assert.rejects(provider('core').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && error.statusCode === 403 && /content_moderation.*flagged/.test(error.message));
    assert.equal(server.requestsTo('POST', corePath).length, 1);
  });

  test('finish_reason CONTENT_FILTERED (a blurred image) is a ContentPolicyError, not an image', async () => {
    const { server, provider } = await fresh();
    const png = Buffer.from(await testImage('png', 64, 64)).toString('base64');
    server.route('POST', ultraPath, { json: { image: png, finish_reason: 'CONTENT_FILTERED', seed: 5 } });
    await assert.rejects(provider('ultra').doGenerate({ prompt: 'something filtered', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && /CONTENT_FILTERED/.test(error.message));
    assert.equal(server.requestsTo('POST', ultraPath).length, 1);
  });

  test('a 400 naming a field is an InvalidRequestError with that field', async () => {
    const { server, provider } = await fresh();
    server.route('POST', corePath, { status: 400, json: { id: 'a1b2', name: 'bad_request', errors: ['aspect_ratio: must be one of 21:9, 16:9, 3:2, 5:4, 1:1, 4:5, 2:3, 9:16, 9:21'] } });
    await assert.rejects(provider('core').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidRequestError.isInstance(error) && error.field === 'aspect_ratio' && /bad_request: aspect_ratio: must be one of/.test(error.message));
  });

  test('malformed JSON is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('POST', corePath, { status: 200, headers: { 'content-type': 'application/json' }, body: '{"image": "iVBOR' });
    await assert.rejects(provider('core').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('no API key: an AuthenticationError naming STABILITY_API_KEY, and nothing sent', async () => {
    const { server } = await fresh();
    const saved = process.env.STABILITY_API_KEY;
    delete process.env.STABILITY_API_KEY;
    try {
      const provider = createStability({ baseURL: server.url });
      await assert.rejects(provider('core').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'STABILITY_API_KEY' && /STABILITY_API_KEY/.test(error.message));
      assert.equal(server.requests.length, 0);
    } finally {
      if (saved !== undefined) process.env.STABILITY_API_KEY = saved;
    }
  });

  test('a 401 is an AuthenticationError that says which variable to check', async () => {
    const { server, provider } = await fresh();
    server.route('POST', corePath, { status: 401, json: { id: 'x', name: 'unauthorized', errors: ['authorization: invalid or missing header value'] } });
    await assert.rejects(provider('core').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && /invalid or missing.*STABILITY_API_KEY/.test(error.message));
  });

  test('aborting mid-request ends the call at once with AbortedError, saying nothing was cancelled at Stability', async () => {
    const { server, provider } = await fresh();
    server.route('POST', corePath, { delayMs: 10_000, json: {} });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await assert.rejects(provider('core').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal }), (error: unknown) => AbortedError.isInstance(error) && /no cancel endpoint/.test(error.message));
    assert.ok(Date.now() - started < 5000);
  });

  test('PIXELPIPE_STABILITY_BASE_URL points the provider at a gateway', async () => {
    const { server } = await fresh();
    process.env.PIXELPIPE_STABILITY_BASE_URL = `${server.url}/`;
    try {
      const result = await createStability({ apiKey: 'sk-gateway' })('core').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(result.images.length, 1);
      assert.equal(server.requestsTo('POST', corePath)[0]!.headers.authorization, 'Bearer sk-gateway');
    } finally {
      delete process.env.PIXELPIPE_STABILITY_BASE_URL;
    }
  });
});
