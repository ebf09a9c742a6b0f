// The queue conformance tests for failure and recovery: retries, non-retryable errors, expiry, dead workers, stopping, load.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { JobHandler } from './job-types.js';
import { aborted, delay, fastWork, fetchAsDeadWorker, waitFor, type QueueCase, type QueueHarness } from './queue-harness.case.js';

/** Registers the failure and recovery tests; called inside the conformance suite's `describe`. */
export function queueRecoveryTests(queueCase: QueueCase, { run, stateOf, until }: QueueHarness): void {
  test('a retryable error sends the job back after its retry delay, and the retry can succeed', (t) =>
    run(t, async (make) => {
      const queue = await make({ retryLimit: 2, retryDelaySeconds: 1, retryBackoff: true });
      const { id } = await queue.submit({ prompt: 'flaky' });
      const attempts: { attempt: number; at: number }[] = [];
      await queue.work(async ({ attempt }) => {
        attempts.push({ attempt, at: Date.now() });
        // An error without `isRetryable` counts as retryable, like a dropped connection.
        if (attempt === 1) throw new Error('upstream hiccup');
        return { ok: true };
      }, fastWork);
      const waiting = await waitFor('the first attempt to fail', async () => {
        const status = await queue.get(id);
        return status?.state === 'queued' && status.attempts === 1 ? status : undefined;
      });
      assert.deepEqual(waiting.error, { name: 'Error', message: 'upstream hiccup' });
      // Backoff with a 1 s base waits 1 to 2 s before the first retry.
      const wait = waiting.startAfter.getTime() - waiting.startedAt!.getTime();
      assert.ok(wait >= 900 && wait <= 2600, `retry waits ${wait} ms`);
      await until(queue, id, 'succeeded', 6000);
      const done = (await queue.get(id))!;
      assert.deepEqual({ attempts: done.attempts, output: done.output, error: done.error }, { attempts: 2, output: { ok: true }, error: undefined });
      assert.deepEqual(attempts.map((entry) => entry.attempt), [1, 2]);
      assert.ok(attempts[1]!.at - attempts[0]!.at >= 900);
    }));

  test('retries stop at the retry limit, keeping the last error', (t) =>
    run(t, async (make) => {
      const queue = await make({ retryLimit: 1 });
      const { id } = await queue.submit({ prompt: 'always busy' });
      let calls = 0;
      await queue.work(async ({ attempt }) => {
        calls += 1;
        throw Object.assign(new Error(`provider busy (attempt ${attempt})`), { name: 'RateLimitError', isRetryable: true });
      }, fastWork);
      await until(queue, id, 'failed');
      const status = (await queue.get(id))!;
      assert.deepEqual({ attempts: status.attempts, maxAttempts: status.maxAttempts, error: status.error, calls }, { attempts: 2, maxAttempts: 2, error: { name: 'RateLimitError', message: 'provider busy (attempt 2)', isRetryable: true }, calls: 2 });
    }));

  test('a non-retryable error fails the job at once, keeping its message', (t) =>
    run(t, async (make) => {
      const queue = await make({ retryLimit: 3 });
      const { id } = await queue.submit({ width: 500 });
      let calls = 0;
      await queue.work(async () => {
        calls += 1;
        throw new InvalidArgumentError({ argument: 'width', value: 500, message: '`width` must be a multiple of 8, got 500' });
      }, fastWork);
      await until(queue, id, 'failed');
      await delay(300);
      const status = (await queue.get(id))!;
      assert.deepEqual(
        { attempts: status.attempts, maxAttempts: status.maxAttempts, error: status.error, calls },
        { attempts: 1, maxAttempts: 1, error: { name: 'InvalidArgumentError', message: '`width` must be a multiple of 8, got 500', isRetryable: false }, calls: 1 },
      );
      assert.equal(await queue.depth(), 0);
    }));

  test('an attempt that runs past its expiry is aborted and the job retried', (t) =>
    run(t, async (make) => {
      const queue = await make({ expireInSeconds: 1 });
      const { id } = await queue.submit({ prompt: 'slow first time' });
      const reasons: unknown[] = [];
      await queue.work(async ({ attempt, signal }) => {
        if (attempt === 1) {
          reasons.push(await aborted(signal));
          throw signal.reason;
        }
        return 'second time lucky';
      }, fastWork);
      await until(queue, id, 'succeeded', 5000);
      assert.equal(reasons.length, 1);
      assert.match((reasons[0] as Error).message, /ran past its expiry of 1 s/);
      const status = (await queue.get(id))!;
      assert.deepEqual({ attempts: status.attempts, output: status.output }, { attempts: 2, output: 'second time lucky' });
    }));

  test('a job whose worker died is picked up again after its expiry, by another worker, and completes once', (t) =>
    run(t, async (make, database) => {
      const queue = await make({ expireInSeconds: 2 });
      const { id } = await queue.submit({ prompt: 'orphan' });
      // A worker that takes the job and dies leaves just this behind: the job active, started, never settled.
      assert.equal(await fetchAsDeadWorker(database, queue.queueName), id);
      assert.equal(await stateOf(queue, id), 'running');

      const calls: string[] = [];
      const survivor = await make({ expireInSeconds: 2 });
      await survivor.work(async ({ id: jobId }) => void calls.push(jobId), fastWork);
      await delay(1000);
      assert.deepEqual(calls, [], 'not taken before its expiry');
      await until(survivor, id, 'succeeded', 8000);
      await delay(300);
      assert.deepEqual(calls, [id]);
      assert.equal((await survivor.get(id))!.attempts, 2);
    }));

  test('a graceful stop lets running jobs finish; a hard stop aborts them and puts them back', (t) =>
    run(t, async (make) => {
      const first = await make();
      const finished = await first.submit({ name: 'finishes' });
      let release!: () => void;
      await first.work(async () => {
        await new Promise<void>((resolve) => (release = resolve));
        return 'finished during stop';
      }, fastWork);
      await until(first, finished.id, 'running');
      const stopping = first.stop({ graceful: true, timeoutSeconds: 10 });
      await delay(200);
      release();
      await stopping;
      assert.equal(await stateOf(first, finished.id), 'succeeded');

      const second = await make();
      const interrupted = await second.submit({ name: 'interrupted' });
      const reasons: unknown[] = [];
      await second.work(async ({ signal }) => void reasons.push(await aborted(signal)), fastWork);
      await until(second, interrupted.id, 'running');
      await second.stop({ graceful: false });
      assert.match((reasons[0] as Error).message, /worker stopped/);
      const status = (await second.get(interrupted.id))!;
      assert.deepEqual({ state: status.state, attempts: status.attempts, error: status.error?.message }, { state: 'queued', attempts: 1, error: (reasons[0] as Error).message });

      const third = await make();
      await third.work(async () => 'finished elsewhere', fastWork);
      await until(third, interrupted.id, 'succeeded');
      assert.equal((await third.get(interrupted.id))!.attempts, 2);
    }));

  test('200 concurrent submits, two workers: every job runs exactly once', (t) =>
    run(t, async (make) => {
      const other = await queueCase.connectAgain(t);
      const queue = await make();
      const results = await Promise.all(Array.from({ length: 200 }, (_, index) => queue.submit({ index }, { priority: index % 3 })));
      assert.equal(new Set(results.map((result) => result.id)).size, 200);
      const calls = new Map<string, number>();
      const handler: JobHandler = async ({ id }) => {
        calls.set(id, (calls.get(id) ?? 0) + 1);
        await delay(Math.random() * 5);
        return { id };
      };
      await queue.work(handler, { ...fastWork, concurrency: 4 });
      const secondWorker = await make({ database: other! });
      await secondWorker.work(handler, { ...fastWork, concurrency: 4 });
      await waitFor('all 200 jobs to run', async () => calls.size === 200 && (await queue.depth()) === 0 && queue.runningJobIds().length === 0 && secondWorker.runningJobIds().length === 0, { timeoutMs: 15_000 });
      const states = await Promise.all(results.map(async ({ id }) => (await queue.get(id))!.state));
      assert.deepEqual(new Set(states), new Set(['succeeded']));
      assert.deepEqual([...calls.values()].filter((count) => count !== 1), []);
    }));
}
