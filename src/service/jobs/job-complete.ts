// Writing successful attempts: several jobs completed in one transaction, each with its own output, with their attempts and whatever the caller's hook writes.
import { together, type DatabaseTransaction } from '../database/database.js';
import { endAttempts, laneOf, type FetchedJob } from './job-claim.js';
import type { JobContext, JobSettlement, JobSettleHook, WorkOptions } from './job-types.js';

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
