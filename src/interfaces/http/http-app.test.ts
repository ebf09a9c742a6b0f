// The app's shared behaviour over a real socket: auth, rate limits, quotas, body limit, 404s, health, metrics, OpenAPI.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorOf, startTestServer } from './http-test-harness.case.js';

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

test('with API keys, /v1 needs a known, unrevoked key: 401, 401, 403 in the one error shape', async (t) => {
  const { request, fake } = await startTestServer(t);
  fake.addKey({ secret: 'pp_good_secret' });
  fake.addKey({ secret: 'pp_gone_secret', revoked: true });

  const missing = await request('/v1/records');
  assert.equal(missing.status, 401);
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
  assert.deepEqual({ ...errorOf(await missing.json()), message: undefined }, { message: undefined, type: 'authentication_error', param: 'Authorization', code: 'missing_api_key' });

  const unknown = await request('/v1/records', { headers: bearer('pp_what_is_this') });
  assert.equal(unknown.status, 401);
  assert.equal(errorOf(await unknown.json()).code, 'invalid_api_key');

  const malformed = await request('/v1/records', { headers: { authorization: 'Basic abc' } });
  assert.equal(malformed.status, 401);

  const revoked = await request('/v1/records', { headers: bearer('pp_gone_secret') });
  assert.equal(revoked.status, 403);
  const error = errorOf(await revoked.json());
  assert.equal(error.type, 'permission_error');
  assert.equal(error.code, 'api_key_revoked');

  const good = await request('/v1/records', { headers: bearer('pp_good_secret') });
  assert.equal(good.status, 200);
});

test('with API keys, a bearer token that is no key is invalid_api_key showing only its start; another scheme is named', async (t) => {
  const { request, fake } = await startTestServer(t);
  fake.addKey({ secret: 'pp_good_secret' });
  const answer = async (authorization: string) => {
    const response = await request('/v1/records', { headers: { authorization } });
    return { status: response.status, ...errorOf(await response.json()) };
  };

  for (const placeholder of ['Bearer <your key here>', 'Bearer YOUR_API_KEY', 'bearer pp_good_secret and more']) {
    const error = await answer(placeholder);
    assert.equal(error.status, 401, placeholder);
    assert.equal(error.code, 'invalid_api_key', placeholder);
    assert.match(error.message, /is not known to this server.*`pixelpipe keys create`/, placeholder);
    assert.doesNotMatch(error.message, /must be `Bearer <key>`/, placeholder);
  }
  const placeholder = await answer('Bearer <your key here>');
  assert.match(placeholder.message, /^the API key "<your k"… \(15 characters\) is not known to this server, and looks like a placeholder/);
  assert.doesNotMatch(placeholder.message, /key here/, 'no more than the start of what was sent');
  const secretLike = await answer('Bearer pp_live_0123456789abcdefghij');
  assert.match(secretLike.message, /"pp_live_01"… \(28 characters\)/);
  assert.doesNotMatch(secretLike.message, /23456789/);

  const empty = await answer('Bearer ');
  assert.equal(empty.status, 401);
  assert.equal(empty.code, 'invalid_api_key');
  assert.match(empty.message, /the API key after `Bearer` is empty/);

  const basic = await answer('Basic dXNlcjpwYXNz');
  assert.equal(basic.status, 401);
  assert.equal(basic.code, 'missing_api_key');
  assert.match(basic.message, /must be `Bearer <key>`, got the "Basic" scheme/);
  assert.doesNotMatch(basic.message, /dXNlcjpwYXNz/);
  const bare = await answer('pp_good_secret');
  assert.match(bare.message, /got one word and no scheme; put `Bearer ` before the key/);
  assert.doesNotMatch(bare.message, /pp_good_secret/);
});

test('a key past its requests per minute gets 429 with Retry-After', async (t) => {
  const { request, fake } = await startTestServer(t);
  fake.addKey({ secret: 'pp_limited', rateLimitPerMinute: 2 });
  assert.equal((await request('/v1/records', { headers: bearer('pp_limited') })).status, 200);
  assert.equal((await request('/v1/records', { headers: bearer('pp_limited') })).status, 200);
  const limited = await request('/v1/records', { headers: bearer('pp_limited') });
  assert.equal(limited.status, 429);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  const error = errorOf(await limited.json());
  assert.equal(error.type, 'rate_limit_error');
  assert.equal(error.code, 'rate_limit_exceeded');
});

test('a spent daily quota answers 429 quota_exceeded', async (t) => {
  const { postJson, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  fake.addKey({ secret: 'pp_quota', dailyImageQuota: 2 });
  assert.equal((await postJson('/v1/jobs', { prompt: 'a', n: 2 }, bearer('pp_quota'))).response.status, 202);
  const { response, body } = await postJson('/v1/jobs', { prompt: 'b' }, bearer('pp_quota'));
  assert.equal(response.status, 429);
  assert.equal(errorOf(body).code, 'quota_exceeded');
  assert.ok(response.headers.get('retry-after'));
});

test('jobs and records of one key are invisible to another', async (t) => {
  const { postJson, request, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  fake.addKey({ secret: 'pp_alice' });
  fake.addKey({ secret: 'pp_bob' });
  const { body: job } = await postJson('/v1/jobs', { prompt: 'mine' }, bearer('pp_alice'));
  await fake.completeJob(job.id);
  assert.equal((await request(`/v1/jobs/${job.id}`, { headers: bearer('pp_alice') })).status, 200);
  assert.equal((await request(`/v1/jobs/${job.id}`, { headers: bearer('pp_bob') })).status, 404);
  assert.equal((await request(`/v1/jobs/${job.id}`, { method: 'DELETE', headers: bearer('pp_bob') })).status, 404);
  assert.equal((await request(`/v1/jobs/${job.id}/events`, { headers: bearer('pp_bob') })).status, 404);
  const alices = (await (await request('/v1/records', { headers: bearer('pp_alice') })).json()) as { data: { id: string }[] };
  const bobs = (await (await request('/v1/records', { headers: bearer('pp_bob') })).json()) as { data: unknown[] };
  assert.equal(alices.data.length, 1);
  assert.equal(bobs.data.length, 0);
  assert.equal((await request(`/v1/records/${alices.data[0]!.id}`, { headers: bearer('pp_bob') })).status, 404);
});

test('health, readiness, metrics and the OpenAPI document need no key', async (t) => {
  const { request, fake } = await startTestServer(t);
  fake.addKey({ secret: 'pp_key' });
  for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
    assert.equal((await request(path)).status, 200, path);
  }
});

test('/healthz is ok; /readyz answers 503 naming the part that is down', async (t) => {
  const { request, fake } = await startTestServer(t);
  assert.deepEqual(await (await request('/healthz')).json(), { status: 'ok' });
  assert.deepEqual(await (await request('/readyz')).json(), { status: 'ready', database: true, storage: true, workers: 1 });

  fake.setHealth({ database: false });
  const down = await request('/readyz');
  assert.equal(down.status, 503);
  const body = (await down.json()) as { checks: unknown };
  assert.equal(errorOf(body).code, 'not_ready');
  assert.match(errorOf(body).message, /database/);
  assert.deepEqual(body.checks, { database: false, storage: true });
  assert.equal((await request('/healthz')).status, 200, 'liveness does not depend on the database');
});

test('/metrics is Prometheus text', async (t) => {
  const { request, postJson } = await startTestServer(t, { fake: { autoComplete: false } });
  await postJson('/v1/jobs', { prompt: 'count me' });
  const response = await request('/metrics');
  assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(await response.text(), /^pixelpipe_jobs\{state="queued"\} 1$/m);
});

test('/openapi.json lists the routes and the job request schema', async (t) => {
  const { request } = await startTestServer(t);
  const document = (await (await request('/openapi.json')).json()) as any;
  assert.equal(document.openapi, '3.0.0');
  for (const [path, method] of [
    ['/v1/jobs', 'post'],
    ['/v1/jobs/{id}', 'get'],
    ['/v1/jobs/{id}', 'delete'],
    ['/v1/jobs/{id}/events', 'get'],
    ['/v1/records', 'get'],
    ['/v1/records/{id}', 'get'],
    ['/v1/blobs/{key}', 'get'],
    ['/healthz', 'get'],
    ['/readyz', 'get'],
    ['/metrics', 'get'],
  ]) {
    assert.ok(document.paths[path]?.[method], `${method.toUpperCase()} ${path} is documented`);
  }
  const submit = document.components.schemas.JobSubmit;
  assert.ok(submit, 'the job request schema is a component');
  assert.deepEqual(submit.required, ['prompt']);
  assert.equal(submit.properties.width.maximum, 8192);
  assert.equal(submit.properties.n.maximum, 8);
  assert.equal(submit.additionalProperties, false);
  assert.ok(submit.properties.priority);
  assert.ok(document.components.securitySchemes.bearer);
  assert.ok(document.paths['/v1/jobs'].post.responses['400'].content['application/json'].schema);
});

test('unknown routes answer 404 in the error shape, with a request id', async (t) => {
  const { request } = await startTestServer(t);
  for (const [path, method] of [['/nope', 'GET'], ['/v1/nothing/here', 'POST'], ['/v1/jobs', 'PUT']] as const) {
    const response = await request(path, { method });
    assert.equal(response.status, 404, `${method} ${path}`);
    assert.equal(errorOf(await response.json()).code, 'route_not_found');
    assert.ok(response.headers.get('x-request-id'));
  }
  const echoed = await request('/healthz', { headers: { 'x-request-id': 'trace-123' } });
  assert.equal(echoed.headers.get('x-request-id'), 'trace-123');
});

test('a body over maxBodyBytes answers 413, with Content-Length or chunked', async (t) => {
  const { request, postJson } = await startTestServer(t, { fake: { limits: { maxBodyBytes: 1024 } } });
  const big = JSON.stringify({ prompt: 'x'.repeat(2000) });
  const { response, body } = await postJson('/v1/jobs', big);
  assert.equal(response.status, 413);
  assert.equal(errorOf(body).code, 'body_too_large');

  const chunks = [new TextEncoder().encode(big.slice(0, 1000)), new TextEncoder().encode(big.slice(1000))];
  const chunked = await request('/v1/jobs', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: new ReadableStream({ pull: (controller) => (chunks.length ? controller.enqueue(chunks.shift()!) : controller.close()) }),
    duplex: 'half',
  } as RequestInit);
  assert.equal(chunked.status, 413);
  assert.equal(errorOf(await chunked.json()).code, 'body_too_large');
  assert.equal((await request('/healthz')).status, 200);
});
