import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import sharp from 'sharp';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { AuthenticationError } from '../../spec/errors/authentication-error.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { InvalidResponseError } from '../../spec/errors/invalid-response-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { recordingSleep, startMockApiServer, testImage, type MockApiServer, type MockHandler, type RecordedApiRequest } from '../../testing/mock-api-server.js';
import { providerConformance } from '../provider.case.js';
import { parseAspectRatio } from '../shared/sizes.js';
import { createIdeogram, type IdeogramProviderSettings } from './ideogram-provider.js';

const generatePath = '/v1/ideogram-v3/generate';
const editPath = '/v1/ideogram-v3/edit';
const remixPath = '/v1/ideogram-v3/remix';

const fieldsOf = (request: RecordedApiRequest) => Object.fromEntries([...request.form!.entries()].filter(([, value]) => typeof value === 'string'));

/**
 * A local Ideogram: answers `num_images` entries whose URLs are signed for 500 ms, like Ideogram's ephemeral links,
 * shaped by `resolution`, `aspect_ratio` or the input image; magic prompt ON rewrites the prompt.
 */
async function mockIdeogram(settings: IdeogramProviderSettings = {}) {
  const server = await startMockApiServer();
  const files = new Map<string, { bytes: Uint8Array; issuedAt: number }>();
  let counter = 0;
  const answer: MockHandler = async (request) => {
    const fields = fieldsOf(request);
    let [width, height] = [64, 64];
    const input = request.form!.get('image');
    if (input instanceof File) {
      const metadata = await sharp(Buffer.from(await input.arrayBuffer())).metadata();
      [width, height] = [metadata.width!, metadata.height!];
    }
    if (fields.resolution) [width, height] = String(fields.resolution).split('x').map((side) => Math.round(Number(side) / 16)) as [number, number];
    if (fields.aspect_ratio) {
      const ratio = parseAspectRatio(String(fields.aspect_ratio).replace('x', ':'));
      [width, height] = [Math.round(64 * Math.sqrt(ratio)), Math.round(64 / Math.sqrt(ratio))];
    }
    const seed = Number(fields.seed ?? 12345);
    const prompt = fields.magic_prompt === 'ON' ? `${fields.prompt}, bold hand-lettered type on a textured background` : String(fields.prompt);
    const data = await Promise.all(Array.from({ length: Number(fields.num_images ?? 1) }, async (_, index) => {
      const name = `/files/image-${(counter += 1)}.png`;
      files.set(name, { bytes: await testImage('png', width, height, { r: 10 * index, g: 80, b: 40 }), issuedAt: Date.now() });
      return { url: `${server.url}${name}?exp=1743867804&sig=e13e1267`, prompt, resolution: `${width * 16}x${height * 16}`, is_image_safe: true, seed: seed + index, style_type: fields.style_type ?? 'GENERAL' };
    }));
    return { json: { created: '2025-06-01T10:00:00+00:00', data } };
  };
  for (const path of [generatePath, editPath, remixPath]) server.route('POST', path, answer);
  // Signed URLs that are only good for a moment.
  server.route('GET', '/files/*', (request) => {
    const file = files.get(request.path);
    return file && Date.now() - file.issuedAt < 500 ? { headers: { 'content-type': 'image/png' }, body: file.bytes } : { status: 403, body: '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>' };
  });
  const sleeper = recordingSleep();
  const provider = createIdeogram({ apiKey: 'ideo-test', baseURL: server.url, sleep: sleeper.sleep, random: () => 0.5, ...settings });
  return { server, provider, delays: sleeper.delays, answer };
}

providerConformance({
  name: 'ideogram:V_3',
  edits: true,
  size: { width: 1024, height: 1024 },
  async setup() {
    const { server, provider } = await mockIdeogram();
    return { model: provider('V_3'), close: () => server.close() };
  },
});

describe('ideogram requests', () => {
  let mock: Awaited<ReturnType<typeof mockIdeogram>>;
  before(async () => {
    mock = await mockIdeogram();
  });
  after(() => mock.server.close());

  test('plain text to image sends the prompt, a seed and one image, nothing else; the key goes as Api-Key, never to the image URL', async () => {
    const result = await mock.provider('V_3').doGenerate({ prompt: 'a diner sign that says "OPEN LATE"', n: 1, seed: 77 });
    const sent = mock.server.requestsTo('POST', generatePath).at(-1)!;
    assert.equal(sent.headers['api-key'], 'ideo-test');
    assert.equal(sent.headers.authorization, undefined);
    assert.match(String(sent.headers['content-type']), /^multipart\/form-data; boundary=/);
    assert.deepEqual(fieldsOf(sent), { prompt: 'a diner sign that says "OPEN LATE"', seed: '77', num_images: '1' });
    const download = mock.server.requests.filter((request) => request.method === 'GET').at(-1)!;
    assert.equal(download.headers['api-key'], undefined, 'signed URLs get no API key');
    const [image] = result.images;
    assert.equal(image!.settings.seed, '77');
    assert.equal(image!.revisedPrompt, undefined, 'the prompt came back unchanged');
    assert.deepEqual(result.cost && { amountUsd: result.cost.amountUsd, basis: result.cost.basis, priceDate: result.cost.priceDate }, { amountUsd: 0.06, basis: '1 × $0.06 (DEFAULT)', priceDate: '2025-03-26' });
    assert.deepEqual(result.warnings, []);
  });

  test('provider options are sent in the API’s names; per-image seeds and the magic-prompt rewrite are kept; the price follows the rendering speed', async () => {
    const result = await mock.provider('V_3').doGenerate({
      prompt: 'a bakery logo with the words "Crumb & Co"', negativePrompt: 'blurry', n: 3, seed: 100, aspectRatio: '16:9',
      providerOptions: { ideogram: { renderingSpeed: 'TURBO', magicPrompt: 'ON', styleType: 'DESIGN', stylePreset: 'FLAT_VECTOR', colorPalette: { members: [{ colorHex: '#b470b3', colorWeight: 0.6 }, { colorHex: '#7a79e3' }] } } },
    });
    const sent = fieldsOf(mock.server.requestsTo('POST', generatePath).at(-1)!);
    assert.deepEqual(sent, {
      prompt: 'a bakery logo with the words "Crumb & Co"', seed: '100', num_images: '3', rendering_speed: 'TURBO', magic_prompt: 'ON', style_type: 'DESIGN', style_preset: 'FLAT_VECTOR',
      color_palette: JSON.stringify({ members: [{ color_hex: '#b470b3', color_weight: 0.6 }, { color_hex: '#7a79e3' }] }), negative_prompt: 'blurry', aspect_ratio: '16x9',
    });
    assert.deepEqual(result.images.map((image) => image.settings.seed), ['100', '101', '102']);
    assert.ok(result.images.every((image) => image.revisedPrompt === 'a bakery logo with the words "Crumb & Co", bold hand-lettered type on a textured background'));
    assert.equal(result.cost?.amountUsd, 0.09);
    assert.deepEqual(result.warnings, []);
  });

  test('style codes go as repeated fields; with styleType they are refused naming the option', async () => {
    await mock.provider('V_3').doGenerate({ prompt: 'a badge', n: 1, providerOptions: { ideogram: { styleCodes: ['AAFF5733', '0133FF57'] } } });
    assert.deepEqual(mock.server.requestsTo('POST', generatePath).at(-1)!.form!.getAll('style_codes'), ['AAFF5733', '0133FF57']);
    await assert.rejects(mock.provider('V_3').doGenerate({ prompt: 'a badge', n: 1, providerOptions: { ideogram: { styleCodes: ['AAFF5733'], styleType: 'DESIGN' } } }), isInvalidArgument('providerOptions.ideogram.styleCodes', /styleType/));
  });

  test('width × height goes to the nearest listed resolution, with a warning when it moves', async () => {
    const exact = await mock.provider('V_3').doGenerate({ prompt: 'a banner', n: 1, width: 1280, height: 800 });
    assert.equal(fieldsOf(mock.server.requestsTo('POST', generatePath).at(-1)!).resolution, '1280x800');
    assert.deepEqual(exact.warnings, []);
    const moved = await mock.provider('V_3').doGenerate({ prompt: 'a banner', n: 1, width: 1000, height: 1000 });
    assert.equal(fieldsOf(mock.server.requestsTo('POST', generatePath).at(-1)!).resolution, '1024x1024');
    assert.ok(moved.warnings.some((warning) => warning.type === 'adjusted-setting' && warning.setting === 'size' && /1000x1000 was sent as 1024x1024/.test(warning.details)));
  });

  test('n=10 is two requests of 8 and 2, the second starting at seed+8', async () => {
    const before = mock.server.requestsTo('POST', generatePath).length;
    const result = await mock.provider('V_3').doGenerate({ prompt: 'stickers', n: 10, seed: 5 });
    const sent = mock.server.requestsTo('POST', generatePath).slice(before).map(fieldsOf);
    assert.deepEqual(sent.map((fields) => [fields.num_images, fields.seed]), [['8', '5'], ['2', '13']]);
    assert.equal(result.images.length, 10);
    assert.deepEqual(result.warnings.map((warning) => warning.type !== 'other' && warning.setting), ['n']);
  });

  test('a mask goes to /edit, black where the image changes, at the input image size; edit has no negative prompt or strength', async () => {
    const image = await testImage('png', 64, 64);
    const whiteTopHalf = await sharp({ create: { width: 64, height: 64, channels: 3, background: 'black' } }).composite([{ input: { create: { width: 64, height: 32, channels: 3, background: 'white' } }, top: 0, left: 0 }]).png().toBuffer();
    const result = await mock.provider('V_3').doGenerate({ prompt: 'a straw hat', negativePrompt: 'text', n: 2, seed: 3, strength: 0.5, images: [image], mask: whiteTopHalf, providerOptions: { ideogram: { renderingSpeed: 'QUALITY' } } });
    const sent = mock.server.requestsTo('POST', editPath).at(-1)!;
    assert.deepEqual(fieldsOf(sent), { prompt: 'a straw hat', seed: '3', num_images: '2', rendering_speed: 'QUALITY' });
    const mask = await sharp(Buffer.from(await (sent.form!.get('mask') as File).arrayBuffer())).greyscale().raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([mask.info.width, mask.info.height], [64, 64]);
    assert.equal(mask.data[0], 0, 'top-left is edited: black');
    assert.equal(mask.data[63 * 64], 255, 'bottom-left is kept: white');
    assert.deepEqual(Buffer.from(await (sent.form!.get('image') as File).arrayBuffer()), Buffer.from(image));
    assert.equal(result.images[0]!.settings.operation, 'inpaint');
    assert.deepEqual(result.warnings.map((warning) => warning.type !== 'other' && warning.setting).sort(), ['negativePrompt', 'strength']);
    assert.equal(result.cost?.amountUsd, 0.18);
  });

  test('an image without a mask is a remix: strength becomes image_weight and the input keeps its shape', async () => {
    const image = await testImage('jpeg', 96, 64);
    const result = await mock.provider('V_3').doGenerate({ prompt: 'as a watercolour', n: 1, images: [image], strength: 0.25 });
    const fields = fieldsOf(mock.server.requestsTo('POST', remixPath).at(-1)!);
    assert.equal(fields.image_weight, '75');
    assert.equal(fields.aspect_ratio, '3x2');
    assert.equal(result.images[0]!.settings.operation, 'image-to-image');
    assert.equal(result.images[0]!.settings.edit?.strength, 0.25);
  });

  test('images that fail the safety check are withheld with a warning; all withheld is a ContentPolicyError', async () => {
    const { server, provider } = await mockIdeogram();
    try {
      const png = await testImage('png', 32, 32);
      server.route('GET', '/ok.png', { headers: { 'content-type': 'image/png' }, body: png });
      server.route('POST', generatePath,
        { json: { created: 'x', data: [{ url: `${server.url}/ok.png`, prompt: 'p', resolution: '1024x1024', is_image_safe: true, seed: 1 }, { url: null, prompt: 'p', resolution: '1024x1024', is_image_safe: false, seed: 2 }] } },
        { json: { created: 'x', data: [{ url: null, prompt: 'p', resolution: '1024x1024', is_image_safe: false, seed: 1 }] } });
      const result = await provider('V_3').doGenerate({ prompt: 'p', n: 2 });
      assert.equal(result.images.length, 1);
      assert.ok(result.warnings.some((warning) => warning.type === 'other' && /withheld 1 of 2/.test(warning.message)));
      await assert.rejects(provider('V_3').doGenerate({ prompt: 'p', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && /safety check/.test(error.message));
    } finally {
      await server.close();
    }
  });

  test('a model id other than V_3 is refused before anything is sent', async () => {
    const before = mock.server.requests.length;
    await assert.rejects(mock.provider('V_2_TURBO').doGenerate({ prompt: 'x', n: 1 }), isInvalidArgument('model', /use V_3.*renderingSpeed/));
    assert.equal(mock.server.requests.length, before);
  });
});

describe('ideogram failures', () => {
  const servers: MockApiServer[] = [];
  const fresh = async (settings: IdeogramProviderSettings = {}) => {
    const mock = await mockIdeogram(settings);
    servers.push(mock.server);
    return mock;
  };
  after(() => Promise.all(servers.map((server) => server.close())));

  test('429 with Retry-After waits exactly that long, then succeeds; both attempts are reported', async () => {
    const { server, provider, delays, answer } = await fresh();
    server.route('POST', generatePath, { status: 429, headers: { 'retry-after': '2' }, json: { message: 'Too many requests.' } }, answer);
    const result = await provider('V_3').doGenerate({ prompt: 'a cat', n: 1 });
    assert.deepEqual(delays, [2000]);
    assert.deepEqual(result.attempts?.filter((attempt) => attempt.request?.startsWith('POST')).map(({ outcome, statusCode, retryDelayMs }) => ({ outcome, statusCode, retryDelayMs })), [
      { outcome: 'failed', statusCode: 429, retryDelayMs: 2000 },
      { outcome: 'succeeded', statusCode: 200, retryDelayMs: undefined },
    ]);
  });

  test('500 then success: one retry after a backoff delay', async () => {
    const { server, provider, delays, answer } = await fresh({ retryDelayMs: 1000 });
    server.route('POST', generatePath, { status: 500, body: 'Internal Server Error' }, answer);
    const result = await provider('V_3').doGenerate({ prompt: 'a cat', n: 1 });
    assert.equal(result.images.length, 1);
    assert.deepEqual(delays, [750]);
  });

  test('a 422 safety refusal is a ContentPolicyError and is not retried', async () => {
    const { server, provider } = await fresh();
    server.route('POST', generatePath, { status: 422, json: { error: 'Prompt provided failed safety check due to the inclusion of prohibited content.' } });
    await assert.rejects(provider('V_3').doGenerate({ prompt: 'something refused', n: 1 }), (error: unknown) => ContentPolicyError.isInstance(error) && !error.isRetryable && error.statusCode === 422 && /prohibited content/.test(error.message));
    assert.equal(server.requestsTo('POST', generatePath).length, 1);
  });

  test('malformed JSON is an InvalidResponseError quoting what came back', async () => {
    const { server, provider } = await fresh();
    server.route('POST', generatePath, { status: 200, headers: { 'content-type': 'application/json' }, body: '{"created": "2025-06-01", "data": [{"url": "https://ideo' });
    await assert.rejects(provider('V_3').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /malformed JSON/.test(error.message));
  });

  test('result URLs that expire within a second are fetched at once, all images of a request together', async () => {
    const { server, provider } = await fresh();
    const result = await provider('V_3').doGenerate({ prompt: 'a cat', n: 4 });
    assert.equal(result.images.length, 4);
    const downloads = server.requests.filter((request) => request.method === 'GET');
    assert.equal(downloads.length, 4, 'each URL fetched once, none after it expired');
    assert.ok(result.response.timings.download !== undefined);
  });

  test('an expired result URL is an InvalidResponseError that says the result is lost', async () => {
    const { server, provider } = await fresh();
    server.route('POST', generatePath, { json: { created: 'x', data: [{ url: `${server.url}/files/gone.png`, prompt: 'a cat', resolution: '1024x1024', is_image_safe: true, seed: 1 }] } });
    await assert.rejects(provider('V_3').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => InvalidResponseError.isInstance(error) && /expire/.test(error.message));
  });

  test('no API key: an AuthenticationError naming IDEOGRAM_API_KEY, and nothing sent', async () => {
    const { server } = await fresh();
    const saved = process.env.IDEOGRAM_API_KEY;
    delete process.env.IDEOGRAM_API_KEY;
    try {
      const provider = createIdeogram({ baseURL: server.url });
      await assert.rejects(provider('V_3').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && error.apiKeyVariable === 'IDEOGRAM_API_KEY' && /IDEOGRAM_API_KEY/.test(error.message));
      assert.equal(server.requests.length, 0);
    } finally {
      if (saved !== undefined) process.env.IDEOGRAM_API_KEY = saved;
    }
  });

  test('a 401 is an AuthenticationError that says which variable to check', async () => {
    const { server, provider } = await fresh();
    server.route('POST', generatePath, { status: 401, json: { detail: 'Invalid API key' } });
    await assert.rejects(provider('V_3').doGenerate({ prompt: 'a cat', n: 1 }), (error: unknown) => AuthenticationError.isInstance(error) && /Invalid API key.*IDEOGRAM_API_KEY/.test(error.message));
  });

  test('aborting mid-request ends the call at once with AbortedError, saying nothing was cancelled at Ideogram', async () => {
    const { server, provider } = await fresh();
    server.route('POST', generatePath, { delayMs: 10_000, json: {} });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await assert.rejects(provider('V_3').doGenerate({ prompt: 'a cat', n: 1, abortSignal: controller.signal }), (error: unknown) => AbortedError.isInstance(error) && /no cancel endpoint/.test(error.message));
    assert.ok(Date.now() - started < 5000);
  });

  test('PIXELPIPE_IDEOGRAM_BASE_URL points the provider at a gateway', async () => {
    const { server } = await fresh();
    process.env.PIXELPIPE_IDEOGRAM_BASE_URL = `${server.url}/`;
    try {
      const result = await createIdeogram({ apiKey: 'ideo-gateway' })('V_3').doGenerate({ prompt: 'a cat', n: 1 });
      assert.equal(result.images.length, 1);
      assert.equal(server.requestsTo('POST', generatePath)[0]!.headers['api-key'], 'ideo-gateway');
    } finally {
      delete process.env.PIXELPIPE_IDEOGRAM_BASE_URL;
    }
  });
});
