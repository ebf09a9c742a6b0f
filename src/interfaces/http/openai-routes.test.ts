// The official openai client against the OpenAI-compatible routes over the fake service: what it gets back and what the service was asked.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import OpenAI, { toFile } from 'openai';
import type { ImageEditParamsNonStreaming, ImageGenerateParamsNonStreaming } from 'openai/resources/images';
import sharp from 'sharp';
import { readMask } from '../../engine/image/mask.js';
import type { JobRequest } from '../../service/generation/job-request.js';
import type { JobError } from '../../service/jobs/job-types.js';
import { createFakeImageService, type FakeImageService, type FakeImageServiceOptions } from '../../testing/fake-image-service.js';
import { createHttpApp } from './http-app.js';
import type { HttpErrorBody } from './http-error.js';
import { startHttpServer, type HttpServer } from './http-server.js';

const secret = 'pp_test_openai_routes';

interface Harness {
  service: FakeImageService;
  server: HttpServer;
  client: OpenAI;
  close(): Promise<void>;
}

async function startHarness(fakeOptions: FakeImageServiceOptions = {}, { withKey = true } = {}): Promise<Harness> {
  const service = createFakeImageService(fakeOptions);
  if (withKey) service.addKey({ secret });
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: 'test-signing-secret' }), host: '127.0.0.1', port: 0 });
  const client = new OpenAI({ apiKey: secret, baseURL: `${server.url}/v1`, maxRetries: 0 });
  return { service, server, client, close: async () => (await server.close(), await service.close()) };
}

/** The job request the service accepted last. */
async function lastJobRequest(service: FakeImageService): Promise<JobRequest> {
  const { records } = await service.listRecords({ limit: 1 });
  assert.ok(records[0], 'no job made an image');
  return records[0].request;
}

/** Calls `then` with each new job's id right after it is queued; gives back a function that stops it. */
function onSubmit(service: FakeImageService, then: (jobId: string) => void): () => void {
  const submit = service.submit;
  service.submit = async (...args) => {
    const result = await submit.apply(service, args);
    then(result.job.id);
    return result;
  };
  return () => void (service.submit = submit);
}

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
  let harness: Harness;
  before(async () => (harness = await startHarness()));
  after(async () => harness.close());

  it('generates base64 PNGs of the asked size and queues the mapped request', async () => {
    const response = await harness.client.images.generate({ prompt: 'a red cube', n: 2, size: '64x96' });
    assert.equal(response.data?.length, 2);
    for (const image of response.data!) assert.equal(await pngSize(Buffer.from(image.b64_json!, 'base64')), 'png 64x96');
    assert.equal(response.output_format, 'png');
    assert.ok(Math.abs(response.created - Date.now() / 1000) < 60);
    const request = await lastJobRequest(harness.service);
    assert.equal(request.prompt, 'a red cube');
    assert.equal(request.n, 2);
    assert.equal(request.width, 64);
    assert.equal(request.height, 96);
    assert.equal(request.model, undefined, 'no model means the service default');
  });

  it('answers signed URLs that download the stored bytes', async () => {
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

  it('passes the pixelpipe extensions, maps OpenAI model names and hands OpenAI options to the openai provider', async () => {
    const body = { prompt: 'a vase', model: 'gpt-image-1', quality: 'high', user: 'end-user-7', seed: 1234, negative_prompt: 'blurry', steps: 3, guidance: 6.5, sampler: 'euler' };
    await harness.client.images.generate(body as ImageGenerateParamsNonStreaming);
    const request = await lastJobRequest(harness.service);
    assert.equal(request.model, 'openai:gpt-image-1');
    assert.equal(request.seed, 1234);
    assert.equal(request.negativePrompt, 'blurry');
    assert.equal(request.steps, 3);
    assert.equal(request.guidance, 6.5);
    assert.equal(request.sampler, 'euler');
    assert.deepEqual(request.providerOptions, { openai: { quality: 'high', user: 'end-user-7' } });
  });

  it('edits one uploaded image', async () => {
    const input = await png(64, 64);
    const response = await harness.client.images.edit({ image: await toFile(input, 'in.png', { type: 'image/png' }), prompt: 'add a hat', size: '64x64' });
    assert.equal(await pngSize(Buffer.from(response.data![0]!.b64_json!, 'base64')), 'png 64x64');
    const request = await lastJobRequest(harness.service);
    assert.equal(request.prompt, 'add a hat');
    assert.equal(request.images?.length, 1);
    assert.deepEqual((await harness.service.storage.get(request.images![0]!.blobKey))!.bytes, new Uint8Array(input));
    assert.equal(request.mask, undefined);
  });

  it('edits several images (sent as image[]) with an alpha mask', async () => {
    const [first, second, mask] = await Promise.all([png(64, 64), png(96, 64), png(64, 64, true)]);
    const response = await harness.client.images.edit({
      image: [await toFile(first, 'a.png', { type: 'image/png' }), await toFile(second, 'b.png', { type: 'image/png' })],
      mask: await toFile(mask, 'mask.png', { type: 'image/png' }),
      prompt: 'merge them',
      n: 2,
    });
    assert.equal(response.data?.length, 2);
    const request = await lastJobRequest(harness.service);
    assert.equal(request.images?.length, 2);
    assert.deepEqual((await harness.service.storage.get(request.images![1]!.blobKey))!.bytes, new Uint8Array(second));
    assert.deepEqual((await harness.service.storage.get(request.mask!.blobKey))!.bytes, new Uint8Array(mask));
    assert.equal(request.maskConvention, 'alpha');
    assert.equal(request.n, 2);
  });

  it('takes mask_convention as a field of the edit, and refuses it without a mask', async () => {
    const [image, mask] = await Promise.all([png(64, 64), png(64, 64)]);
    await harness.client.images.edit({ image: await toFile(image, 'a.png'), mask: await toFile(mask, 'm.png'), prompt: 'x', mask_convention: 'luminance' } as ImageEditParamsNonStreaming);
    assert.equal((await lastJobRequest(harness.service)).maskConvention, 'luminance');
    const error = await rejection(harness.client.images.edit({ image: await toFile(image, 'a.png'), prompt: 'x', mask_convention: 'luminance' } as ImageEditParamsNonStreaming), OpenAI.BadRequestError);
    assert.equal(error.param, 'mask_convention');
    assert.match(error.message, /no `mask` was sent; send the mask as a file field `mask` or leave `mask_convention` out/);
  });

  it('refuses a mask of another size than the first image, naming mask', async () => {
    const error = await rejection(
      harness.client.images.edit({ image: await toFile(await png(64, 64), 'a.png'), mask: await toFile(await png(64, 128, true), 'm.png'), prompt: 'x' }),
      OpenAI.BadRequestError,
    );
    assert.equal(error.param, 'mask');
    assert.match(error.message, /`mask` must be the size of the first image, 64x64, got 64x128/);
  });

  it('refuses an edit without an image, or with an upload that is not one, naming image', async () => {
    const missing = await rejection(harness.client.images.edit({ prompt: 'x' } as ImageEditParamsNonStreaming), OpenAI.BadRequestError);
    assert.equal(missing.param, 'image');
    const error = await rejection(harness.client.images.edit({ image: await toFile(Buffer.from('not a png'), 'a.png'), prompt: 'x' }), OpenAI.BadRequestError);
    assert.equal(error.param, 'image');
  });

  it('surfaces invalid requests as BadRequestError with the message and the OpenAI field', async () => {
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
  });

  it('answers a malformed body in the error shape', async () => {
    const headers = { authorization: `Bearer ${secret}` };
    const notJson = await fetch(`${harness.server.url}/v1/images/generations`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{"prompt":' });
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as HttpErrorBody).error.code, 'invalid_json');
    const notForm = await fetch(`${harness.server.url}/v1/images/edits`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: '{}' });
    assert.equal(notForm.status, 415);
    assert.match(((await notForm.json()) as HttpErrorBody).error.message, /multipart\/form-data/);
  });

  it('lists and looks up models', async () => {
    const models = [];
    for await (const model of harness.client.models.list()) models.push(model);
    assert.deepEqual(models, [{ id: 'fake:tiny', object: 'model', created: 0, owned_by: 'fake' }]);
    assert.equal((await harness.client.models.retrieve('fake:tiny')).owned_by, 'fake');
    const missing = await rejection(harness.client.models.retrieve('nope'), OpenAI.NotFoundError);
    assert.match(missing.message, /no model "nope" is served here/);
  });

  it('refuses a wrong API key as AuthenticationError', async () => {
    const stranger = new OpenAI({ apiKey: 'pp_wrong', baseURL: `${harness.server.url}/v1`, maxRetries: 0 });
    const error = await rejection(stranger.images.generate({ prompt: 'x' }), OpenAI.AuthenticationError);
    assert.equal(error.status, 401);
    const bare = await fetch(`${harness.server.url}/v1/models`);
    assert.equal(bare.status, 401);
    assert.equal(((await bare.json()) as HttpErrorBody).error.type, 'authentication_error');
  });

  it('documents the routes in /openapi.json', async () => {
    const document = (await (await fetch(`${harness.server.url}/openapi.json`)).json()) as { paths: Record<string, { post?: { requestBody: { content: Record<string, unknown> } } }> };
    for (const path of ['/v1/images/generations', '/v1/images/edits', '/v1/models', '/v1/models/{id}']) assert.ok(document.paths[path], path);
    assert.ok(document.paths['/v1/images/edits']?.post?.requestBody.content['multipart/form-data']);
  });
});

describe('OpenAI-compatible routes when jobs do not succeed', () => {
  let harness: Harness;
  let stop = () => {};
  const failWith = (error: JobError) => {
    stop();
    stop = onSubmit(harness.service, (jobId) => harness.service.failJob(jobId, error));
  };
  before(async () => (harness = await startHarness({ autoComplete: false }, { withKey: false })));
  afterEach(() => stop());
  after(async () => harness.close());

  it('answers a content-policy refusal as a 400 with content_policy_violation', async () => {
    failWith({ name: 'ContentPolicyError', message: 'the provider refused the prompt under its content policy', isRetryable: false });
    const error = await rejection(harness.client.images.generate({ prompt: 'something refused' }), OpenAI.BadRequestError);
    assert.equal(error.code, 'content_policy_violation');
    assert.match(error.message, /content policy/);
  });

  it('answers an unreachable provider as a 502 and a timeout as a 504', async () => {
    failWith({ name: 'ProviderUnavailableError', message: 'openai answered 503', isRetryable: true });
    const unavailable = await rejection(harness.client.images.generate({ prompt: 'x' }), OpenAI.InternalServerError);
    assert.equal(unavailable.status, 502);
    assert.equal(unavailable.code, 'provider_unavailable');
    failWith({ name: 'TimeoutError', message: 'no answer in 60 s', isRetryable: true });
    assert.equal((await rejection(harness.client.images.generate({ prompt: 'x' }), OpenAI.InternalServerError)).status, 504);
  });

  it('answers a job refused over its mask convention naming mask_convention, the field the client can send', async () => {
    const opaque = await png(64, 64);
    const engineError = await readMask(opaque, { width: 64, height: 64, convention: 'alpha', maxPixels: 64 * 64 }).then(() => assert.fail('expected a refusal'), (error: Error) => error);
    failWith({ name: engineError.name, message: engineError.message, isRetryable: false });
    const error = await rejection(harness.client.images.edit({ image: await toFile(opaque, 'a.png'), mask: await toFile(opaque, 'm.png'), prompt: 'x' }), OpenAI.BadRequestError);
    assert.equal(error.param, 'mask_convention');
    assert.match(error.message, /set `mask_convention` to 'luminance'/);
    assert.doesNotMatch(error.message, /maskConvention/);
  });

  it('cancels the job when the client hangs up', async () => {
    const jobIds: string[] = [];
    stop = onSubmit(harness.service, (jobId) => jobIds.push(jobId));
    const controller = new AbortController();
    const pending = harness.client.images.generate({ prompt: 'never read' }, { signal: controller.signal });
    while (jobIds.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await assert.rejects(pending, OpenAI.APIUserAbortError);
    for (let tries = 0; tries < 200 && (await harness.service.getJob(jobIds[0]!))?.state !== 'cancelled'; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await harness.service.getJob(jobIds[0]!))?.state, 'cancelled');
  });

  it('keeps a job with an Idempotency-Key running when the client hangs up, and a retry with the key gets its images', async () => {
    const jobIds: string[] = [];
    stop = onSubmit(harness.service, (jobId) => jobIds.push(jobId));
    const headers = { 'Idempotency-Key': 'retry-me' };
    const controller = new AbortController();
    const pending = harness.client.images.generate({ prompt: 'read later' }, { headers, signal: controller.signal });
    while (jobIds.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    await assert.rejects(pending, OpenAI.APIUserAbortError);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal((await harness.service.getJob(jobIds[0]!))?.state, 'queued');
    const retry = harness.client.images.generate({ prompt: 'read later' }, { headers });
    while (jobIds.length === 1) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(jobIds[1], jobIds[0], 'the same job');
    await harness.service.completeJob(jobIds[0]!);
    assert.equal((await retry).data?.length, 1);
    assert.equal(harness.service.submissions.at(-1)?.options.idempotencyKey, 'retry-me');
  });
});
