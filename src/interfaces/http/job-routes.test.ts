// The native jobs API over a real socket: submit, look up, events (and resuming them), idempotency, cancel.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { errorOf, pngBase64, readSse, startTestServer } from './http-test-harness.case.js';

test('submit answers 202 with Location, the job runs, and its events stream until done', async (t) => {
  const { postJson, request, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  const { response, body: job } = await postJson('/v1/jobs', { prompt: 'a lighthouse at dusk', n: 2, width: 64, height: 64, seed: 7, priority: 5 });
  assert.equal(response.status, 202);
  assert.equal(response.headers.get('location'), `/v1/jobs/${job.id}`);
  assert.match(response.headers.get('x-request-id') ?? '', /^[\w-]+$/);
  assert.equal(job.state, 'queued');
  assert.equal(job.priority, 5);
  assert.equal(fake.submissions[0]!.options.priority, 5);
  assert.equal('priority' in (fake.submissions[0]!.request as object), false, 'priority is not part of the job request');

  const events = request(`/v1/jobs/${job.id}/events`);
  const stream = await events;
  assert.equal(stream.status, 200);
  assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reading = readSse(stream);
  await fake.completeJob(job.id);
  const { events: received } = await reading;
  assert.deepEqual(received.map((event) => event.event), ['queued', 'running', 'step', 'step', 'done']);
  assert.deepEqual(received.map((event) => event.id), ['1', '2', '3', '4', '5']);
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
  const { postJson, request, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  const { body: job } = await postJson('/v1/jobs', { prompt: 'resume me' });
  await fake.completeJob(job.id);

  const resumed = await readSse(await request(`/v1/jobs/${job.id}/events`, { headers: { 'Last-Event-ID': '3' } }));
  assert.deepEqual(resumed.events.map((event) => event.id), ['4', '5']);
  const fromQuery = await readSse(await request(`/v1/jobs/${job.id}/events?after=4`));
  assert.deepEqual(fromQuery.events.map((event) => event.event), ['done']);
  const headerWins = await readSse(await request(`/v1/jobs/${job.id}/events?after=1`, { headers: { 'Last-Event-ID': '4' } }));
  assert.deepEqual(headerWins.events.map((event) => event.id), ['5']);
});

test('a failed job\'s stream ends with its error event', async (t) => {
  const { postJson, request, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  const { body: job } = await postJson('/v1/jobs', { prompt: 'doomed' });
  fake.startJob(job.id);
  const reading = readSse(await request(`/v1/jobs/${job.id}/events`));
  fake.failJob(job.id, { name: 'ContentPolicyError', message: 'refused', isRetryable: false });
  const { events } = await reading;
  assert.deepEqual(events.map((event) => event.event), ['queued', 'running', 'error']);
  assert.deepEqual(JSON.parse(events[2]!.data), { error: { name: 'ContentPolicyError', message: 'refused', isRetryable: false }, jobId: job.id });
});

test('a client leaving the event stream stops the service iterating', async (t) => {
  const { postJson, request, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  const { body: job } = await postJson('/v1/jobs', { prompt: 'leave early' });
  const events = fake.events.bind(fake);
  let iterating = 0;
  fake.events = async function* (id, options) {
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
  await fake.completeJob(job.id);
  assert.equal(((await (await request(`/v1/jobs/${job.id}`)).json()) as any).state, 'succeeded');
});

test('the same Idempotency-Key gives back the same job with 200 and Idempotent-Replayed', async (t) => {
  const { postJson } = await startTestServer(t, { fake: { autoComplete: false } });
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

test('DELETE cancels a queued job, then answers 409 job_finished', async (t) => {
  const { postJson, request, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  const { body: job } = await postJson('/v1/jobs', { prompt: 'never mind' });
  const cancelled = await request(`/v1/jobs/${job.id}`, { method: 'DELETE' });
  assert.equal(cancelled.status, 200);
  assert.equal(((await cancelled.json()) as any).state, 'cancelled');
  const { events } = await readSse(await request(`/v1/jobs/${job.id}/events`));
  assert.deepEqual(events.map((event) => event.event), ['queued', 'cancelled']);

  const again = await request(`/v1/jobs/${job.id}`, { method: 'DELETE' });
  assert.equal(again.status, 409);
  assert.equal(errorOf(await again.json()).code, 'job_finished');

  const { body: done } = await postJson('/v1/jobs', { prompt: 'finished already' });
  await fake.completeJob(done.id);
  const late = await request(`/v1/jobs/${done.id}`, { method: 'DELETE' });
  assert.equal(late.status, 409);
});

test('unknown jobs answer 404 in the error shape, for GET, DELETE and events', async (t) => {
  const { request } = await startTestServer(t);
  for (const [path, method] of [['/v1/jobs/nope', 'GET'], ['/v1/jobs/nope', 'DELETE'], ['/v1/jobs/nope/events', 'GET']] as const) {
    const response = await request(path, { method });
    assert.equal(response.status, 404, `${method} ${path}`);
    const error = errorOf(await response.json());
    assert.equal(error.code, 'job_not_found');
    assert.equal(error.type, 'not_found_error');
  }
});

test('inline images are stored and replaced by blob keys; a stored blobKey is taken as is', async (t) => {
  const { postJson, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  const image = await pngBase64(64, 64);
  const mask = await pngBase64(64, 64);
  const { response, body: job } = await postJson('/v1/jobs', { prompt: 'paint over', images: [{ b64_json: image }], mask: { b64_json: `data:image/png;base64,${mask}` }, strength: 0.6 });
  assert.equal(response.status, 202, JSON.stringify(job));
  const blobKey = job.request.images[0].blobKey as string;
  assert.match(blobKey, /^sha256\/[0-9a-f]{2}\/[0-9a-f]{2}\/[0-9a-f]{64}\.png$/);
  assert.ok(await fake.storage.head(blobKey));
  assert.deepEqual(job.request.mask, { blobKey });

  const reuse = await postJson('/v1/jobs', { prompt: 'again', images: [{ blobKey }], mask: { blobKey } });
  assert.equal(reuse.response.status, 202, JSON.stringify(reuse.body));
  assert.equal(reuse.body.request.images[0].blobKey, blobKey);
});

test('records list with filters and cursors, scoped to the key; one record by id', async (t) => {
  const { postJson, request, fake } = await startTestServer(t, { fake: { autoComplete: false } });
  const { body: cats } = await postJson('/v1/jobs', { prompt: 'A Cat on a mat', n: 3 });
  const { body: dogs } = await postJson('/v1/jobs', { prompt: 'a dog', model: 'openai:gpt-image-1' });
  await fake.completeJob(cats.id);
  await fake.completeJob(dogs.id);

  const all: any = await (await request('/v1/records')).json();
  assert.equal(all.data.length, 4);
  assert.equal(all.next_cursor, null);
  assert.equal(all.data[0].provider, 'openai', 'newest first');

  const first: any = await (await request('/v1/records?limit=2')).json();
  assert.equal(first.data.length, 2);
  assert.equal(typeof first.next_cursor, 'string');
  const second: any = await (await request(`/v1/records?limit=2&cursor=${encodeURIComponent(first.next_cursor)}`)).json();
  assert.equal(second.data.length, 2);
  assert.equal(second.next_cursor, null);
  assert.equal(new Set([...first.data, ...second.data].map((record: { id: string }) => record.id)).size, 4);

  assert.equal(await countRecords('/v1/records?prompt=cat'), 3);
  assert.equal(await countRecords(`/v1/records?job_id=${dogs.id}`), 1);
  assert.equal(await countRecords('/v1/records?provider=openai&model=gpt-image-1'), 1);
  assert.equal(await countRecords('/v1/records?since=2999-01-01'), 0);
  assert.equal(await countRecords('/v1/records?until=2999-01-01T00:00:00Z'), 4);

  async function countRecords(path: string): Promise<number> {
    return ((await (await request(path)).json()) as { data: unknown[] }).data.length;
  }
  const one = await request(`/v1/records/${all.data[0].id}`);
  assert.equal(one.status, 200);
  assert.equal(((await one.json()) as any).jobId, dogs.id);
  const missing = await request('/v1/records/00000000-0000-4000-8000-000000000000');
  assert.equal(missing.status, 404);
  assert.equal(errorOf(await missing.json()).code, 'record_not_found');
});
