// The conformance suite the job queue runs on every database backend: PGlite in-process and a PostgreSQL server.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import { isInvalidArgument } from '../../testing/assertions.js';
import type { JobContext, JobStatus } from './job-types.js';
import { queueCrashTests } from './queue-crash.case.js';
import { queueRecoveryTests } from './queue-recovery.case.js';
import { aborted, delay, fastWork, gate, queueHarness, waitFor, type QueueCase } from './queue-harness.case.js';

export type { QueueCase } from './queue-harness.case.js';
export { waitFor } from './queue-harness.case.js';

/** Registers the suite for one backend: submitting, status, priorities, idempotency, cancelling, then failures and recovery. */
export function queueConformance(queueCase: QueueCase): void {
  const harness = queueHarness(queueCase);
  const { run, stateOf, until } = harness;

  describe(`queue conformance: ${queueCase.name}`, () => {
    test('submit then get round-trips the request, and a worker stores what the handler returns', (t) =>
      run(t, async (make) => {
        const queue = await make();
        const request = { prompt: 'a lighthouse at dusk', size: '512x512', n: 2 };
        const submitted = await queue.submit(request, { apiKeyId: 'key-1' });
        assert.match(submitted.id, /^[0-9a-f-]{36}$/);
        assert.deepEqual({ state: submitted.state, created: submitted.created }, { state: 'queued', created: true });
        const queued = await queue.get(submitted.id);
        assert.ok(queued);
        assert.deepEqual(
          { state: queued.state, position: queued.position, request: queued.request, apiKeyId: queued.apiKeyId, attempts: queued.attempts, maxAttempts: queued.maxAttempts, output: queued.output, error: queued.error, startedAt: queued.startedAt, finishedAt: queued.finishedAt, priority: queued.priority },
          { state: 'queued', position: 1, request, apiKeyId: 'key-1', attempts: 0, maxAttempts: 3, output: undefined, error: undefined, startedAt: undefined, finishedAt: undefined, priority: 0 },
        );
        assert.ok(queued.createdAt instanceof Date && queued.startAfter instanceof Date);
        assert.equal(await queue.depth(), 1);

        const seen: JobContext[] = [];
        await queue.work(async (job) => {
          seen.push(job);
          return { images: [{ blobKey: 'sha256/ab/cd/x.png' }], seed: '18446744073709551615' };
        }, fastWork);
        await until(queue, submitted.id, 'succeeded');
        const done = (await queue.get(submitted.id))!;
        assert.deepEqual(done.output, { images: [{ blobKey: 'sha256/ab/cd/x.png' }], seed: '18446744073709551615' });
        assert.deepEqual({ attempts: done.attempts, position: done.position, error: done.error }, { attempts: 1, position: undefined, error: undefined });
        assert.ok(done.startedAt && done.finishedAt && done.finishedAt >= done.startedAt);
        assert.deepEqual(seen.map(({ id, request, apiKeyId, attempt }) => ({ id, request, apiKeyId, attempt })), [{ id: submitted.id, request, apiKeyId: 'key-1', attempt: 1 }]);
        assert.equal(await queue.depth(), 0);

        assert.equal(await queue.get(randomUUID()), undefined);
        assert.equal(await queue.get('not-a-job-id'), undefined);
        assert.equal(await queue.cancel('not-a-job-id'), false);
        await assert.rejects(queue.submit(request, { priority: 1.5 }), isInvalidArgument('priority', /whole number/));
        await assert.rejects(queue.submit(request, { idempotencyKey: '' }), isInvalidArgument('idempotencyKey', /1 to 255 characters/));
      }));

    test('workers take higher priorities first, then the oldest; positions say the same order', (t) =>
      run(t, async (make) => {
        const queue = await make();
        // Many land in the same millisecond (PGlite's clock ticks in milliseconds): they must still keep submit order.
        const jobs: [string, number][] = [['a', 0], ['b', 0], ['c', 5], ['d', -1], ['e', 5], ...Array.from({ length: 10 }, (_, index): [string, number] => [`f${index}`, 0])];
        const submitted: Record<string, string> = {};
        for (const [name, priority] of jobs) submitted[name] = (await queue.submit({ name }, { priority })).id;
        const expected = ['c', 'e', 'a', 'b', ...Array.from({ length: 10 }, (_, index) => `f${index}`), 'd'];
        const positions = await Promise.all(expected.map(async (name) => (await queue.get(submitted[name]!))!.position));
        assert.deepEqual(positions, expected.map((_, index) => index + 1));
        const order: string[] = [];
        await queue.work(async ({ request }) => void order.push((request as { name: string }).name), fastWork);
        await waitFor('all of them to run', () => order.length === jobs.length);
        assert.deepEqual(order, expected);
      }));

    test('a key at its concurrency limit is passed over, so another key\'s job runs beside its backlog', (t) =>
      run(t, async (make) => {
        const queue = await make();
        const greedy = await Promise.all(Array.from({ length: 4 }, (_, index) => queue.submit({ prompt: `greedy ${index}` }, { apiKeyId: 'greedy', maxConcurrent: 1 })));
        const polite = await queue.submit({ prompt: 'polite' }, { apiKeyId: 'polite', maxConcurrent: 1 });
        const release = gate();
        const running = new Set<string>();
        let mostGreedyAtOnce = 0;
        await queue.work(async (job) => {
          running.add(job.id);
          mostGreedyAtOnce = Math.max(mostGreedyAtOnce, greedy.filter(({ id }) => running.has(id)).length);
          await release.promise;
          running.delete(job.id);
          return null;
        }, { ...fastWork, concurrency: 3 });
        // Three slots, four greedy jobs first in line: one greedy job and the polite one run, the third slot waits.
        await until(queue, polite.id, 'running');
        await delay(300);
        assert.equal(running.size, 2);
        assert.equal(mostGreedyAtOnce, 1);
        release.open();
        for (const { id } of greedy) await until(queue, id, 'succeeded');
        assert.equal(mostGreedyAtOnce, 1);
        await assert.rejects(queue.submit({ prompt: 'x' }, { maxConcurrent: 0 }), isInvalidArgument('maxConcurrent', /whole number/));
      }));

    test('each lane runs up to its own limit, and no lane waits behind another', (t) =>
      run(t, async (make) => {
        const queue = await make();
        // A local backlog first in line, then hosted jobs of two providers, then one more local job.
        const local = await Promise.all(Array.from({ length: 3 }, (_, index) => queue.submit({ lane: 'local', index })));
        const openai = await Promise.all(Array.from({ length: 5 }, (_, index) => queue.submit({ lane: 'openai', index }, { lane: 'openai' })));
        const fal = await Promise.all(Array.from({ length: 2 }, (_, index) => queue.submit({ lane: 'fal', index }, { lane: 'fal' })));
        const release = gate();
        const running = new Map<string, number>();
        const most = new Map<string, number>();
        const lanes: (string | undefined)[] = [];
        await queue.work(async (job) => {
          const lane = (job.request as { lane: string }).lane;
          lanes.push(job.lane);
          running.set(lane, (running.get(lane) ?? 0) + 1);
          most.set(lane, Math.max(most.get(lane) ?? 0, running.get(lane)!));
          await release.promise;
          running.set(lane, running.get(lane)! - 1);
          return null;
        }, { ...fastWork, concurrency: 1, laneConcurrency: { openai: 3, '*': 2 } });
        // One local job, three openai jobs (its own limit) and both fal jobs (the limit of lanes not named) run at once.
        await waitFor('every lane full', () => running.get('local') === 1 && running.get('openai') === 3 && running.get('fal') === 2);
        await delay(300);
        assert.deepEqual([running.get('local'), running.get('openai'), running.get('fal')], [1, 3, 2]);
        release.open();
        for (const { id } of [...local, ...openai, ...fal]) await until(queue, id, 'succeeded');
        assert.deepEqual([most.get('local'), most.get('openai'), most.get('fal')], [1, 3, 2]);
        assert.deepEqual(new Set(lanes), new Set(['local', 'openai', 'fal']));
        await assert.rejects(queue.submit({}, { lane: 'no spaces' }), isInvalidArgument('lane', /letters, digits/));
      }));

    test('a job submitted inside a caller\'s transaction is taken once that commits, not at the next poll', (t) =>
      run(t, async (make, database) => {
        const queue = await make();
        await queue.work(async () => 'done', { pollingIntervalSeconds: 60 });
        // The worker's first claim finds nothing; the next one must follow the commit, the poll being a minute away.
        await delay(200);
        const { id } = await database.transaction(async (transaction) => {
          const submitted = await queue.submit({ prompt: 'with its caller' }, { transaction });
          // The caller's transaction stays open a while: a claim on another connection would not see the job yet.
          await delay(300);
          return submitted;
        });
        await until(queue, id, 'succeeded', 10_000);
      }));

    test('a worker without room for a lane leaves its jobs and still runs the local ones queued behind them', (t) =>
      run(t, async (make) => {
        const queue = await make();
        const hosted = await Promise.all(Array.from({ length: 4 }, (_, index) => queue.submit({ index }, { lane: 'openai' })));
        const local = await queue.submit({ name: 'local' });
        await queue.work(async () => null, fastWork);
        await until(queue, local.id, 'succeeded');
        for (const { id } of hosted) assert.equal(await stateOf(queue, id), 'queued');
      }));

    test('an idempotency key gives the same job back, however many submit it at once', (t) =>
      run(t, async (make) => {
        const queue = await make();
        const results = await Promise.all(Array.from({ length: 12 }, () => queue.submit({ prompt: 'once' }, { idempotencyKey: 'order-42', apiKeyId: 'key-1' })));
        const ids = new Set(results.map((result) => result.id));
        assert.equal(ids.size, 1);
        assert.equal(results.filter((result) => result.created).length, 1);
        assert.equal(await queue.depth(), 1);
        // Keys are kept apart per API key, and a submit without a key always makes a job.
        const otherKey = await queue.submit({ prompt: 'once' }, { idempotencyKey: 'order-42', apiKeyId: 'key-2' });
        assert.notEqual(otherKey.id, results[0]!.id);
        assert.equal(otherKey.created, true);
        const [id] = ids;
        await queue.work(async () => 'done', fastWork);
        await until(queue, id!, 'succeeded');
        const again = await queue.submit({ prompt: 'once' }, { idempotencyKey: 'order-42', apiKeyId: 'key-1' });
        assert.deepEqual(again, { id, state: 'succeeded', created: false });
      }));

    test('an idempotency key whose job pg-boss has deleted makes a new job, and names that one from then on', (t) =>
      run(t, async (make, database) => {
        const queue = await make();
        const first = await queue.submit({ prompt: 'kept a while' }, { idempotencyKey: 'order-7', apiKeyId: 'key-1' });
        // As pg-boss's retention does with old jobs.
        await database.query(`DELETE FROM pgboss.job WHERE name = $1 AND id = $2`, [queue.queueName, first.id]);
        const again = await queue.submit({ prompt: 'kept a while' }, { idempotencyKey: 'order-7', apiKeyId: 'key-1' });
        assert.equal(again.created, true);
        assert.notEqual(again.id, first.id);
        assert.equal((await queue.get(again.id))?.state, 'queued');
        const third = await queue.submit({ prompt: 'kept a while' }, { idempotencyKey: 'order-7', apiKeyId: 'key-1' });
        assert.deepEqual({ id: third.id, created: third.created }, { id: again.id, created: false });
      }));

    test('a queued job’s position counts down as the jobs ahead of it finish', (t) =>
      run(t, async (make) => {
        const queue = await make();
        const ids: string[] = [];
        for (let index = 0; index < 3; index += 1) ids.push((await queue.submit({ index })).id);
        const positions = async () => Promise.all(ids.map(async (id) => (await queue.get(id))!.position));
        assert.deepEqual(await positions(), [1, 2, 3]);
        const gates = ids.map(() => gate());
        await queue.work(async ({ request }) => gates[(request as { index: number }).index]!.promise, fastWork);
        await until(queue, ids[0]!, 'running');
        assert.deepEqual(await positions(), [undefined, 1, 2]);
        gates[0]!.open();
        await until(queue, ids[1]!, 'running');
        assert.deepEqual(await positions(), [undefined, undefined, 1]);
        gates[1]!.open();
        gates[2]!.open();
        await until(queue, ids[2]!, 'succeeded');
      }));

    test('submissions made at once commit together, and each is told the status it was created with', (t) =>
      run(t, async (make) => {
        const created: string[] = [];
        const queue = await make({ onCreated: async (_transaction, jobs) => void created.push(...jobs.map((job) => job.id)) });
        const compare = (status: JobStatus, read: JobStatus) => assert.deepEqual({ ...status, position: undefined, createdAt: status.createdAt.getTime() }, { ...read, position: undefined, createdAt: read.createdAt.getTime() });
        // One priority: positions run 1 to N in submit order, as a read gives them.
        const first = await Promise.all(Array.from({ length: 30 }, (_, index) => queue.submit({ index })));
        for (const [index, result] of first.entries()) {
          const read = (await queue.get(result.id))!;
          assert.ok(result.status, 'a batched submit gives the status it created');
          compare(result.status, read);
          assert.equal(result.status.position, index + 1);
          assert.equal(read.position, index + 1);
        }
        // Mixed priorities and a repeated idempotency key: the key makes one job; a job of the top
        // priority keeps its position (later ones queue behind it), a lower one can only move back.
        const second = await Promise.all(Array.from({ length: 30 }, (_, index) => queue.submit({ index }, { priority: 1 + (index % 2), ...(index % 10 === 9 ? { idempotencyKey: 'burst', apiKeyId: 'key-1' } : {}) })));
        const made = second.filter((result) => result.created);
        assert.equal(made.length, 28);
        assert.equal(new Set(second.filter((_result, index) => index % 10 === 9).map((result) => result.id)).size, 1);
        for (const result of made) {
          const read = (await queue.get(result.id))!;
          compare(result.status!, read);
          if (read.priority === 2) assert.equal(result.status!.position, read.position);
          else assert.ok(read.position! >= result.status!.position!, `position ${read.position} read, ${result.status!.position} when created`);
        }
        assert.deepEqual(created.sort(), [...first, ...made].map((result) => result.id).sort());
      }));

    test('a cancelled queued job never runs', (t) =>
      run(t, async (make) => {
        const queue = await make();
        const cancelled = await queue.submit({ name: 'cancelled' });
        const kept = await queue.submit({ name: 'kept' });
        assert.equal(await queue.cancel(cancelled.id), true);
        assert.equal(await queue.cancel(cancelled.id), false);
        const status = (await queue.get(cancelled.id))!;
        assert.equal(status.state, 'cancelled');
        assert.ok(status.finishedAt instanceof Date);
        assert.equal(await queue.depth(), 1);
        const ran: string[] = [];
        await queue.work(async ({ id }) => void ran.push(id), fastWork);
        await until(queue, kept.id, 'succeeded');
        await delay(300);
        assert.deepEqual(ran, [kept.id]);
        assert.equal(await stateOf(queue, cancelled.id), 'cancelled');
      }));

    test('cancelling a running job aborts its handler’s signal, and the job stays cancelled', (t) =>
      run(t, async (make) => {
        const queue = await make();
        const { id } = await queue.submit({ prompt: 'long' });
        const reasons: unknown[] = [];
        let calls = 0;
        await queue.work(async ({ signal }) => {
          calls += 1;
          reasons.push(await aborted(signal));
          throw signal.reason;
        }, fastWork);
        await until(queue, id, 'running');
        const cancelledAt = Date.now();
        assert.equal(await queue.cancel(id), true);
        await waitFor('the handler to see its signal abort', () => reasons.length === 1, { timeoutMs: 2000 });
        assert.ok(Date.now() - cancelledAt < 1500, `signal aborted ${Date.now() - cancelledAt} ms after cancel`);
        assert.ok(AbortedError.isInstance(reasons[0]));
        assert.match((reasons[0] as Error).message, /was cancelled/);
        await delay(400);
        const status = (await queue.get(id))!;
        assert.deepEqual({ state: status.state, error: status.error, attempts: status.attempts, calls }, { state: 'cancelled', error: undefined, attempts: 1, calls: 1 });
        assert.deepEqual(queue.runningJobIds(), []);
      }));


    queueRecoveryTests(queueCase, harness);
    queueCrashTests(harness);
  });
}
