// Claiming a job and keeping its attempts on record: the claim query, fair between API keys and putting jobs that crashed a worker last, and the rows of pixelpipe.job_attempts.
import type { Database, DatabaseTransaction } from '../database/database.js';
import type { JobData } from './job-status.js';
import type { JobError } from './job-types.js';
import type { WorkerLiveness } from './worker-liveness.js';

/** The columns of a fetched job the worker reads. */
export interface FetchedJob {
  id: string;
  data: JobData | null;
  retryCount: number;
  expireInSeconds: number;
}

/** A job's crashed attempts so far, kept in its data so claims can put such jobs last. */
export const crashesOf = (data: JobData | null | undefined): number => (typeof data?.crashes === 'number' ? data.crashes : 0);

// pg-boss's own fetch (src/plans.js fetchNextJob, pinned at 10.3.3) with one more condition: a job
// whose API key already has `maxConcurrent` jobs running is passed over, so one client's backlog
// cannot take every worker. The count and the claim are one statement, run under a lock per queue.
// `crashed`: claim among the jobs that crashed a worker (their data holds `crashes`), else among the
// others; claims try the others first, so such a job runs again only when no other job waits. (An
// ORDER BY on the marker instead made every claim sort the whole queue by it: ~40 % fewer submissions/s.)
function fairFetchSql(schema: string, crashed: boolean): string {
  return `
    WITH next AS (
      SELECT j.id
      FROM ${schema}.job j
      WHERE j.name = $1
        AND j.state < 'active'
        AND j.start_after < now()
        AND ${crashed ? '' : 'NOT '}(j.data ? 'crashes')
        AND (
          j.data->>'maxConcurrent' IS NULL
          OR (SELECT count(*) FROM ${schema}.job a WHERE a.name = $1 AND a.state = 'active' AND a.data->>'apiKeyId' = j.data->>'apiKeyId') < (j.data->>'maxConcurrent')::int
        )
      ORDER BY j.priority DESC, j.created_on, j.id
      LIMIT 1
      FOR UPDATE SKIP LOCKED
    )
    UPDATE ${schema}.job j SET
      state = 'active',
      started_on = now(),
      retry_count = CASE WHEN j.started_on IS NOT NULL THEN j.retry_count + 1 ELSE j.retry_count END
    FROM next
    WHERE j.name = $1 AND j.id = next.id
    RETURNING j.id, j.data, j.retry_count AS "retryCount", EXTRACT(epoch FROM j.expire_in)::float8 AS "expireInSeconds"`;
}

/** Writes the attempt's row when a worker takes a job. */
async function recordAttemptStart(transaction: DatabaseTransaction, job: FetchedJob, liveness: WorkerLiveness): Promise<void> {
  const { host, pid } = liveness.identity;
  await transaction.query(
    `INSERT INTO pixelpipe.job_attempts (job_id, attempt, worker_id, host, pid) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (job_id, attempt) DO UPDATE SET worker_id = $3, host = $4, pid = $5, started_at = now(), finished_at = NULL, outcome = 'running', error = NULL`,
    [job.id, job.retryCount + 1, liveness.id, host, pid],
  );
}

/** Writes how an attempt ended; the first outcome written stays. */
export async function endAttempt(queryable: Pick<Database, 'query'>, job: FetchedJob, outcome: string, error: JobError | undefined): Promise<void> {
  await queryable.query(
    `UPDATE pixelpipe.job_attempts SET outcome = $3, finished_at = now(), error = $4 WHERE job_id = $1 AND attempt = $2 AND outcome = 'running'`,
    [job.id, job.retryCount + 1, outcome, error === undefined ? null : JSON.stringify(error)],
  );
}

/**
 * Claims the next job of `queueName` and records its attempt under `liveness`'s worker, in one
 * transaction; undefined when no job may run now.
 */
export async function claimNextJob(database: Database, schema: string, queueName: string, liveness: WorkerLiveness): Promise<FetchedJob | undefined> {
  return await database.transaction(async (transaction) => {
    // Claims are taken one at a time per queue: a concurrent claim would not see this one's
    // uncommitted row and could pass a key at its limit. The lock ends with the transaction.
    await transaction.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pixelpipe-fetch:${schema}.${queueName}`]);
    // The planner's cost estimate of the per-key count grows with the queue and crosses the JIT
    // thresholds, and compiling then costs ~100 ms per claim (measured at 6,700 queued jobs:
    // 123 ms with JIT, 4 ms without). Claims run one at a time, so that would cap every worker together.
    if (database.kind === 'postgres') await transaction.query('SET LOCAL jit = off');
    let [claimed] = await transaction.query<FetchedJob>(fairFetchSql(schema, false), [queueName]);
    claimed ??= (await transaction.query<FetchedJob>(fairFetchSql(schema, true), [queueName]))[0];
    // The attempt names its worker in the claim's transaction: if the worker dies, its job is found by that name.
    if (claimed) await recordAttemptStart(transaction, claimed, liveness);
    return claimed;
  });
}
