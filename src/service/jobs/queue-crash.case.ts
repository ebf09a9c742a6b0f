// The queue conformance tests for workers that die: attempts on record, dead workers noticed in seconds, a job that kills its worker not run in a loop.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { test } from 'node:test';
import { WorkerCrashedError } from '../errors/worker-crashed-error.js';
import { fastWork, fetchAsDeadWorker, type QueueHarness } from './queue-harness.case.js';

// The pid of a process that has ended and been reaped: what a SIGKILLed worker leaves behind.
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

const crash = (attempt: number) => new WorkerCrashedError({ message: `the worker process died (SIGKILL) on attempt ${attempt}`, signal: 'SIGKILL' });

/** Registers the crash tests; called inside the conformance suite's `describe`. */
export function queueCrashTests({ run, until }: QueueHarness): void {
  test('each attempt is recorded with its worker and outcome', (t) =>
    run(t, async (make) => {
      const queue = await make({ retryLimit: 2 });
      const { id } = await queue.submit({ prompt: 'twice' });
      await queue.work(async ({ attempt }) => {
        if (attempt === 1) throw new Error('flaky');
        return 'ok';
      }, fastWork);
      await until(queue, id, 'succeeded');
      const attempts = await queue.attempts(id);
      assert.deepEqual(attempts.map(({ attempt, outcome, error }) => ({ attempt, outcome, error: error?.message })), [
        { attempt: 1, outcome: 'failed', error: 'flaky' },
        { attempt: 2, outcome: 'succeeded', error: undefined },
      ]);
      assert.equal(attempts[0]!.worker, `${hostname()}:${process.pid}`);
      assert.ok(attempts[1]!.finishedAt! >= attempts[1]!.startedAt);
    }));

  test('a job whose worker crashed is retried once, after the jobs waiting, then fails with worker_crashed', (t) =>
    run(t, async (make) => {
      const queue = await make({ retryLimit: 5 });
      const poison = await queue.submit({ name: 'poison' });
      const order: string[] = [];
      const others: string[] = [];
      await queue.work(async ({ id, request, attempt }) => {
        const { name } = request as { name: string };
        order.push(`${name}#${attempt}`);
        if (name === 'poison') {
          // Jobs submitted while the poison job ran must all go before its retry.
          // One after another: concurrent submits have no order of their own.
          if (attempt === 1) for (const other of ['a', 'b', 'c']) others.push((await queue.submit({ name: other })).id);
          throw crash(attempt);
        }
        return name;
      }, fastWork);
      await until(queue, poison.id, 'failed', 15_000);
      for (const other of others) await until(queue, other, 'succeeded');
      assert.deepEqual(order, ['poison#1', 'a#1', 'b#1', 'c#1', 'poison#2']);
      const status = (await queue.get(poison.id))!;
      assert.equal(status.attempts, 2, 'retried once, not until the retry limit of 5');
      assert.equal(status.error?.code, 'worker_crashed');
      assert.match(status.error!.message, /died on 2 attempt\(s\), so it is not run again/);
      assert.deepEqual((await queue.attempts(poison.id)).map((attempt) => attempt.outcome), ['crashed', 'crashed']);
    }));

  test('a running job whose worker process is gone goes back to the queue within seconds, not at its expiry', (t) =>
    run(t, async (make, database) => {
      const queue = await make({ expireInSeconds: 900, heartbeatSeconds: 0.2 });
      const { id } = await queue.submit({ prompt: 'orphan' });
      // A worker that registered, took the job and was killed: its row, its attempt and the active job are all that is left.
      const pid = deadPid();
      await database.query(`INSERT INTO pixelpipe.workers (id, host, pid, queue) VALUES ('dead-worker', $1, $2, $3)`, [hostname(), pid, queue.queueName]);
      assert.equal(await fetchAsDeadWorker(database, queue.queueName), id);
      await database.query(`INSERT INTO pixelpipe.job_attempts (job_id, attempt, worker_id, host, pid) VALUES ($1, 1, 'dead-worker', $2, $3)`, [id, hostname(), pid]);

      const started = Date.now();
      const survivor = await make({ expireInSeconds: 900, heartbeatSeconds: 0.2 });
      await survivor.work(async () => 'rescued', fastWork);
      await until(survivor, id, 'succeeded', 10_000);
      assert.ok(Date.now() - started < 10_000);
      const attempts = await survivor.attempts(id);
      assert.deepEqual(attempts.map((attempt) => attempt.outcome), ['crashed', 'succeeded']);
      assert.match(attempts[0]!.error!.message, new RegExp(`process ${pid} on .* is (gone|no longer running)`));
      assert.deepEqual(await database.query(`SELECT id FROM pixelpipe.workers WHERE id = 'dead-worker'`), [], 'the dead worker\'s row is removed');
    }));

  test('a worker on another host is dead once its heartbeat is older than the timeout', (t) =>
    run(t, async (make, database) => {
      const queue = await make({ heartbeatSeconds: 0.2, workerTimeoutSeconds: 1 });
      const { id } = await queue.submit({ prompt: 'far away' });
      await database.query(`INSERT INTO pixelpipe.workers (id, host, pid, queue, heartbeat_at) VALUES ('remote-worker', 'another-host', 1, $1, now())`, [queue.queueName]);
      assert.equal(await fetchAsDeadWorker(database, queue.queueName), id);
      await database.query(`INSERT INTO pixelpipe.job_attempts (job_id, attempt, worker_id, host, pid) VALUES ($1, 1, 'remote-worker', 'another-host', 1)`, [id]);
      await queue.work(async () => 'rescued', fastWork);
      // Fresh, it is alive: the job stays with it for now.
      assert.equal((await queue.get(id))!.state, 'running');
      await until(queue, id, 'succeeded', 10_000);
      assert.match((await queue.attempts(id))[0]!.error!.message, /\(process 1 on another-host\) sent no heartbeat for \d+ s/);
    }));
}
