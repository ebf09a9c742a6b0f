// The app's shared behaviour over a real socket and the real service, run on each database: auth, rate limits, quotas, body limit, 404s, health, metrics, OpenAPI.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { testModel } from '../../testing/test-model-provider.js';
import { errorOf, sharedTestService, type DatabaseCase } from './http-test-harness.case.js';

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

/** Small enough to test the body limit with a short prompt; every other request of the suite fits. */
const maxBodyBytes = 1024;

export function httpAppSuite(databaseCase: DatabaseCase): void {
  describe(`the HTTP app on the real service (${databaseCase.name})`, () => {
    const shared = sharedTestService(databaseCase, { limits: { maxBodyBytes } });
    after(() => shared.close());

    test('with API keys, /v1 needs a known, unrevoked key: 401, 401, 403 in the one error shape', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { request, addKey } = server;
      const { secret: good } = await addKey();
      const { secret: gone } = await addKey({ revoked: true });

      const missing = await request('/v1/records');
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
      assert.deepEqual({ ...errorOf(await missing.json()), message: undefined }, { message: undefined, type: 'authentication_error', param: 'Authorization', code: 'missing_api_key' });

      const unknown = await request('/v1/records', { headers: bearer('pp_what_is_this') });
      assert.equal(unknown.status, 401);
      assert.equal(errorOf(await unknown.json()).code, 'invalid_api_key');
      // A well-formed secret the server never issued is unknown too.
      const forged = await request('/v1/records', { headers: bearer(`pp_${'A'.repeat(43)}`) });
      assert.equal(forged.status, 401);
      assert.equal(errorOf(await forged.json()).code, 'invalid_api_key');

      const malformed = await request('/v1/records', { headers: { authorization: 'Basic abc' } });
      assert.equal(malformed.status, 401);

      const revoked = await request('/v1/records', { headers: bearer(gone) });
      assert.equal(revoked.status, 403);
      const error = errorOf(await revoked.json());
      assert.equal(error.type, 'permission_error');
      assert.equal(error.code, 'api_key_revoked');

      const ok = await request('/v1/records', { headers: bearer(good) });
      assert.equal(ok.status, 200);
    });

    test('with API keys, a bearer token that is no key is invalid_api_key showing only its start; another scheme is named', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { request, addKey } = server;
      const { secret: good } = await addKey();
      const answer = async (authorization: string) => {
        const response = await request('/v1/records', { headers: { authorization } });
        return { status: response.status, ...errorOf(await response.json()) };
      };

      for (const placeholder of ['Bearer <your key here>', 'Bearer YOUR_API_KEY', `bearer ${good} and more`]) {
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
      const bare = await answer(good);
      assert.match(bare.message, /got one word and no scheme; put `Bearer ` before the key/);
      assert.doesNotMatch(bare.message, new RegExp(good.slice(3)));
    });

    test('a key past its requests per minute gets 429 with Retry-After: a token bucket that refills one request every 60/limit seconds', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { request, addKey } = server;
      const { secret, key } = await addKey({ rateLimitPerMinute: 2 });
      // The whole minute's allowance may go in a burst.
      assert.equal((await request('/v1/records', { headers: bearer(secret) })).status, 200);
      assert.equal((await request('/v1/records', { headers: bearer(secret) })).status, 200);
      const limited = await request('/v1/records', { headers: bearer(secret) });
      assert.equal(limited.status, 429);
      // The next request is allowed once half a minute has refilled one (not when a fixed minute window ends).
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(retryAfter >= 29 && retryAfter <= 30, `Retry-After ${retryAfter}`);
      const error = errorOf(await limited.json());
      assert.equal(error.type, 'rate_limit_error');
      assert.equal(error.code, 'rate_limit_exceeded');
      assert.match(error.message, new RegExp(`the API key ${key.prefix} may make 2 requests a minute and has made them; retry in ${retryAfter} s`));
      // Each key has its own bucket.
      const { secret: other } = await addKey({ rateLimitPerMinute: 2 });
      assert.equal((await request('/v1/records', { headers: bearer(other) })).status, 200);
    });

    test('a spent daily quota answers 429 quota_exceeded', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, addKey } = server;
      const { secret } = await addKey({ dailyImageQuota: 2 });
      assert.equal((await postJson('/v1/jobs', { prompt: 'a', n: 2 }, bearer(secret))).response.status, 202);
      const { response, body } = await postJson('/v1/jobs', { prompt: 'b' }, bearer(secret));
      assert.equal(response.status, 429);
      assert.equal(errorOf(body).code, 'quota_exceeded');
      assert.ok(Number(response.headers.get('retry-after')) >= 1);
      assert.match(errorOf(body).message, /daily quota is 2 images and 2 were asked for today, so 1 more would pass it; it resets at \d{4}-\d\d-\d\dT00:00:00\.000Z/);
    });

    test('jobs and records of one key are invisible to another', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, request, addKey, completeJob } = server;
      const { secret: alice } = await addKey();
      const { secret: bob } = await addKey();
      const { body: job } = await postJson('/v1/jobs', { prompt: 'mine' }, bearer(alice));
      await completeJob(job.id);
      assert.equal((await request(`/v1/jobs/${job.id}`, { headers: bearer(alice) })).status, 200);
      assert.equal((await request(`/v1/jobs/${job.id}`, { headers: bearer(bob) })).status, 404);
      assert.equal((await request(`/v1/jobs/${job.id}`, { method: 'DELETE', headers: bearer(bob) })).status, 404);
      assert.equal((await request(`/v1/jobs/${job.id}/events`, { headers: bearer(bob) })).status, 404);
      const alices = (await (await request('/v1/records', { headers: bearer(alice) })).json()) as { data: { id: string }[] };
      const bobs = (await (await request('/v1/records', { headers: bearer(bob) })).json()) as { data: unknown[] };
      assert.equal(alices.data.length, 1);
      assert.equal(bobs.data.length, 0);
      assert.equal((await request(`/v1/records/${alices.data[0]!.id}`, { headers: bearer(bob) })).status, 404);
    });

    test('health, readiness, metrics and the OpenAPI document need no key', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      await server.addKey();
      assert.equal((await server.request('/v1/records')).status, 401, 'the key is needed elsewhere');
      for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
        assert.equal((await server.request(path)).status, 200, path);
      }
    });

    test('/healthz is ok; /readyz answers 503 naming the part that is down', async (t) => {
      const testService = await shared.get(t);
      if (!testService) return;
      const server = await shared.startServer(t);
      const { request } = server!;
      assert.deepEqual(await (await request('/healthz')).json(), { status: 'ok' });
      assert.deepEqual(await (await request('/readyz')).json(), { status: 'ready', database: true, storage: true, workers: 1, workerProcesses: { isolation: 'in-process', processes: [], crashes: 0 } });

      testService.setDatabaseDown(true);
      t.after(() => testService.setDatabaseDown(false));
      const down = await request('/readyz');
      assert.equal(down.status, 503);
      const body = (await down.json()) as { checks: unknown };
      assert.equal(errorOf(body).code, 'not_ready');
      assert.match(errorOf(body).message, /database/);
      assert.deepEqual(body.checks, { database: false, storage: true });
      assert.equal((await request('/healthz')).status, 200, 'liveness does not depend on the database');
      testService.setDatabaseDown(false);
      assert.equal((await request('/readyz')).status, 200, 'ready again once the database answers');
    });

    test('/metrics is Prometheus text: queue depth, running jobs, submissions', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { request, postJson, addKey } = server;
      // A key that may run one job at once: while its first is held, its second waits in the queue.
      const { secret } = await addKey({ maxConcurrentJobs: 1 });
      const metrics = async () => {
        const response = await request('/metrics');
        assert.equal(response.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
        return await response.text();
      };
      const submittedBefore = Number(/^pixelpipe_jobs_submitted_total (\d+)$/m.exec(await metrics())?.[1]);
      testModel.hold();
      await postJson('/v1/jobs', { prompt: 'count me' }, bearer(secret));
      await testModel.call('count me');
      await postJson('/v1/jobs', { prompt: 'count me too' }, bearer(secret));
      const text = await metrics();
      assert.match(text, /^pixelpipe_jobs_running 1$/m);
      assert.match(text, /^pixelpipe_queue_depth 1$/m);
      assert.match(text, new RegExp(`^pixelpipe_jobs_submitted_total ${submittedBefore + 2}$`, 'm'));
      assert.match(text, /^# TYPE pixelpipe_job_latency_seconds histogram$/m);
    });

    test('/openapi.json lists the routes and the job request schema', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const document = (await (await server.request('/openapi.json')).json()) as any;
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
      const server = await shared.startServer(t);
      if (!server) return;
      for (const [path, method] of [['/nope', 'GET'], ['/v1/nothing/here', 'POST'], ['/v1/jobs', 'PUT']] as const) {
        const response = await server.request(path, { method });
        assert.equal(response.status, 404, `${method} ${path}`);
        assert.equal(errorOf(await response.json()).code, 'route_not_found');
        assert.ok(response.headers.get('x-request-id'));
      }
      const echoed = await server.request('/healthz', { headers: { 'x-request-id': 'trace-123' } });
      assert.equal(echoed.headers.get('x-request-id'), 'trace-123');
    });

    test('a body over maxBodyBytes answers 413, with Content-Length or chunked', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { request, postJson } = server;
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
      // Just under the limit goes through to the service.
      const fits = await postJson('/v1/jobs', { prompt: 'x'.repeat(maxBodyBytes - 20) });
      assert.equal(fits.response.status, 202, JSON.stringify(fits.body));
    });
  });
}
