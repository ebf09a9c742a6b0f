// Takes jobs from pg-boss and runs them: slots that fetch, a watch that aborts cancelled jobs, and settling each attempt exactly once.
import type PgBoss from 'pg-boss';
import { AbortedError } from '../../spec/errors/aborted-error.js';
import type { Database } from '../database/database.js';
import { GroupCommit } from '../database/group-commit.js';
import { WorkerCrashedError } from '../errors/worker-crashed-error.js';
import { claimJobs, endAttempt, laneOf, type FetchedJob, type LaneRoom } from './job-claim.js';
import { abortMessage, completeJobs, failJob } from './job-complete.js';
import { Lanes } from './lanes.js';
import type { JobHandler, JobSettleHook, StopOptions, WorkOptions } from './job-types.js';
import type { WorkerLiveness } from './worker-liveness.js';

/** Settings a worker runs with, resolved by the queue. */
export interface JobWorkerSettings {
  /** The started pg-boss instance jobs are fetched and settled through. */
  boss: PgBoss;
  /** The database pg-boss runs on; settling and the cancellation watch query it directly. */
  database: Database;
  /** Schema of pg-boss's tables. */
  schema: string;
  /** The queue to take jobs from. */
  queueName: string;
  /** Runs one attempt at a job. */
  handler: JobHandler;
  /** Runs inside the transaction that writes each attempt's outcome. */
  onSettled?: JobSettleHook;
  /** Runs in each claim's transaction. */
  onClaimed?: WorkOptions['onClaimed'];
  /** Runs instead of `onSettled` for successes, once per batch of them. */
  onSucceeded?: WorkOptions['onSucceeded'];
  /** Runs after that transaction committed. */
  afterSettled?: WorkOptions['afterSettled'];
  /** Jobs of the `local` lane run at once. */
  concurrency: number;
  /** Jobs of each other lane (a hosted provider) run at once; `*` for lanes not named. */
  laneConcurrency: Record<string, number>;
  /** Wait between polls of an idle slot, in milliseconds. */
  pollingMs: number;
  /** How long a handler may keep its slot after its signal aborts, in milliseconds. */
  abortGraceMs: number;
  /** Interval of the cancellation watch, in milliseconds. */
  cancellationCheckMs: number;
  /** Told about errors no caller waits for. */
  onError: (error: Error) => void;
  /** This worker's row and heartbeat, and the search for attempts of dead workers. */
  liveness: WorkerLiveness;
  /** How often the heartbeat is written and dead workers' attempts are looked for, in milliseconds. */
  heartbeatMs: number;
  /** Attempts of one job that may end in a crashed worker before the job fails with `worker_crashed` (2: retried once). */
  maxCrashes: number;
}

// How one attempt ended. The first three came from the handler or its clock and are written to
// the job; `cancelled` and `lost` mean the job is no longer this attempt's to write.
type Outcome =
  | { kind: 'succeeded'; output: unknown }
  | { kind: 'failed'; error: unknown }
  | { kind: 'expired' }
  | { kind: 'stopped' }
  | { kind: 'cancelled' }
  | { kind: 'lost' };

interface Run {
  job: FetchedJob;
  controller: AbortController;
  expiry?: NodeJS.Timeout;
  settlement?: Promise<void>;
}

// How long a claim waits for more room while a backlog waits (see #claimLoop).
const backlogClaimDelayMs = 5;

// Resolves after `milliseconds` or when `until` settles, whichever is first, leaving no timer behind.
async function waitAtMost(until: Promise<unknown>, milliseconds: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([until, new Promise<void>((resolve) => (timer = setTimeout(resolve, milliseconds)))]);
  clearTimeout(timer);
}

/**
 * The worker behind `JobQueue.work`. Jobs run in lanes, each with its own limit (local generation
 * one at a time per device, each hosted provider many at once); one loop claims, in one statement,
 * as many jobs as the lanes have room for, and starts each without waiting for it.
 */
export class JobWorker {
  readonly #settings: JobWorkerSettings;
  readonly #running = new Map<string, Run & { lane: string }>();
  // Jobs whose handler has returned and whose outcome is being written.
  readonly #settling = new Map<string, Run & { lane: string }>();
  readonly #runs = new Set<Promise<void>>();
  readonly #wakers = new Set<() => void>();
  readonly #lanes: Lanes;
  readonly #successes = new GroupCommit<{ job: FetchedJob; output: unknown }, void>((batch) => this.#writeSuccesses(batch));
  #wakePending = false;
  #backlog = false;
  readonly #fetching = new Set<Promise<unknown>>();
  #loop: Promise<void> | undefined;
  #stopping = false;
  #abandoning = false;
  #stopped = false;
  #watchTimer: NodeJS.Timeout | undefined;
  #watching: Promise<void> | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #beating = false;

  constructor(settings: JobWorkerSettings) {
    this.#settings = settings;
    this.#lanes = new Lanes(settings.concurrency, settings.laneConcurrency);
  }

  /** Registers the worker, requeues dead workers' jobs, and starts the claim loop. */
  async start(): Promise<void> {
    // The row exists before the first claim, so no attempt ever names a worker nobody can find.
    await this.#settings.liveness.register();
    // Jobs of workers that died before this one started (a serve killed and restarted) go back at once.
    await this.#recoverDeadAttempts();
    this.#heartbeat = setInterval(() => void this.#beat(), this.#settings.heartbeatMs);
    this.#heartbeat.unref();
    this.#loop = this.#claimLoop();
  }

  async #beat(): Promise<void> {
    if (this.#beating || this.#stopped) return;
    this.#beating = true;
    try {
      await this.#settings.liveness.beat();
      await this.#recoverDeadAttempts();
    } catch (error) {
      if (!this.#stopped) this.#settings.onError(error as Error);
    } finally {
      this.#beating = false;
    }
  }

  // Each attempt of a dead worker fails as a crash (retried once, last in line); another worker's
  // sweep may get there first, which the settle's row check turns into a no-op.
  async #recoverDeadAttempts(): Promise<void> {
    const { liveness, database, schema, queueName } = this.#settings;
    for (const dead of await liveness.deadAttempts()) {
      const [job] = await database.query<FetchedJob>(
        `SELECT id, data, retry_count AS "retryCount", EXTRACT(epoch FROM expire_in)::float8 AS "expireInSeconds" FROM ${schema}.job WHERE name = $1 AND id = $2`,
        [queueName, dead.jobId],
      );
      if (!job || job.retryCount !== dead.attempt - 1) continue;
      const error = new WorkerCrashedError({ message: `attempt ${dead.attempt} of job ${dead.jobId} ended without an outcome: ${dead.reason}` });
      await this.#settle(job, { kind: 'failed', error }).catch((settleError: Error) => this.#settings.onError(settleError));
    }
    await liveness.forgetDeadWorkers();
  }

  /** Looks for work now, instead of at the next poll: jobs were just submitted, in `lanes` when named (any lane when not). */
  notify(lanes?: Iterable<string>): void {
    this.#lanes.forget(lanes);
    this.#wake();
  }

  #wake(): void {
    if (this.#wakers.size === 0) this.#wakePending = true;
    for (const wake of this.#wakers) wake();
  }

  /** Ids of the jobs this worker holds now: running, or done with their outcome still being written. */
  runningIds(): string[] {
    return [...this.#running.keys(), ...this.#settling.keys()];
  }

  /** Takes no new jobs; waits for running ones when graceful, then aborts what still runs and puts it back in the queue. */
  async stop({ graceful = true, timeoutSeconds = 30 }: StopOptions = {}): Promise<void> {
    this.#stopping = true;
    this.notify();
    if (graceful) await waitAtMost(Promise.all([this.#loop, ...this.#runs]), timeoutSeconds * 1000);
    // Whatever still runs goes back to the queue now, rather than when its expiry runs out; outcomes
    // being written are waited for (their #finish gives the write in flight).
    this.#abandoning = true;
    await Promise.all([...this.#running.values(), ...this.#settling.values()].map((run) => this.#finish(run, { kind: 'stopped' })));
    // A fetch in flight may still hand over a job; it is put back before the fetch settles.
    await Promise.all(this.#fetching);
    // The watch runs to the end: jobs finishing during a graceful stop can still be cancelled.
    this.#stopped = true;
    clearTimeout(this.#watchTimer);
    clearInterval(this.#heartbeat);
    await this.#watching;
    await this.#settings.liveness.unregister().catch((error: Error) => this.#settings.onError(error));
  }

  async #claimLoop(): Promise<void> {
    while (!this.#stopping) {
      try {
        // Jobs finishing together free their room for one claim: one turn of the event loop first,
        // or, while a backlog waits (the last claim could have taken more), a few milliseconds,
        // which its jobs would have waited anyway. A claim costs about the same for 1 job as for 16.
        await new Promise((resolve) => (this.#backlog ? setTimeout(resolve, backlogClaimDelayMs) : setImmediate(resolve)));
        const { room, total } = this.#lanes.room([...this.#running.values()].map((run) => run.lane), [...this.#settling.values()].map((run) => run.lane));
        if (total === 0 || this.#stopping) {
          if (!this.#stopping) await this.#sleep();
          continue;
        }
        const { jobs, exhausted } = await this.#fetch(total, room);
        this.#backlog = !exhausted;
        if (exhausted) this.#lanes.claimedAll(room, jobs);
        for (const job of jobs) {
          const running = this.#run(job).finally(() => {
            this.#runs.delete(running);
            // A finished job frees room in its lane; a key's job frees room for the key's waiting
            // jobs, which a claim may have passed over in any lane.
            const lane = laneOf(job.data);
            if (job.data?.maxConcurrent !== undefined) this.#lanes.forget();
            if (this.#lanes.mayHaveMore(lane)) this.#wake();
          });
          this.#runs.add(running);
        }
        if (jobs.length === 0 && !this.#stopping) await this.#sleep();
      } catch (error) {
        // Nothing above should throw; if something does, the loop keeps serving after a pause.
        this.#settings.onError(error as Error);
        await this.#sleep();
      }
    }
  }

  #fetch(limit: number, room: LaneRoom): Promise<{ jobs: FetchedJob[]; exhausted: boolean }> {
    const { database, schema, queueName } = this.#settings;
    const fetching = (async () => {
      const claim = await claimJobs(database, schema, queueName, this.#settings.liveness, limit, room, this.#settings.onClaimed);
      if (claim.jobs.length > 0 && this.#abandoning) {
        await Promise.all(claim.jobs.map((job) => this.#finish({ job, controller: new AbortController() }, { kind: 'stopped' })));
        return { jobs: [], exhausted: false };
      }
      return claim;
    })();
    this.#fetching.add(fetching);
    return fetching.finally(() => this.#fetching.delete(fetching));
  }

  // Until woken, or until the poll interval passes, which forgets the drained lanes: other
  // processes submit without waking this one, and retries wait out their delay.
  #sleep(): Promise<void> {
    if (this.#wakePending) {
      this.#wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#lanes.forget();
        wake();
      }, this.#settings.pollingMs);
      this.#wakers.add(wake);
    });
  }

  async #run(job: FetchedJob): Promise<void> {
    const run: Run & { lane: string } = { job, controller: new AbortController(), lane: laneOf(job.data) };
    this.#running.set(job.id, run);
    this.#scheduleWatch();
    // Expiry is pg-boss's bound on an attempt; ending the attempt here puts the job back at once
    // instead of when a maintenance pass notices it.
    run.expiry = setTimeout(() => void this.#finish(run, { kind: 'expired' }), Number(job.expireInSeconds) * 1000);
    const { request, apiKeyId, meta } = job.data ?? { request: undefined };
    const handled = (async (): Promise<Outcome> => {
      try {
        return { kind: 'succeeded', output: await this.#settings.handler({ id: job.id, request, apiKeyId, lane: run.lane, attempt: job.retryCount + 1, ...(meta ? { meta } : {}), signal: run.controller.signal }) };
      } catch (error) {
        return { kind: 'failed', error };
      }
    })();
    // A handler that ignores its aborted signal keeps its slot only for the grace period.
    const outcome = await Promise.race([handled, this.#graceAfterAbort(run.controller.signal)]);
    if (outcome === 'abandoned') {
      this.#settings.onError(new Error(`the handler of job ${job.id} did not stop within ${this.#settings.abortGraceMs / 1000} s of its signal aborting; its slot takes new work while it still runs`));
    } else {
      // The handler is done with its slot: the next job may start while this outcome is written.
      // Outcomes that end meanwhile are then written together, so a busy worker spends fewer
      // transactions per job (at 16 hosted jobs at once, ~28 % fewer in `npm run bench:service`).
      this.#running.delete(job.id);
      this.#settling.set(job.id, run);
      if (this.#lanes.mayHaveMore(run.lane)) this.#wake();
      await this.#finish(run, outcome);
      this.#settling.delete(job.id);
    }
    this.#running.delete(job.id);
  }

  #graceAfterAbort(signal: AbortSignal): Promise<'abandoned'> {
    return new Promise((resolve) => {
      const start = () => setTimeout(() => resolve('abandoned'), this.#settings.abortGraceMs).unref();
      if (signal.aborted) start();
      else signal.addEventListener('abort', start, { once: true });
    });
  }

  // The first outcome of an attempt wins; later ones (the handler returning after an abort) change nothing.
  #finish(run: Run, outcome: Outcome): Promise<void> {
    run.settlement ??= (async () => {
      // Once an outcome is known, the expiry clock must not keep the process alive.
      clearTimeout(run.expiry);
      if (outcome.kind !== 'succeeded' && outcome.kind !== 'failed') {
        run.controller.abort(new AbortedError({ message: abortMessage(run.job, outcome.kind) }));
      }
      if (outcome.kind === 'cancelled' || outcome.kind === 'lost') {
        await endAttempt(this.#settings.database, run.job, outcome.kind, undefined).catch((error: Error) => this.#settings.onError(error));
        return;
      }
      try {
        if (outcome.kind === 'succeeded') await this.#settleSuccess(run.job, outcome.output);
        else await this.#settle(run.job, outcome);
      } catch (error) {
        this.#settings.onError(error as Error);
      }
    })();
    return run.settlement;
  }

  // Successes are written together, in group commit (see database/group-commit.ts): one
  // transaction with one statement per table for all that ended while the last batch committed.
  // A batch that fails is written again one job at a time, so one job's trouble is its own.
  #settleSuccess(job: FetchedJob, output: unknown): Promise<void> {
    return this.#successes.add({ job, output });
  }

  async #writeSuccesses(batch: { job: FetchedJob; output: unknown }[]): Promise<void[]> {
    const settled = await this.#settings.database.transaction((transaction) => completeJobs(transaction, this.#settings, batch));
    for (const { context, settlement } of settled) this.#settings.afterSettled?.(context, settlement);
    return batch.map(() => undefined);
  }

  // A failed, expired or stopped attempt is written alone (see failJob).
  async #settle(job: FetchedJob, outcome: Exclude<Outcome, { kind: 'succeeded' | 'cancelled' | 'lost' }>): Promise<void> {
    const settled = await this.#settings.database.transaction((transaction) => failJob(transaction, this.#settings, job, outcome));
    if (settled) this.#settings.afterSettled?.(settled.context, settled.settlement);
  }

  // While jobs run, one query every `cancellationCheckMs` checks them all: a cancelled job aborts
  // its handler, and so does one that is no longer this attempt's (expired and retaken).
  #scheduleWatch(): void {
    if (this.#watchTimer || this.#stopped) return;
    this.#watchTimer = setTimeout(() => {
      this.#watching = this.#watch();
    }, this.#settings.cancellationCheckMs);
    this.#watchTimer.unref();
  }

  async #watch(): Promise<void> {
    const { database, schema, queueName } = this.#settings;
    const runs = [...this.#running.values()].filter((run) => !run.settlement);
    try {
      if (runs.length > 0) {
        const rows = await database.query<{ id: string; state: string; retryCount: number }>(
          `SELECT id, state::text AS state, retry_count AS "retryCount" FROM ${schema}.job WHERE name = $1 AND id = ANY($2::uuid[])`,
          [queueName, runs.map((run) => run.job.id)],
        );
        const byId = new Map(rows.map((row) => [row.id, row]));
        for (const run of runs) {
          const row = byId.get(run.job.id);
          if (row?.state === 'cancelled') void this.#finish(run, { kind: 'cancelled' });
          else if (row?.state !== 'active' || row.retryCount !== run.job.retryCount) void this.#finish(run, { kind: 'lost' });
        }
      }
    } catch (error) {
      if (!this.#stopped) this.#settings.onError(error as Error);
    } finally {
      this.#watchTimer = undefined;
      if (this.#running.size > 0) this.#scheduleWatch();
    }
  }
}
