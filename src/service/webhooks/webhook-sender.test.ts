// The default webhook sender against a local receiver: what it sends, redirects left alone, deadlines, aborts, unreachable hosts, connect-time refusals.
import assert from 'node:assert/strict';
import type { LookupAddress } from 'node:dns';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import { createGuardedLookup } from './webhook-destination.js';
import { WebhookDeliveryError } from './webhook-delivery-error.js';
import { startReceiver } from './webhook-harness.case.js';
import { createWebhookSender } from './webhook-sender.js';

const send = createWebhookSender({ allowPrivate: true });

function isDeliveryError(pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(WebhookDeliveryError.isInstance(error), `expected WebhookDeliveryError, got ${String(error)}`);
    assert.equal(error.isRetryable, true);
    assert.match(error.message, pattern);
    return true;
  };
}

describe('webhook sender', () => {
  test('POSTs the body with the given headers and a Content-Length, and gives back the status', async () => {
    const receiver = await startReceiver([202]);
    try {
      const body = JSON.stringify({ prompt: 'ünïcödé' });
      const response = await send({ url: `${receiver.url}/hooks/in?x=1`, headers: { 'Content-Type': 'application/json', 'X-Test': 'yes' }, body, timeoutMs: 2000 });
      assert.deepEqual(response, { statusCode: 202 });
      const [received] = receiver.requests;
      assert.deepEqual({ method: received!.method, path: received!.path, body: received!.body }, { method: 'POST', path: '/hooks/in?x=1', body });
      assert.equal(received!.headers['content-length'], String(Buffer.byteLength(body)));
      assert.equal(received!.headers['x-test'], 'yes');
    } finally {
      await receiver.close();
    }
  });

  test('a redirect comes back as its status and location, and is not followed', async () => {
    const receiver = await startReceiver([{ status: 307, headers: { Location: '/elsewhere' } }, 200]);
    try {
      assert.deepEqual(await send({ url: `${receiver.url}/hook`, headers: {}, body: '{}', timeoutMs: 2000 }), { statusCode: 307, location: '/elsewhere' });
      assert.equal(receiver.requests.length, 1);
    } finally {
      await receiver.close();
    }
  });

  test('a receiver that does not answer in time fails with a retryable error', async () => {
    const receiver = await startReceiver(['hang']);
    try {
      const started = Date.now();
      await assert.rejects(send({ url: `${receiver.url}/hook`, headers: {}, body: '{}', timeoutMs: 200 }), isDeliveryError(/did not answer within 200 ms/));
      assert.ok(Date.now() - started < 2000);
    } finally {
      await receiver.close();
    }
  });

  test('an unreachable port fails with a retryable error naming the cause', async () => {
    // A port that was just free: nothing listens there.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as { port: number };
    server.close();
    await once(server, 'close');
    await assert.rejects(send({ url: `http://127.0.0.1:${port}/hook`, headers: {}, body: '{}', timeoutMs: 2000 }), isDeliveryError(/could not reach .*ECONNREFUSED/));
  });

  test('an aborted signal stops the request with the signal\'s reason', async () => {
    const receiver = await startReceiver(['hang']);
    try {
      const controller = new AbortController();
      const sending = send({ url: `${receiver.url}/hook`, headers: {}, body: '{}', timeoutMs: 5000, signal: controller.signal });
      setTimeout(() => controller.abort(new Error('worker stopping')), 100);
      await assert.rejects(sending, /worker stopping/);
      const stopped = new AbortController();
      stopped.abort(new Error('already stopped'));
      await assert.rejects(send({ url: `${receiver.url}/hook`, headers: {}, body: '{}', timeoutMs: 5000, signal: stopped.signal }), /already stopped/);
    } finally {
      await receiver.close();
    }
  });

  test('without allowPrivate, a name resolving to a private address at connect time is refused, not retried, and never reached', async () => {
    const receiver = await startReceiver([200]);
    try {
      const rebinding = async (): Promise<LookupAddress[]> => [{ address: '127.0.0.1', family: 4 }];
      const guarded = createWebhookSender({ lookup: createGuardedLookup(rebinding) });
      await assert.rejects(guarded({ url: `http://rebound.example:${receiver.port}/hook`, headers: {}, body: '{}', timeoutMs: 2000 }), (error: unknown) => {
        isInvalidArgument('webhook.url', /rebound\.example resolves to 127\.0\.0\.1, which is loopback/)(error);
        assert.equal((error as InvalidArgumentError).isRetryable, false);
        return true;
      });
      assert.equal(receiver.requests.length, 0);
    } finally {
      await receiver.close();
    }
  });
});
