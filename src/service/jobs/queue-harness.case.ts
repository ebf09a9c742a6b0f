// What the queue conformance suites share: the backend under test, fresh queues for each test, and waiting helpers.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestContext } from 'node:test';
import PgBoss from 'pg-boss';
import type { Database } from '../database/database.js';
import { JobQueue, type JobQueueConfig } from './job-queue.js';
import type { JobState, WorkOptions } from './job-types.js';

export interface QueueCase {
  /** Shown in test names, e.g. `pglite`. */
  name: string;
  /** The database the file's tests share (each test uses its own queue name); undefined when skipped. */
  open(t: TestContext): Promise<Database | undefined>;
  /** Another handle on the same database, as a second process would open it (PGlite gives the same one); closed by the case. */
  connectAgain(t: TestContext): Promise<Database | undefined>;
}

/** Makes and starts a queue on the test's queue name; `config` overrides the fast test settings. */
export type MakeQueue = (config?: Partial<JobQueueConfig>) => Promise<JobQueue>;

/** What each test of the suites is given. */
export interface QueueHarness {
  /** Runs `body` with fresh queues on the case's database, stops them afterwards, and fails on background errors. */
  run(t: TestContext, body: (make: MakeQueue, database: Database) => Promise<void>): Promise<void>;
  /** The job's state, or undefined for an unknown job. */
  stateOf(queue: JobQueue, id: string): Promise<JobState | undefined>;
  /** Waits until the job is in `state`. */
  until(queue: JobQueue, id: string, state: JobState, timeoutMs?: number): Promise<true>;
}

/** Resolves after `milliseconds`. */
export const delay = (milliseconds: number) => new Promise((resolve) => setTimeout(resolve, milliseconds));

/** Polls `check` until it gives a value other than undefined or false, or fails after `timeoutMs`. */
export async function waitFor<T>(description: string, check: () => Promise<T | undefined | false> | T | undefined | false, { timeoutMs = 10_000, intervalMs = 50 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await delay(intervalMs);
  }
}

/** A promise with its resolve handle, to hold a handler until the test lets it go. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Resolves when the signal aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => (signal.aborted ? resolve(signal.reason) : signal.addEventListener('abort', () => resolve(signal.reason), { once: true })));
}

/** Takes the next job of `queueName` with pg-boss alone and walks away, as a worker that dies right after its claim; gives its id. */
export async function fetchAsDeadWorker(database: Database, queueName: string): Promise<string | undefined> {
  const dead = new PgBoss({ db: database.pgBossAdapter()!, schedule: false, supervise: false, migrate: false });
  dead.on('error', () => undefined);
  await dead.start();
  const [taken] = await dead.fetch(queueName);
  await dead.stop({ graceful: false, close: false });
  return taken?.id;
}

/** Work options that keep tests quick: idle workers poll ten times a second. */
export const fastWork: WorkOptions = { pollingIntervalSeconds: 0.1 };

/** The harness for one backend: each test gets its own queue name on the shared database. */
export function queueHarness(queueCase: QueueCase): QueueHarness {
  const run: QueueHarness['run'] = async (t, body) => {
    const database = await queueCase.open(t);
    if (!database) return;
    const queueName = `test-${randomUUID().slice(0, 8)}`;
    const queues: JobQueue[] = [];
    const errors: Error[] = [];
    const make: MakeQueue = async (config = {}) => {
      const queue = new JobQueue({ database, queueName, retryLimit: 2, retryDelaySeconds: 0, retryBackoff: false, expireInSeconds: 30, maintenanceIntervalSeconds: 1, onError: (error) => errors.push(error), ...config });
      queues.push(queue);
      await queue.start();
      return queue;
    };
    try {
      await body(make, database);
    } finally {
      await Promise.all(queues.map((queue) => queue.stop({ graceful: false })));
    }
    assert.deepEqual(errors.map((error) => error.message), [], 'no background errors');
  };
  const stateOf: QueueHarness['stateOf'] = async (queue, id) => (await queue.get(id))?.state;
  const until: QueueHarness['until'] = (queue, id, state, timeoutMs) => waitFor(`job ${id} to be ${state}`, async () => (await stateOf(queue, id)) === state, { timeoutMs });
  return { run, stateOf, until };
}
