// Writing how attempts ended: successes several jobs to a transaction, each with its own output, and
// failures one at a time; each with its attempt's row and whatever the caller's hooks write.
import type PgBoss from 'pg-boss';
import { together, type DatabaseTransaction } from '../database/database.js';
import { WorkerCrashedError } from '../errors/worker-crashed-error.js';
import { crashesOf, endAttempt, endAttempts, laneOf, type FetchedJob } from './job-claim.js';
import { describeError, type JobData } from './job-status.js';
import type { JobContext, JobError, JobSettlement, JobSettleHook, WorkOptions } from './job-types.js';

/** Why an attempt's handler was aborted, or its job given back, for the `AbortedError` and the job's error. */
export function abortMessage(job: FetchedJob, kind: 'expired' | 'stopped' | 'cancelled' | 'lost'): string {
  switch (kind) {
    case 'cancelled':
      return `job ${job.id} was cancelled`;
    case 'expired':
      return `job ${job.id} ran past its expiry of ${Number(job.expireInSeconds)} s and goes back to the queue`;
    case 'stopped':
      return `the worker stopped while job ${job.id} ran; it goes back to the queue`;
    default:
      return `job ${job.id} was taken back by the queue (it expired, or another worker holds it now)`;
  }
}

/**
 * Completes the jobs of `batch` that are still their attempt's (active, with the retry count they
 * were fetched with; the row locks keep a cancel or an expiry out until commit), after `onSucceeded`
 * (or `onSettled` for each) wrote what goes with them. Gives what to tell `afterSettled` once it commits.
 */
export async function completeJobs(
  transaction: DatabaseTransaction,
  { schema, queueName, onSettled, onSucceeded }: { schema: string; queueName: string; onSettled?: JobSettleHook; onSucceeded?: WorkOptions['onSucceeded'] },
  batch: { job: FetchedJob; output: unknown }[],
): Promise<{ context: Omit<JobContext, 'signal'>; settlement: JobSettlement }[]> {
  const rows = await transaction.query<{ id: string; state: string; retryCount: number }>(
    `SELECT id, state::text AS state, retry_count AS "retryCount" FROM ${schema}.job WHERE name = $1 AND id = ANY($2::uuid[]) FOR UPDATE`,
    [queueName, batch.map(({ job }) => job.id)],
  );
  const current = new Map(rows.map((row) => [row.id, row]));
  const kept = batch.filter(({ job }) => current.get(job.id)?.state === 'active' && current.get(job.id)?.retryCount === job.retryCount);
  if (kept.length === 0) return [];
  const contexts = kept.map(({ job }) => ({ id: job.id, request: job.data?.request, apiKeyId: job.data?.apiKeyId, lane: laneOf(job.data), attempt: job.retryCount + 1 }));
  let outputs: unknown[];
  if (onSucceeded) outputs = await onSucceeded(transaction, kept.map(({ output }, index) => ({ job: contexts[index]!, output })));
  else {
    outputs = [];
    for (const [index, { output }] of kept.entries()) outputs.push(await onSettled?.(transaction, contexts[index]!, { state: 'succeeded', output }));
  }
  const stored = kept.map(({ output }, index) => outputs[index] ?? output);
  // pg-boss's complete (src/plans.js completeJobs, pinned at 10.3.3) for several jobs with an
  // output each (pg-boss's own gives every job the same one), stored as `{ output }` as the job's
  // output always was. The ids also as an array: the planner knows its length and reads those rows by
  // the index, where the recordset alone (estimated at 100 rows) made it scan the whole queue (6 ms a
  // batch at 10,000 jobs on PGlite).
  await together([
    transaction.query(
      `UPDATE ${schema}.job j SET completed_on = now(), state = 'completed', output = x.output
       FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, output jsonb)
       WHERE j.name = $1 AND j.id = ANY($3::uuid[]) AND j.id = x.id AND j.state = 'active'`,
      [queueName, JSON.stringify(kept.map(({ job }, index) => ({ id: job.id, output: { output: stored[index] } }))), kept.map(({ job }) => job.id)],
    ),
    endAttempts(transaction, kept.map(({ job }) => job), 'succeeded'),
  ]);
  return kept.map((_entry, index) => ({ context: contexts[index]!, settlement: { state: 'succeeded', output: stored[index] } }));
}

/**
 * Writes a failed, expired or stopped attempt, only while the job is still this attempt's: active,
 * with the retry count it was fetched with (the row lock keeps a cancel or pg-boss's expiry from
 * slipping in between). Gives what to tell `afterSettled` once it commits, or nothing when the job
 * was no longer this attempt's.
 */
export async function failJob(
  transaction: DatabaseTransaction,
  { boss, schema, queueName, onSettled, maxCrashes }: { boss: PgBoss; schema: string; queueName: string; onSettled?: JobSettleHook; maxCrashes: number },
  job: FetchedJob,
  outcome: { kind: 'failed'; error: unknown } | { kind: 'expired' } | { kind: 'stopped' },
): Promise<{ context: Omit<JobContext, 'signal'>; settlement: JobSettlement } | undefined> {
  const [row] = await transaction.query<{ state: string; retryCount: number; retryLimit: number; data: JobData | null }>(
    `SELECT state::text AS state, retry_count AS "retryCount", retry_limit AS "retryLimit", data FROM ${schema}.job WHERE name = $1 AND id = $2 FOR UPDATE`,
    [queueName, job.id],
  );
  if (row?.state !== 'active' || row.retryCount !== job.retryCount) return undefined;
  const context = { id: job.id, request: job.data?.request, apiKeyId: job.data?.apiKeyId, attempt: job.retryCount + 1 };
  const crashed = outcome.kind === 'failed' && WorkerCrashedError.isInstance(outcome.error);
  let error: JobError = outcome.kind === 'failed' ? describeError(outcome.error) : { name: 'AbortedError', message: abortMessage(job, outcome.kind), isRetryable: true };
  let final = (outcome.kind === 'failed' && (outcome.error as { isRetryable?: unknown } | null)?.isRetryable === false) || row.retryCount >= row.retryLimit;
  if (crashed) {
    // A job that kills its worker gets one more attempt, after every job waiting now, and then fails for good.
    const crashes = crashesOf(row.data) + 1;
    await transaction.query(`UPDATE ${schema}.job SET data = jsonb_set(coalesce(data, '{}'::jsonb), '{crashes}', to_jsonb($3::int)) WHERE name = $1 AND id = $2`, [queueName, job.id, crashes]);
    final = crashes >= maxCrashes || row.retryCount >= row.retryLimit;
    error = final
      ? { ...error, message: `${error.message}. Its worker died on ${crashes} attempt(s), so it is not run again: a job that kills its worker would do so in a loop (most often it needs more memory than the worker has; try a smaller size or fewer images)` }
      : { ...error, message: `${error.message}; it runs once more, after the jobs waiting now` };
  }
  await endAttempt(transaction, job, crashed ? 'crashed' : outcome.kind, error);
  if (final && row.retryCount < row.retryLimit) {
    // pg-boss retries while retry_count < retry_limit; closing that gap makes its fail final.
    await transaction.query(`UPDATE ${schema}.job SET retry_limit = retry_count WHERE name = $1 AND id = $2`, [queueName, job.id]);
  }
  const settlement: JobSettlement = { state: 'failed', error, final };
  await onSettled?.(transaction, context, settlement);
  await boss.fail(queueName, job.id, { error }, { db: transaction.pgBossAdapter() });
  return { context, settlement };
}
