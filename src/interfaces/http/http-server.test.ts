// The server on a socket: any free port, a clear error for a busy one, and a close that ends streams and waits for requests.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Hono } from 'hono';
import { testModel } from '../../testing/test-model-provider.js';
import { createHttpApp } from './http-app.js';
import { readSse, startTestService } from './http-test-harness.case.js';
import { startHttpServer } from './http-server.js';

test('port 0 binds a free port, and a busy port fails with a message saying so', async () => {
  const app = new Hono().get('/', (context) => context.text('hi'));
  const server = await startHttpServer({ app, host: '127.0.0.1', port: 0 });
  try {
    assert.ok(server.port > 0);
    assert.equal(server.url, `http://127.0.0.1:${server.port}`);
    assert.equal(await (await fetch(server.url)).text(), 'hi');
    await assert.rejects(startHttpServer({ app, host: '127.0.0.1', port: server.port }), /already in use/);
  } finally {
    await server.close();
  }
});

test('close lets a request in flight finish', async () => {
  let arrived!: () => void;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  const app = new Hono().get('/slow', async (context) => {
    arrived();
    await new Promise((resolve) => setTimeout(resolve, 100));
    return context.text('finished');
  });
  const server = await startHttpServer({ app, port: 0 });
  const response = fetch(`${server.url}/slow`);
  await arrival;
  const closing = server.close();
  assert.equal(await (await response).text(), 'finished');
  await closing;
  await assert.rejects(fetch(`${server.url}/slow`));
});

test('close ends open event streams cleanly and promptly', async () => {
  const { service, close } = await startTestService();
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret }), port: 0 });
  try {
    // The job's generation is held, so its stream has no end of its own.
    testModel.hold();
    const { job } = await service.submit({ prompt: 'held until the test ends' });
    await testModel.call('held until the test ends');
    const stream = await fetch(`${server.url}/v1/jobs/${job.id}/events`);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = '';
    while (!received.includes('event: running')) {
      const { done, value } = await reader.read();
      assert.ok(!done, `the stream ended before the running event: ${received}`);
      received += value;
    }
    const started = Date.now();
    await server.close();
    assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) received += chunk.value;
    assert.doesNotMatch(received, /event: (done|error|cancelled)/, 'the stream ended because the server closed, not because the job did');
    assert.equal((await service.getJob(job.id))?.state, 'running');
  } finally {
    await server.close();
    await close();
  }
});

test('readSse parses ids, types, multi-line data and comment pings', async () => {
  const body = ': ping\n\nid: 1\nevent: queued\ndata: {"a":1}\n\nevent: x\ndata: one\ndata: two\n\n';
  const { events, comments } = await readSse(new Response(body));
  assert.deepEqual(events, [{ id: '1', event: 'queued', data: '{"a":1}' }, { event: 'x', data: 'one\ntwo' }]);
  assert.deepEqual(comments, ['ping']);
});
