// The webhook dispatcher's suite, run on every database backend: deliveries to a local receiver, retries, refusals and what gets recorded.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { LookupAddress } from 'node:dns';
import { describe, mock, test, type TestContext } from 'node:test';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { isInvalidArgument } from '../../testing/assertions.js';
import type { Database } from '../database/database.js';
import { delay, startReceiver, waitFor, type Receiver, type ReceiverAnswer } from './webhook-harness.case.js';
import { WebhookDispatcher, type WebhookDelivery, type WebhookDispatcherConfig } from './webhook-dispatcher.js';
import { verifyWebhook } from './webhook-signature.js';

/** A database backend the suite runs on. */
export interface DispatcherCase {
  /** Shown in test names, e.g. `pglite`. */
  name: string;
  /** The database the file's tests share (each test uses its own queue); undefined when skipped. */
  open(t: TestContext): Promise<Database | undefined>;
}

const secret = 'test-webhook-secret-0123456789';
// Idle workers poll ten times a second, so a retry with no delay comes back within about 100 ms.
const fastWork = { pollingIntervalSeconds: 0.1 };
// Long enough for a retry that was going to happen to have happened.
const quietMs = 700;

type MakeDispatcher = (config?: Partial<WebhookDispatcherConfig>) => Promise<WebhookDispatcher>;

interface Run {
  make: MakeDispatcher;
  receiver: (answers: ReceiverAnswer[]) => Promise<Receiver>;
  database: Database;
}

/** A clock that starts at 2026-01-01 and moves a minute on each reading, so every signature has its own timestamp. */
function steppingClock(): () => Date {
  let tick = 0;
  return () => new Date(Date.UTC(2026, 0, 1) + 60_000 * tick++);
}

const withoutTimes = (deliveries: WebhookDelivery[]) => deliveries.map(({ deliveredAt, ...rest }) => rest);

// The key docs/webhooks.md tells receivers to pass to `new Webhook(...)`: whsec_ and the base64 of the secret's UTF-8 bytes.
const documentedKey = (text: string) => `whsec_${Buffer.from(text, 'utf8').toString('base64')}`;

// `Webhook#verify` reads the system clock for its five-minute window and takes no `now`; the stepping clock's
// signatures are months old, so the clock is set to the signing time for the synchronous call.
function verifyStandardAt(seconds: number, key: string, body: string, headers: Record<string, string>): unknown {
  const clock = mock.method(Date, 'now', () => seconds * 1000);
  try {
    return new Webhook(key).verify(body, headers);
  } finally {
    clock.mock.restore();
  }
}

const isVerificationError = (error: unknown) => error instanceof WebhookVerificationError && /No matching signature/.test(error.message);

/** Registers the suite for one backend. */
export function webhookDispatcherConformance(dispatcherCase: DispatcherCase): void {
  // Fresh dispatchers on their own queue name and receivers for each test, all stopped afterwards; background errors fail the test.
  async function run(t: TestContext, body: (run: Run) => Promise<void>): Promise<void> {
    const database = await dispatcherCase.open(t);
    if (!database) return;
    const queueName = `webhooks-test-${randomUUID().slice(0, 8)}`;
    const dispatchers: WebhookDispatcher[] = [];
    const receivers: Receiver[] = [];
    const errors: Error[] = [];
    const make: MakeDispatcher = async (config = {}) => {
      const dispatcher = new WebhookDispatcher({ database, secret, queueName, allowPrivate: true, retryDelaySeconds: 0, retryLimit: 3, timeoutMs: 2000, onError: (error) => errors.push(error), ...config });
      dispatchers.push(dispatcher);
      await dispatcher.start();
      return dispatcher;
    };
    const receiver = async (answers: ReceiverAnswer[]) => {
      const started = await startReceiver(answers);
      receivers.push(started);
      return started;
    };
    try {
      await body({ make, receiver, database });
    } finally {
      await Promise.all(dispatchers.map((dispatcher) => dispatcher.stop({ graceful: false })));
      await Promise.all(receivers.map((started) => started.close()));
    }
    assert.deepEqual(errors.map((error) => error.message), [], 'no background errors');
  }

  const settled = (dispatcher: WebhookDispatcher, jobId: string, count: number) =>
    waitFor(`${count} recorded attempts for job ${jobId}`, async () => {
      const deliveries = await dispatcher.deliveries(jobId);
      return deliveries.length >= count && deliveries;
    });

  describe(`webhook dispatcher: ${dispatcherCase.name}`, () => {
    test('500 then 200: two attempts recorded, the same body, delivery id and webhook-id each time, each freshly signed with signatures that verify', (t) =>
      run(t, async ({ make, receiver }) => {
        const hook = await receiver([500, 200]);
        const dispatcher = await make({ now: steppingClock() });
        const jobId = randomUUID();
        const payload = { jobId, state: 'succeeded', records: [{ id: randomUUID(), blobKey: `sha256/ab/cd/${'a'.repeat(64)}.png` }], note: 'ünïcödé ✓' };
        const { deliveryId, created } = await dispatcher.enqueue({ jobId, event: 'job.succeeded', url: `${hook.url}/hooks/pixelpipe`, payload });
        assert.equal(created, true);
        await dispatcher.work(fastWork);
        const deliveries = await settled(dispatcher, jobId, 2);
        assert.deepEqual(withoutTimes(deliveries), [
          { event: 'job.succeeded', url: `${hook.url}/hooks/pixelpipe`, attempt: 1, statusCode: 500 },
          { event: 'job.succeeded', url: `${hook.url}/hooks/pixelpipe`, attempt: 2, statusCode: 200 },
        ]);
        assert.ok(deliveries.every(({ deliveredAt }) => deliveredAt instanceof Date));
        assert.ok(deliveries[0]!.deliveredAt <= deliveries[1]!.deliveredAt);

        assert.equal(hook.requests.length, 2);
        const [first, second] = hook.requests;
        assert.equal(first!.body, second!.body, 'the same bytes on every attempt');
        assert.deepEqual(JSON.parse(first!.body), { id: deliveryId, event: 'job.succeeded', createdAt: '2026-01-01T00:00:00.000Z', data: payload });
        const signed = hook.requests.map(({ method, path, headers, body }) => {
          assert.deepEqual(
            { method, path, contentType: headers['content-type'], userAgent: headers['user-agent'], event: headers['pixelpipe-event'], delivery: headers['pixelpipe-delivery'], webhookId: headers['webhook-id'] },
            { method: 'POST', path: '/hooks/pixelpipe', contentType: 'application/json', userAgent: 'pixelpipe-webhooks', event: 'job.succeeded', delivery: deliveryId, webhookId: deliveryId },
          );
          const standard = { 'webhook-id': String(headers['webhook-id']), 'webhook-timestamp': String(headers['webhook-timestamp']), 'webhook-signature': String(headers['webhook-signature']) };
          assert.match(standard['webhook-signature'], /^v1,[A-Za-z0-9+/]{43}=$/);
          const signedAt = Number(standard['webhook-timestamp']);
          assert.deepEqual(verifyStandardAt(signedAt, documentedKey(secret), body, standard), JSON.parse(body));
          assert.throws(() => verifyStandardAt(signedAt, documentedKey(`${secret}!`), body, standard), isVerificationError);
          assert.throws(() => verifyStandardAt(signedAt, documentedKey(secret), body.replace('succeeded', 'failed'), standard), isVerificationError);

          // The deprecated header, still sent, signed at the same moment.
          const header = headers['pixelpipe-signature'] as string;
          assert.equal(Number(/^t=(\d+),v1=[0-9a-f]{64}$/.exec(header)?.[1]), signedAt);
          assert.equal(verifyWebhook({ secret, header, body, now: signedAt }), true);
          assert.equal(verifyWebhook({ secret: `${secret}!`, header, body, now: signedAt }), false);
          assert.equal(verifyWebhook({ secret, header, body: body.replace('succeeded', 'failed'), now: signedAt }), false);
          return { signedAt, signature: standard['webhook-signature'] };
        });
        // The clock read once for createdAt, then once per attempt.
        assert.deepEqual(signed.map(({ signedAt }) => signedAt), [Date.UTC(2026, 0, 1, 0, 1) / 1000, Date.UTC(2026, 0, 1, 0, 2) / 1000]);
        assert.notEqual(signed[0]!.signature, signed[1]!.signature, 'the retry is signed afresh');
        await delay(quietMs);
        assert.equal(hook.requests.length, 2, 'nothing after the 200');
      }));

    test('404: one attempt, then it stops for good', (t) =>
      run(t, async ({ make, receiver }) => {
        const hook = await receiver([404, 200]);
        const dispatcher = await make();
        const jobId = randomUUID();
        await dispatcher.enqueue({ jobId, event: 'job.failed', url: `${hook.url}/gone`, payload: { jobId, state: 'failed' } });
        await dispatcher.work(fastWork);
        await settled(dispatcher, jobId, 1);
        await delay(quietMs);
        assert.deepEqual(withoutTimes(await dispatcher.deliveries(jobId)), [{ event: 'job.failed', url: `${hook.url}/gone`, attempt: 1, statusCode: 404 }]);
        assert.equal(hook.requests.length, 1);
      }));

    test('a timeout, 429 and 408 are retried until a 2xx', (t) =>
      run(t, async ({ make, receiver }) => {
        const hook = await receiver(['hang', 429, 408, 204]);
        const dispatcher = await make({ timeoutMs: 300 });
        const jobId = randomUUID();
        await dispatcher.enqueue({ jobId, event: 'job.succeeded', url: hook.url, payload: null });
        await dispatcher.work(fastWork);
        const deliveries = await settled(dispatcher, jobId, 4);
        assert.deepEqual(
          deliveries.map(({ attempt, statusCode, error }) => ({ attempt, statusCode, error: error?.replace(/:\d+/, ':PORT') })),
          [
            { attempt: 1, statusCode: undefined, error: 'http://127.0.0.1:PORT did not answer within 300 ms' },
            { attempt: 2, statusCode: 429, error: undefined },
            { attempt: 3, statusCode: 408, error: undefined },
            { attempt: 4, statusCode: 204, error: undefined },
          ],
        );
        assert.equal(new Set(hook.requests.map(({ headers }) => headers['pixelpipe-delivery'])).size, 1);
        assert.equal(new Set(hook.requests.map(({ headers }) => headers['webhook-id'])).size, 1);
      }));

    test('retries end at retryLimit; a redirect is recorded, not followed and not retried', (t) =>
      run(t, async ({ make, receiver }) => {
        const failing = await receiver([503]);
        const moved = await receiver([{ status: 301, headers: { Location: 'https://elsewhere.example/hook' } }]);
        const dispatcher = await make({ retryLimit: 2 });
        const [down, redirected] = [randomUUID(), randomUUID()];
        await dispatcher.enqueue({ jobId: down, event: 'job.succeeded', url: failing.url, payload: {} });
        await dispatcher.enqueue({ jobId: redirected, event: 'job.succeeded', url: moved.url, payload: {} });
        await dispatcher.work(fastWork);
        await settled(dispatcher, down, 3);
        await settled(dispatcher, redirected, 1);
        await delay(quietMs);
        assert.deepEqual((await dispatcher.deliveries(down)).map(({ attempt, statusCode }) => [attempt, statusCode]), [[1, 503], [2, 503], [3, 503]]);
        const [redirect, ...more] = await dispatcher.deliveries(redirected);
        assert.deepEqual(more, []);
        assert.equal(redirect!.statusCode, 301);
        assert.match(redirect!.error!, /redirect to https:\/\/elsewhere\.example\/hook\); redirects are not followed/);
        assert.equal(moved.requests.length, 1);
      }));

    test('a private destination without allowPrivate is refused, recorded and not retried; so is a name that rebinds to one', (t) =>
      run(t, async ({ make, receiver }) => {
        const hook = await receiver([200]);
        // The first answer passes the check before the attempt; the one at connect time is loopback.
        let lookups = 0;
        const rebinding = async (): Promise<LookupAddress[]> => [{ address: lookups++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
        const dispatcher = await make({ allowPrivate: false, lookup: rebinding });
        const [direct, rebound] = [randomUUID(), randomUUID()];
        await dispatcher.enqueue({ jobId: direct, event: 'job.succeeded', url: `${hook.url}/hook`, payload: {} });
        await dispatcher.enqueue({ jobId: rebound, event: 'job.succeeded', url: `http://rebind.example:${hook.port}/hook`, payload: {} });
        await dispatcher.work(fastWork);
        await settled(dispatcher, direct, 1);
        await settled(dispatcher, rebound, 1);
        await delay(quietMs);
        const [refused, ...more] = await dispatcher.deliveries(direct);
        assert.deepEqual(more, []);
        assert.deepEqual({ attempt: refused!.attempt, statusCode: refused!.statusCode }, { attempt: 1, statusCode: undefined });
        assert.match(refused!.error!, /127\.0\.0\.1 is loopback.*PIXELPIPE_WEBHOOK_ALLOW_PRIVATE=true/);
        const [rebinds, ...again] = await dispatcher.deliveries(rebound);
        assert.deepEqual(again, []);
        assert.match(rebinds!.error!, /rebind\.example resolves to 127\.0\.0\.1, which is loopback/);
        assert.equal(lookups, 2);
        assert.equal(hook.requests.length, 0, 'the receiver was never called');
      }));

    test('a delivery waiting out its retry survives a restart and is finished by the next dispatcher', (t) =>
      run(t, async ({ make, receiver }) => {
        const hook = await receiver([502, 200]);
        const first = await make({ retryDelaySeconds: 1 });
        const jobId = randomUUID();
        const { deliveryId } = await first.enqueue({ jobId, event: 'job.succeeded', url: hook.url, payload: { n: 1 } });
        await first.work(fastWork);
        await settled(first, jobId, 1);
        await first.stop();
        const second = await make();
        await second.work(fastWork);
        const deliveries = await settled(second, jobId, 2);
        assert.deepEqual(deliveries.map(({ attempt, statusCode }) => [attempt, statusCode]), [[1, 502], [2, 200]]);
        assert.deepEqual(hook.requests.map(({ headers }) => [headers['pixelpipe-delivery'], headers['webhook-id']]), [[deliveryId, deliveryId], [deliveryId, deliveryId]]);
        // Signed by the system clock now, so standardwebhooks checks it without a borrowed clock.
        for (const { headers, body } of hook.requests) {
          const standard = { 'webhook-id': String(headers['webhook-id']), 'webhook-timestamp': String(headers['webhook-timestamp']), 'webhook-signature': String(headers['webhook-signature']) };
          assert.deepEqual(new Webhook(documentedKey(secret)).verify(body, standard), { id: deliveryId, event: 'job.succeeded', createdAt: JSON.parse(body).createdAt, data: { n: 1 } });
        }
      }));

    test('enqueue checks its arguments and queues each event of a job once', (t) =>
      run(t, async ({ make, receiver }) => {
        const hook = await receiver([200]);
        const dispatcher = await make();
        const jobId = randomUUID();
        const message = { jobId, event: 'job.succeeded' as const, url: hook.url, payload: { ok: true } };
        await assert.rejects(dispatcher.enqueue({ ...message, jobId: 'job-1' }), isInvalidArgument('jobId', /must be a job's UUID, got "job-1"/));
        await assert.rejects(dispatcher.enqueue({ ...message, event: 'job.started' as never }), isInvalidArgument('event', /one of job\.succeeded, job\.failed, job\.cancelled, got "job\.started"/));
        await assert.rejects(dispatcher.enqueue({ ...message, url: 'ftp://files.example.com/' }), isInvalidArgument('webhook.url', /http:\/\/ or https:\/\//));
        await assert.rejects(dispatcher.enqueue({ ...message, url: 'https://user:pw@hooks.example.com/' }), isInvalidArgument('webhook.url', /user name or password/));
        await assert.rejects(dispatcher.enqueue({ ...message, payload: { big: 1n } }), isInvalidArgument('payload', /JSON-serialisable/));

        const once = await dispatcher.enqueue(message);
        const again = await dispatcher.enqueue({ ...message, payload: { ok: 'twice' } });
        assert.deepEqual(again, { deliveryId: once.deliveryId, created: false });
        const cancelled = await dispatcher.enqueue({ ...message, event: 'job.cancelled' });
        assert.equal(cancelled.created, true);
        await dispatcher.work(fastWork);
        await settled(dispatcher, jobId, 2);
        await delay(quietMs);
        assert.deepEqual((await dispatcher.deliveries(jobId)).map(({ event }) => event).sort(), ['job.cancelled', 'job.succeeded']);
        assert.equal(hook.requests.filter(({ body }) => JSON.parse(body).data.ok === true).length, 2, 'the second enqueue\'s payload was never sent');
      }));

    test('enqueue inside a transaction: queued only when it commits', (t) =>
      run(t, async ({ make, receiver, database }) => {
        const hook = await receiver([200]);
        const dispatcher = await make();
        const [rolledBack, committed] = [randomUUID(), randomUUID()];
        await assert.rejects(
          database.transaction(async (transaction) => {
            await dispatcher.enqueue({ jobId: rolledBack, event: 'job.failed', url: hook.url, payload: {} }, { transaction });
            throw new Error('roll back');
          }),
          /roll back/,
        );
        await database.transaction((transaction) => dispatcher.enqueue({ jobId: committed, event: 'job.succeeded', url: hook.url, payload: {} }, { transaction }));
        await dispatcher.work(fastWork);
        await settled(dispatcher, committed, 1);
        await delay(quietMs);
        assert.deepEqual(await dispatcher.deliveries(rolledBack), []);
        assert.equal(hook.requests.length, 1);
        assert.equal(hook.requests[0]!.headers['pixelpipe-event'], 'job.succeeded');
      }));

    test('deliveries of an unknown or malformed job id are empty; settings are checked when it is made', (t) =>
      run(t, async ({ make, database }) => {
        const dispatcher = await make();
        assert.deepEqual(await dispatcher.deliveries(randomUUID()), []);
        assert.deepEqual(await dispatcher.deliveries('not-a-job'), []);
        assert.throws(() => new WebhookDispatcher({ database, secret: 'short' }), isInvalidArgument('secret', /at least 16 characters, got 5 characters; set PIXELPIPE_WEBHOOK_SECRET/));
        assert.throws(() => new WebhookDispatcher({ database, secret, timeoutMs: 0 }), isInvalidArgument('timeoutMs', /above 0/));
        assert.throws(() => new WebhookDispatcher({ database, secret, retryLimit: -1 }), isInvalidArgument('retryLimit', /whole number/));
      }));
  });
}
