// The official openai client against the OpenAI-compatible routes over the real service: what it gets back, what the service queued and what the model was asked.
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import OpenAI, { toFile } from 'openai';
import type { ImageEditParamsNonStreaming, ImageGenerateParamsNonStreaming } from 'openai/resources/images';
import sharp from 'sharp';
import { readMask } from '../../engine/image/mask.js';
import type { JobRequest } from '../../service/generation/job-request.js';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { ProviderUnavailableError } from '../../spec/errors/provider-unavailable-error.js';
import { TimeoutError } from '../../spec/errors/timeout-error.js';
import { startMockApiServer, testImage, type MockApiServer, type MockHandler } from '../../testing/mock-api-server.js';
import { testData } from '../../testing/paths.js';
import { testModel } from '../../testing/test-model-provider.js';
import type { HttpErrorBody } from './http-error.js';
import { startTestServer, startTestService, testModelId, type TestServer, type TestService } from './http-test-harness.case.js';

/** Answers like OpenAI's images API: one base64 PNG per requested image, a sixteenth of the requested size. */
const openAiImages: MockHandler = async (request) => {
  const [width, height] = String(request.json?.size ?? '1024x1024').split('x').map(Number) as [number, number];
  const png = Buffer.from(await testImage('png', width / 16, height / 16)).toString('base64');
  return { json: { created: 1, data: Array.from({ length: Number(request.json?.n ?? 1) }, () => ({ b64_json: png })) } };
};

// One service for the file: the test model as its default, a local model in its catalog, and OpenAI's API served locally.
let testService: TestService;
let openAiApi: MockApiServer;
let secret: string;

before(async () => {
  openAiApi = await startMockApiServer();
  openAiApi.route('POST', '/v1/images/generations', openAiImages);
  testService = await startTestService({
    models: [testData('fixtures', 'tiny-sd15')],
    pixelpipe: { providers: { openai: { apiKey: 'sk-test', baseURL: `${openAiApi.url}/v1`, maxRetries: 0 } } },
  });
  ({ secret } = await testService.service.keys.create({ name: 'openai routes' }));
});
after(async () => {
  await testService.close();
  await openAiApi.close();
});

interface Harness extends TestServer {
  client: OpenAI;
}

/** This test's app over the file's service, and the official client with the file's key. */
async function startHarness(t: TestContext): Promise<Harness> {
  const server = await startTestServer(t, testService);
  return { ...server, client: new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1`, maxRetries: 0 }) };
}

/** The job request of the newest record. */
async function lastJobRequest(harness: Harness): Promise<JobRequest> {
  const { records } = await harness.service.listRecords({ limit: 1 });
  assert.ok(records[0], 'no job made an image');
  return records[0].request;
}

const sleep = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

async function png(width: number, height: number, alpha = false): Promise<Buffer> {
  const background = alpha ? { r: 0, g: 0, b: 0, alpha: 0 } : { r: 200, g: 30, b: 30 };
  return sharp({ create: { width, height, channels: alpha ? 4 : 3, background } }).png().toBuffer();
}

async function pngSize(bytes: Uint8Array): Promise<string> {
  const { format, width, height } = await sharp(bytes).metadata();
  return `${format} ${width}x${height}`;
}

async function rejection<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    return error;
  }
  assert.fail(`expected ${type.name}`);
}

describe('OpenAI-compatible routes with the official client', () => {
  it('generates base64 PNGs of the asked size and queues the mapped request', async (t) => {
    const harness = await startHarness(t);
    const response = await harness.client.images.generate({ prompt: 'a red cube', n: 2, size: '64x96' });
    assert.equal(response.data?.length, 2);
    for (const image of response.data!) assert.equal(await pngSize(Buffer.from(image.b64_json!, 'base64')), 'png 64x96');
    assert.equal(response.output_format, 'png');
    assert.equal(response.size, '64x96');
    assert.ok(Math.abs(response.created - Date.now() / 1000) < 60);
    const request = await lastJobRequest(harness);
    assert.equal(request.prompt, 'a red cube');
    assert.equal(request.n, 2);
    assert.equal(request.width, 64);
    assert.equal(request.height, 96);
    assert.equal((harness.submissions[0]!.request as JobRequest).model, undefined, 'no model was sent');
    assert.equal(request.model, testModelId, 'so the service ran its default, and wrote it into the request');
  });

  it('answers signed URLs that download the stored bytes', async (t) => {
    const harness = await startHarness(t);
    const response = await harness.client.images.generate({ prompt: 'a blue cube', response_format: 'url', size: '64x64' });
    const url = response.data?.[0]?.url;
    assert.ok(url);
    assert.ok(url.startsWith(`${harness.server.url}/v1/blobs/`), url);
    const download = await fetch(url);
    assert.equal(download.status, 200);
    const { records } = await harness.service.listRecords({ limit: 1 });
    const stored = await harness.service.storage.get(records[0]!.blobKey);
    assert.deepEqual(new Uint8Array(await download.arrayBuffer()), stored!.bytes);
  });

  it('passes the pixelpipe extensions, maps OpenAI model names and hands OpenAI options to the openai provider', async (t) => {
    const harness = await startHarness(t);
    const body = { prompt: 'a vase', model: 'gpt-image-1', quality: 'high', user: 'end-user-7', seed: 1234, negative_prompt: 'blurry', steps: 3, guidance: 6.5, sampler: 'euler' };
    const response = await harness.client.images.generate(body as ImageGenerateParamsNonStreaming);
    assert.equal(response.data?.length, 1);
    const request = await lastJobRequest(harness);
    assert.equal(request.model, 'openai:gpt-image-1');
    assert.equal(request.seed, 1234);
    assert.equal(request.negativePrompt, 'blurry');
    assert.equal(request.steps, 3);
    assert.equal(request.guidance, 6.5);
    assert.equal(request.sampler, 'euler');
    assert.deepEqual(request.providerOptions, { openai: { quality: 'high', user: 'end-user-7' } });
    // The job ran on the openai provider, which sent OpenAI the options it understands.
    const sent = openAiApi.requestsTo('POST', '/v1/images/generations').at(-1)!.json;
    assert.deepEqual([sent.model, sent.prompt, sent.quality, sent.user], ['gpt-image-1', 'a vase', 'high', 'end-user-7']);
    const { records } = await harness.service.listRecords({ limit: 1 });
    assert.deepEqual([records[0]!.provider, records[0]!.modelId], ['openai', 'gpt-image-1']);
  });

  it('edits one uploaded image', async (t) => {
    const harness = await startHarness(t);
    const input = await png(64, 64);
    const response = await harness.client.images.edit({ image: await toFile(input, 'in.png', { type: 'image/png' }), prompt: 'add a hat', size: '64x64' });
    assert.equal(await pngSize(Buffer.from(response.data![0]!.b64_json!, 'base64')), 'png 64x64');
    const request = await lastJobRequest(harness);
    assert.equal(request.prompt, 'add a hat');
    assert.equal(request.images?.length, 1);
    assert.deepEqual((await harness.service.storage.get(request.images![0]!.blobKey))!.bytes, new Uint8Array(input));
    assert.equal(request.mask, undefined);
    assert.deepEqual(testModel.calls[0]!.options.images?.[0], new Uint8Array(input), 'the model got the uploaded bytes');
  });

  it('edits several images (sent as image[]) with an alpha mask', async (t) => {
    const harness = await startHarness(t);
    const [first, second, mask] = await Promise.all([png(64, 64), png(96, 64), png(64, 64, true)]);
    const response = await harness.client.images.edit({
      image: [await toFile(first, 'a.png', { type: 'image/png' }), await toFile(second, 'b.png', { type: 'image/png' })],
      mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
      prompt: 'merge them',
      n: 2,
    });
    assert.equal(response.data?.length, 2);
    const request = await lastJobRequest(harness);
    assert.equal(request.images?.length, 2);
    assert.deepEqual((await harness.service.storage.get(request.images![1]!.blobKey))!.bytes, new Uint8Array(second));
    assert.deepEqual((await harness.service.storage.get(request.mask!.blobKey))!.bytes, new Uint8Array(mask));
    assert.equal(request.maskConvention, 'alpha');
    assert.equal(request.n, 2);
    assert.equal(testModel.calls[0]!.options.maskConvention, 'alpha');
  });

  it('takes mask_convention as a field of the edit, and refuses it without a mask', async (t) => {
    const harness = await startHarness(t);
    const [image, mask] = await Promise.all([png(64, 64), png(64, 64)]);
    await harness.client.images.edit({ image: await toFile(image, 'a.png'), mask: await toFile(mask, 'm.png'), prompt: 'x', mask_convention: 'luminance' } as ImageEditParamsNonStreaming);
    assert.equal((await lastJobRequest(harness)).maskConvention, 'luminance');
    const error = await rejection(harness.client.images.edit({ image: await toFile(image, 'a.png'), prompt: 'x', mask_convention: 'luminance' } as ImageEditParamsNonStreaming), OpenAI.BadRequestError);
    assert.equal(error.param, 'mask_convention');
    assert.match(error.message, /no `mask` was sent; send the mask as a file field `mask` or leave `mask_convention` out/);
  });

  it('refuses a mask of another size than the first image, naming mask', async (t) => {
    const harness = await startHarness(t);
    const error = await rejection(
      harness.client.images.edit({ image: await toFile(await png(64, 64), 'a.png'), mask: await toFile(await png(64, 128, true), 'm.png'), prompt: 'x' }),
      OpenAI.BadRequestError,
    );
    assert.equal(error.param, 'mask');
    assert.match(error.message, /`mask` must be the size of the first image, 64x64, got 64x128/);
  });

  it('refuses an edit without an image, or with an upload that is not a PNG, JPEG or WebP image, naming image', async (t) => {
    const harness = await startHarness(t);
    const missing = await rejection(harness.client.images.edit({ prompt: 'x' } as ImageEditParamsNonStreaming), OpenAI.BadRequestError);
    assert.equal(missing.param, 'image');
    const error = await rejection(harness.client.images.edit({ image: await toFile(Buffer.from('not a png'), 'a.png'), prompt: 'x' }), OpenAI.BadRequestError);
    assert.equal(error.param, 'image');
    const gif = await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 1, g: 2, b: 3 } } }).gif().toBuffer();
    const refused = await rejection(harness.client.images.edit({ image: await toFile(gif, 'a.gif', { type: 'image/gif' }), prompt: 'x' }), OpenAI.BadRequestError);
    assert.equal(refused.param, 'image');
    assert.match(refused.message, /`image` must be a PNG, JPEG or WebP image, got gif/);
    assert.equal(harness.submissions.length, 0, 'nothing was queued');
  });

  it('surfaces invalid requests as BadRequestError with the message and the OpenAI field', async (t) => {
    const harness = await startHarness(t);
    const tooSmall = await rejection(harness.client.images.generate({ prompt: 'x', size: '32x32' }), OpenAI.BadRequestError);
    assert.equal(tooSmall.status, 400);
    assert.equal(tooSmall.param, 'size');
    assert.match(tooSmall.message, /width/);
    const unknown = await rejection(harness.client.images.generate({ prompt: 'x', colour: 'red' } as ImageGenerateParamsNonStreaming), OpenAI.BadRequestError);
    assert.equal(unknown.param, 'colour');
    assert.match(unknown.message, /unknown field `colour`/);
    const format = await rejection(harness.client.images.generate({ prompt: 'x', response_format: 'gif' as 'url' }), OpenAI.BadRequestError);
    assert.equal(format.param, 'response_format');
    assert.match(format.message, /got "gif"/);
    const model = await rejection(harness.client.images.generate({ prompt: 'x', model: 'no-such-model' }), OpenAI.NotFoundError);
    assert.equal(model.param, 'model');
    assert.equal(model.code, 'model_not_found');
  });

  it('answers a malformed body in the error shape', async (t) => {
    const harness = await startHarness(t);
    const headers = { authorization: `Bearer ${secret}` };
    const notJson = await fetch(`${harness.server.url}/v1/images/generations`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{"prompt":' });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as HttpErrorBody).error.code, 'invalid_json');
    const notForm = await fetch(`${harness.server.url}/v1/images/edits`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(notForm.status, 415);
    assert.match(((await notForm.json()) as HttpErrorBody).error.message, /multipart\/form-data/);
  });

  it('lists and looks up models: local ones with their capabilities, configured hosted ones as PROVIDER:MODEL', async (t) => {
    const harness = await startHarness(t);
    const models = [];
    for await (const model of harness.client.models.list()) models.push(model as typeof model & { pixelpipe?: { capabilities: { operations: string[] } } });
    const [local, ...hosted] = models;
    assert.deepEqual({ ...local, pixelpipe: undefined }, { id: 'tiny-sd15', object: 'model', created: 0, owned_by: 'local', pixelpipe: undefined });
    assert.ok(local!.pixelpipe?.capabilities.operations.includes('text-to-image'), JSON.stringify(local!.pixelpipe));
    for (const id of ['openai:gpt-image-1', 'openai:dall-e-3', 'openai:dall-e-2']) {
      assert.deepEqual(hosted.find((model) => model.id === id), { id, object: 'model', created: 0, owned_by: 'openai' }, `${id}: openai has a key here`);
    }
    for (const model of hosted) assert.ok(model.id.startsWith(`${model.owned_by}:`) && !model.pixelpipe, JSON.stringify(model));
    assert.equal((await harness.client.models.retrieve('tiny-sd15')).owned_by, 'local');
    assert.equal((await harness.client.models.retrieve('gpt-image-1')).id, 'openai:gpt-image-1', 'OpenAI\'s own names find the openai model');
    const missing = await rejection(harness.client.models.retrieve('nope'), OpenAI.NotFoundError);
    assert.match(missing.message, /no model "nope" is served here/);
  });

  it('refuses a wrong API key as AuthenticationError', async (t) => {
    const harness = await startHarness(t);
    const stranger = new OpenAI({ apiKey: 'pp_wrong', baseURL: `${harness.server.url}/v1`, maxRetries: 0 });
    const error = await rejection(stranger.images.generate({ prompt: 'x' }), OpenAI.AuthenticationError);
    assert.equal(error.status, 401);
    const bare = await fetch(`${harness.server.url}/v1/models`);
    assert.equal(bare.status, 401);
    assert.equal(((await bare.json()) as HttpErrorBody).error.type, 'authentication_error');
  });

  it('documents the routes in /openapi.json', async (t) => {
    const harness = await startHarness(t);
    const document = (await (await fetch(`${harness.server.url}/openapi.json`)).json()) as { paths: Record<string, { post?: { requestBody: { content: Record<string, unknown> } } }> };
    for (const path of ['/v1/images/generations', '/v1/images/edits', '/v1/models', '/v1/models/{id}']) assert.ok(document.paths[path], path);
    assert.ok(document.paths['/v1/images/edits']?.post?.requestBody.content['multipart/form-data']);
  });
});

describe('OpenAI-compatible routes when jobs do not succeed', () => {
  it('answers a content-policy refusal as a 400 with content_policy_violation, without retrying it', async (t) => {
    const harness = await startHarness(t);
    testModel.failWith(new ContentPolicyError({ message: 'the provider refused the prompt under its content policy', provider: 'test-model' }));
    const error = await rejection(harness.client.images.generate({ prompt: 'something refused' }), OpenAI.BadRequestError);
    assert.equal(error.code, 'content_policy_violation');
    assert.match(error.message, /content policy/);
    assert.equal(testModel.calls.length, 1);
  });

  it('answers an unreachable provider as a 502 and a timeout as a 504, once the queue\'s retries are spent', async (t) => {
    const harness = await startHarness(t);
    testModel.failWith(new ProviderUnavailableError({ message: 'openai answered 503', provider: 'test-model', statusCode: 503 }));
    const unavailable = await rejection(harness.client.images.generate({ prompt: 'x' }), OpenAI.InternalServerError);
    assert.equal(unavailable.status, 502);
    assert.equal(unavailable.code, 'provider_unavailable');
    assert.match(unavailable.message, /failed: openai answered 503/);
    assert.equal(testModel.calls.length, 3, 'a retryable failure runs again, twice (the queue\'s default retry limit), before the client hears of it');
    testModel.failWith(new TimeoutError({ message: 'no answer in 60 s', provider: 'test-model' }));
    assert.equal((await rejection(harness.client.images.generate({ prompt: 'y' }), OpenAI.InternalServerError)).status, 504);
  });

  it('answers a job refused over its mask convention naming mask_convention, the field the client can send', async (t) => {
    const harness = await startHarness(t);
    const opaque = await png(64, 64);
    const engineError = await readMask(opaque, { width: 64, height: 64, convention: 'alpha', maxPixels: 64 * 64 }).then(() => assert.fail('expected a refusal'), (error: Error) => error);
    testModel.failWith(engineError);
    const error = await rejection(harness.client.images.edit({ image: await toFile(opaque, 'a.png'), mask: await toFile(opaque, 'm.png'), prompt: 'x' }), OpenAI.BadRequestError);
    assert.equal(error.param, 'mask_convention');
    assert.match(error.message, /set `mask_convention` to 'luminance'/);
    assert.doesNotMatch(error.message, /maskConvention/);
  });

  it('cancels the job when the client hangs up, which stops its generation, and logs no server error for it', async (t) => {
    const harness = await startHarness(t);
    const logged = t.mock.method(console, 'error', () => undefined);
    testModel.hold();
    const controller = new AbortController();
    const pending = harness.client.images.generate({ prompt: 'never read' }, { signal: controller.signal });
    const call = await testModel.call('never read');
    controller.abort();
    await assert.rejects(pending, OpenAI.APIUserAbortError);
    const jobId = harness.submissions[0]!.jobId!;
    for (let tries = 0; tries < 200 && call.state === 'running'; tries++) await sleep(10);
    assert.equal((await harness.service.getJob(jobId))?.state, 'cancelled');
    assert.equal(call.state, 'aborted');
    // The route's answer to nobody is settled by now; a hang-up is the client's doing, not an error to log.
    await sleep(100);
    assert.deepEqual(logged.mock.calls.map((call) => String(call.arguments[0])), []);
  });

  it('keeps a job with an Idempotency-Key running when the client hangs up, and a retry with the key gets its images', async (t) => {
    const harness = await startHarness(t);
    testModel.hold();
    const headers = { 'Idempotency-Key': 'retry-me' };
    const controller = new AbortController();
    const pending = harness.client.images.generate({ prompt: 'read later' }, { headers, signal: controller.signal });
    const call = await testModel.call('read later');
    controller.abort();
    await assert.rejects(pending, OpenAI.APIUserAbortError);
    // Longer than the service takes to notice a cancelled job.
    await sleep(200);
    const jobId = harness.submissions[0]!.jobId!;
    assert.equal((await harness.service.getJob(jobId))?.state, 'running', 'the worker goes on with it');
    assert.equal(call.state, 'running');
    const retry = harness.client.images.generate({ prompt: 'read later' }, { headers });
    while (harness.submissions[1]?.jobId === undefined) await sleep(5);
    assert.equal(harness.submissions[1].jobId, jobId, 'the same job');
    call.finish();
    assert.equal((await retry).data?.length, 1);
    assert.equal(harness.submissions.at(-1)?.options.idempotencyKey, 'retry-me');
    assert.equal(testModel.calls.length, 1, 'generated once');
  });
});
