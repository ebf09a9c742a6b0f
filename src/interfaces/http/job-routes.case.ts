// The native jobs API over a real socket and the real service, run on each database: submit, look up, events (and resuming them), idempotency, cancel, records.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { ContentPolicyError } from '../../spec/errors/content-policy-error.js';
import { testModel } from '../../testing/test-model-provider.js';
import { errorOf, gifBytes, pngBase64, readSse, sharedTestService, testModelId, type DatabaseCase } from './http-test-harness.case.js';

export function jobRoutesSuite(databaseCase: DatabaseCase): void {
  describe(`jobs API on the real service (${databaseCase.name})`, () => {
    const shared = sharedTestService(databaseCase);
    after(() => shared.close());

    test('submit answers 202 with Location, the job runs, and its events stream until done', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, request, completeJob, submissions } = server;
      testModel.hold();
      const { response, body: job } = await postJson('/v1/jobs', { prompt: 'a lighthouse at dusk', n: 2, width: 64, height: 64, seed: 7, priority: 5, previews: true });
      assert.equal(response.status, 202);
      assert.equal(response.headers.get('location'), `/v1/jobs/${job.id}`);
      assert.match(response.headers.get('x-request-id') ?? '', /^[\w-]+$/);
      assert.equal(job.state, 'queued');
      assert.equal(job.priority, 5);
      assert.equal(job.request.model, testModelId, 'the service writes its default model into the request');
      assert.equal(submissions[0]!.options.priority, 5);
      assert.equal('priority' in (submissions[0]!.request as object), false, 'priority is not part of the job request');

      const stream = await request(`/v1/jobs/${job.id}/events`);
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
      const reading = readSse(stream);
      // One step, then the job's view shows where it is.
      const call = await testModel.call('a lighthouse at dusk');
      call.advance();
      let running: any;
      for (let tries = 0; tries < 100; tries++) {
        running = await (await request(`/v1/jobs/${job.id}`)).json();
        if (running.progress) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(running.state, 'running');
      assert.deepEqual(running.progress, { imageIndex: 0, step: 1, steps: 2 });
      await completeJob(job.id);
      const { events: received } = await reading;
      // The test model reports each step of each image, as the local engine does.
      assert.deepEqual(received.map((event) => event.event), ['queued', 'running', 'step', 'step', 'step', 'step', 'done']);
      assert.deepEqual(received.filter((event) => event.event === 'step').map((event) => { const { imageIndex, step, steps } = JSON.parse(event.data); return [imageIndex, step, steps]; }), [[0, 1, 2], [0, 2, 2], [1, 1, 2], [1, 2, 2]]);
      for (const event of received.filter((each) => each.event === 'step')) {
        const { preview } = JSON.parse(event.data);
        assert.deepEqual({ ...preview, base64: undefined }, { mediaType: 'image/png', width: 8, height: 8, method: 'test', base64: undefined }, 'the preview rides on the step event');
        assert.equal((await sharp(Buffer.from(preview.base64, 'base64')).metadata()).format, 'png');
      }
      // Event ids are the sequence numbers of one database-wide sequence: rising, not counted from 1 per job.
      const ids = received.map((event) => Number(event.id));
      assert.ok(ids.every((id, index) => Number.isInteger(id) && id > 0 && (index === 0 || id > ids[index - 1]!)), `rising ids: ${ids.join(', ')}`);
      const done = JSON.parse(received.at(-1)!.data);
      assert.equal(done.jobId, job.id);
      assert.equal(done.records.length, 2);

      const finished = await request(`/v1/jobs/${job.id}`);
      assert.equal(finished.status, 200);
      const view: any = await finished.json();
      assert.equal(view.state, 'succeeded');
      assert.equal(view.records[1].seed, '8');
    });

    test('events resume after Last-Event-ID, and after ?after=', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, request, completeJob } = server;
      const { body: job } = await postJson('/v1/jobs', { prompt: 'resume me' });
      await completeJob(job.id);
      const all = (await readSse(await request(`/v1/jobs/${job.id}/events`))).events;
      assert.deepEqual(all.map((event) => event.event), ['queued', 'running', 'step', 'step', 'done']);
      const ids = all.map((event) => event.id!);

      const resumed = await readSse(await request(`/v1/jobs/${job.id}/events`, { headers: { 'Last-Event-ID': ids[2]! } }));
      assert.deepEqual(resumed.events.map((event) => event.id), ids.slice(3));
      const fromQuery = await readSse(await request(`/v1/jobs/${job.id}/events?after=${ids[3]}`));
      assert.deepEqual(fromQuery.events.map((event) => event.event), ['done']);
      const headerWins = await readSse(await request(`/v1/jobs/${job.id}/events?after=${ids[0]}`, { headers: { 'Last-Event-ID': ids[3]! } }));
      assert.deepEqual(headerWins.events.map((event) => event.id), [ids[4]]);
    });

    test('a failed job\'s stream ends with its error event', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, request } = server;
      testModel.hold();
      const { body: job } = await postJson('/v1/jobs', { prompt: 'doomed' });
      const call = await testModel.call('doomed');
      const reading = readSse(await request(`/v1/jobs/${job.id}/events`));
      call.fail(new ContentPolicyError({ message: 'refused', provider: 'test-model' }));
      const { events } = await reading;
      assert.deepEqual(events.map((event) => event.event), ['queued', 'running', 'error']);
      assert.deepEqual(JSON.parse(events[2]!.data), { error: { name: 'ContentPolicyError', message: 'refused', isRetryable: false }, jobId: job.id });
      const failed: any = await (await request(`/v1/jobs/${job.id}`)).json();
      assert.equal(failed.state, 'failed');
      assert.equal(failed.attempts, 1, 'a refusal that retrying cannot help is not retried');
    });

    test('a client leaving the event stream stops the service iterating', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, request, completeJob, service } = server;
      testModel.hold();
      const { body: job } = await postJson('/v1/jobs', { prompt: 'leave early' });
      const events = service.events.bind(service);
      let iterating = 0;
      service.events = async function* (id, options) {
        iterating++;
        try {
          yield* events(id, options);
        } finally {
          iterating--;
        }
      };
      const controller = new AbortController();
      const response = await request(`/v1/jobs/${job.id}/events`, { signal: controller.signal });
      const { events: received } = await readSse(response, { stopAfter: 1 });
      assert.equal(received[0]!.event, 'queued');
      assert.equal(iterating, 1);
      controller.abort();
      for (let wait = 0; wait < 100 && iterating > 0; wait++) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(iterating, 0, 'the events iterator is closed once the client has gone');
      // The job goes on without the listener; nothing is left waiting for the closed stream.
      await completeJob(job.id);
      assert.equal(((await (await request(`/v1/jobs/${job.id}`)).json()) as any).state, 'succeeded');
    });

    test('the same Idempotency-Key gives back the same job with 200 and Idempotent-Replayed', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson } = server;
      testModel.hold();
      const first = await postJson('/v1/jobs', { prompt: 'once' }, { 'Idempotency-Key': 'order-42' });
      const second = await postJson('/v1/jobs', { prompt: 'once' }, { 'Idempotency-Key': 'order-42' });
      assert.equal(first.response.status, 202);
      assert.equal(second.response.status, 200);
      assert.equal(second.response.headers.get('idempotent-replayed'), 'true');
      assert.equal(second.body.id, first.body.id);
      assert.equal(second.response.headers.get('location'), `/v1/jobs/${first.body.id}`);
      const other = await postJson('/v1/jobs', { prompt: 'once' }, { 'Idempotency-Key': 'order-43' });
      assert.equal(other.response.status, 202);
      assert.notEqual(other.body.id, first.body.id);
    });

    test('DELETE cancels a queued job, then answers 409 job_finished; a running job\'s call is aborted', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, completeJob, addKey } = server;
      // A key that may run one job at once: while its first is held, its next one stays queued.
      const { secret } = await addKey({ maxConcurrentJobs: 1 });
      const headers = { authorization: `Bearer ${secret}` };
      const request = (path: string, init: RequestInit = {}) => server.request(path, { ...init, headers });
      testModel.hold();
      const { body: running } = await postJson('/v1/jobs', { prompt: 'keeps the key busy' }, headers);
      const call = await testModel.call('keeps the key busy');
      const { body: job } = await postJson('/v1/jobs', { prompt: 'never mind' }, headers);
      assert.equal(job.state, 'queued');
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(((await (await request(`/v1/jobs/${job.id}`)).json()) as any).state, 'queued', 'it waits for the key\'s running job');
      const cancelled = await request(`/v1/jobs/${job.id}`, { method: 'DELETE' });
      assert.equal(cancelled.status, 200);
      assert.equal(((await cancelled.json()) as any).state, 'cancelled');
      const { events } = await readSse(await request(`/v1/jobs/${job.id}/events`));
      assert.deepEqual(events.map((event) => event.event), ['queued', 'cancelled']);

      const again = await request(`/v1/jobs/${job.id}`, { method: 'DELETE' });
      assert.equal(again.status, 409);
      assert.equal(errorOf(await again.json()).code, 'job_finished');

      assert.equal((await request(`/v1/jobs/${running.id}`, { method: 'DELETE' })).status, 200);
      assert.equal(await call.ended, 'aborted', 'cancelling a running job aborts its generation');
      const { events: runningEvents } = await readSse(await request(`/v1/jobs/${running.id}/events`));
      assert.deepEqual(runningEvents.map((event) => event.event), ['queued', 'running', 'cancelled']);

      const { body: done } = await postJson('/v1/jobs', { prompt: 'finished already' }, headers);
      await completeJob(done.id);
      const late = await request(`/v1/jobs/${done.id}`, { method: 'DELETE' });
      assert.equal(late.status, 409);
    });

    test('an ordinary key sees only its own jobs and records; an admin key sees everyone\'s', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const [owner, other, admin] = [await server.addKey(), await server.addKey(), await server.addKey({ admin: true })];
      const as = (key: { secret: string }) => ({ authorization: `Bearer ${key.secret}` });
      const { body: submitted } = await server.postJson('/v1/jobs', { prompt: 'a scoped cube', width: 128, height: 128 }, as(owner));
      const job = await server.completeJob(submitted.id);
      const recordId = job.records[0]!.id;
      const status = async (key: { secret: string }, path: string) => (await server.request(path, { headers: as(key) })).status;
      const listed = async (key: { secret: string }) => ((await (await server.request('/v1/records?limit=100', { headers: as(key) })).json()) as { data: { id: string }[] }).data.map((record) => record.id);
      assert.deepEqual([await status(owner, `/v1/jobs/${job.id}`), await status(owner, `/v1/records/${recordId}`)], [200, 200]);
      assert.ok((await listed(owner)).includes(recordId));
      assert.deepEqual([await status(other, `/v1/jobs/${job.id}`), await status(other, `/v1/records/${recordId}`), await status(other, `/v1/jobs/${job.id}/events`)], [404, 404, 404]);
      assert.ok(!(await listed(other)).includes(recordId));
      assert.deepEqual([await status(admin, `/v1/jobs/${job.id}`), await status(admin, `/v1/records/${recordId}`)], [200, 200]);
      assert.ok((await listed(admin)).includes(recordId), 'the admin key lists other keys\' records');
    });

    test('unknown jobs answer 404 in the error shape, for GET, DELETE and events', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      for (const [path, method] of [['/v1/jobs/nope', 'GET'], ['/v1/jobs/nope', 'DELETE'], ['/v1/jobs/nope/events', 'GET'], ['/v1/jobs/00000000-0000-4000-8000-000000000000', 'GET']] as const) {
        const response = await server.request(path, { method });
        assert.equal(response.status, 404, `${method} ${path}`);
        const error = errorOf(await response.json());
        assert.equal(error.code, 'job_not_found');
        assert.equal(error.type, 'not_found_error');
      }
    });

    test('inline images are stored and replaced by blob keys; a stored blobKey is taken as is; a GIF is refused', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, service, completeJob } = server;
      const image = await pngBase64(64, 64);
      const mask = await pngBase64(64, 64);
      const { response, body: job } = await postJson('/v1/jobs', { prompt: 'paint over', images: [{ b64_json: image }], mask: { b64_json: `data:image/png;base64,${mask}` }, strength: 0.6 });
      assert.equal(response.status, 202, JSON.stringify(job));
      const blobKey = job.request.images[0].blobKey as string;
      assert.match(blobKey, /^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}\.png$/);
      assert.ok(await service.storage.head(blobKey));
      assert.deepEqual(job.request.mask, { blobKey });
      const edited = await completeJob(job.id);
      assert.equal(edited.state, 'succeeded', JSON.stringify(edited.error));
      assert.equal(edited.records[0]!.settings.operation, 'inpaint');

      const reuse = await postJson('/v1/jobs', { prompt: 'again', images: [{ blobKey }], mask: { blobKey } });
      assert.equal(reuse.response.status, 202, JSON.stringify(reuse.body));
      assert.equal(reuse.body.request.images[0].blobKey, blobKey);

      // The service decodes PNG, JPEG and WebP only.
      const gif = await postJson('/v1/jobs', { prompt: 'animated', images: [{ b64_json: (await gifBytes(64, 64)).toString('base64') }] });
      assert.equal(gif.response.status, 400);
      const error = errorOf(gif.body);
      assert.equal(error.param, 'images.0');
      assert.match(error.message, /must be a PNG, JPEG or WebP image, got gif/);
    });

    test('records list with filters and keyset cursors, scoped to the key; one record by id', async (t) => {
      const server = await shared.startServer(t);
      if (!server) return;
      const { postJson, request, completeJob, addKey } = server;
      // Records are scoped to the key, so those of the suite's other tests stay out of the counts.
      const { secret } = await addKey();
      const headers = { authorization: `Bearer ${secret}` };
      const get = async (path: string): Promise<any> => (await request(path, { headers })).json();
      const { body: cats } = await postJson('/v1/jobs', { prompt: 'A Cat on a mat', n: 3 }, headers);
      await completeJob(cats.id);
      const { body: dogs } = await postJson('/v1/jobs', { prompt: 'a dog', model: 'test-model:other' }, headers);
      await completeJob(dogs.id);

      const all = await get('/v1/records');
      assert.equal(all.data.length, 4);
      assert.equal(all.next_cursor, null);
      assert.equal(all.data[0].modelId, 'other', 'newest first');
      assert.equal(all.data[0].provider, 'test-model');

      const first = await get('/v1/records?limit=2');
      assert.equal(first.data.length, 2);
      assert.equal(first.next_cursor, first.data[1].id, 'the cursor is the last record of the page (keyset paging)');
      // A record made after the first page was read does not shift the next one, as an offset would.
      const { body: later } = await postJson('/v1/jobs', { prompt: 'a later bird' }, headers);
      await completeJob(later.id);
      const second = await get(`/v1/records?limit=2&cursor=${encodeURIComponent(first.next_cursor)}`);
      assert.equal(second.data.length, 2);
      assert.equal(second.next_cursor, null);
      assert.deepEqual(second.data.map((record: { id: string }) => record.id), all.data.slice(2).map((record: { id: string }) => record.id));
      assert.equal((await get('/v1/records')).data.length, 5);

      assert.equal(await countRecords('/v1/records?prompt=cat'), 3);
      assert.equal(await countRecords(`/v1/records?job_id=${dogs.id}`), 1);
      assert.equal(await countRecords('/v1/records?provider=test-model&model=other'), 1);
      assert.equal(await countRecords('/v1/records?provider=openai'), 0);
      assert.equal(await countRecords('/v1/records?since=2999-01-01'), 0);
      assert.equal(await countRecords('/v1/records?until=2999-01-01T00:00:00Z'), 5);
      async function countRecords(path: string): Promise<number> {
        return ((await get(path)) as { data: unknown[] }).data.length;
      }

      const one = await request(`/v1/records/${all.data[0].id}`, { headers });
      assert.equal(one.status, 200);
      assert.equal(((await one.json()) as any).jobId, dogs.id);
      const missing = await request('/v1/records/00000000-0000-4000-8000-000000000000', { headers });
      assert.equal(missing.status, 404);
      assert.equal(errorOf(await missing.json()).code, 'record_not_found');
    });
  });
}
