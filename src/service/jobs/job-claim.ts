// Claiming a job and keeping its attempts on record: the claim query, fair between API keys and putting jobs that crashed a worker last, and the rows of pixelpipe.job_attempts.
import { together, type Database } from '../database/database.js';
import type { JobData } from './job-status.js';
import type { JobError, WorkOptions } from './job-types.js';
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

/** The lane of jobs submitted without one: local generation, one at a time per device. */
export const localLane = 'local';

/** A job's lane: which of a worker's limits it counts against. */
export const laneOf = (data: JobData | null | undefined): string => (typeof data?.lane === 'string' ? data.lane : localLane);

/** How many more jobs a worker may take now, per lane. */
export interface LaneRoom {
  /** Room per lane named here; 0 for a full lane. */
  lanes: Record<string, number>;
  /** Room of each lane not named in `lanes`. */
  otherLanes: number;
}

// pg-boss's own fetch (src/plans.js fetchNextJob, pinned at 10.3.3) taking up to $3 jobs at once,
// with more conditions:
// - a job whose API key already has `maxConcurrent` jobs running is passed over, so one client's
//   backlog cannot take every worker; within one claim, a key's jobs are ranked so the claim stays
//   under the limit too;
// - a job whose lane has no room is passed over, and at most the lane's room is taken per lane (room
//   per lane named in $2 in $4, $5 for the others), so hosted jobs never wait behind local ones or the reverse;
// - `crashed`: claim among the jobs that crashed a worker (their data holds `crashes`), else among
//   the others; claims try the others first, so such a job runs again only when no other job waits.
//   (An ORDER BY on the marker instead made every claim sort the whole queue by it: ~40 % fewer submissions/s.)
// The counts, the claim and its attempts' rows are one statement, run under a lock per queue.
function fairFetchSql(schema: string, crashed: boolean): string {
  const lane = `coalesce(j.data->>'lane', '${localLane}')`;
  const running = (key: string) => `(SELECT count(*) FROM ${schema}.job a WHERE a.name = $1 AND a.state = 'active' AND a.data->>'apiKeyId' = ${key})`;
  return `
    WITH candidates AS (
      SELECT j.id, j.priority, j.created_on, ${lane} AS lane, j.data->>'apiKeyId' AS api_key, (j.data->>'maxConcurrent')::int AS max_concurrent
      FROM ${schema}.job j
      WHERE j.name = $1
        AND j.state < 'active'
        AND j.start_after < now()
        AND ${crashed ? '' : 'NOT '}(j.data ? 'crashes')
        AND CASE WHEN ${lane} = ANY($2::text[]) THEN ($4::jsonb ->> ${lane})::int > 0 ELSE $5::int > 0 END
        AND (j.data->>'maxConcurrent' IS NULL OR ${running("j.data->>'apiKeyId'")} < (j.data->>'maxConcurrent')::int)
      ORDER BY j.priority DESC, j.created_on, j.id
      LIMIT $3
      FOR UPDATE SKIP LOCKED
    ), ranked AS (
      SELECT c.*,
        row_number() OVER (PARTITION BY c.lane ORDER BY c.priority DESC, c.created_on, c.id) AS lane_rank,
        row_number() OVER (PARTITION BY c.api_key ORDER BY c.priority DESC, c.created_on, c.id) AS key_rank
      FROM candidates c
    ), chosen AS (
      SELECT r.id FROM ranked r
      WHERE r.lane_rank <= coalesce(($4::jsonb ->> r.lane)::int, $5::int)
        AND (r.max_concurrent IS NULL OR r.key_rank + ${running('r.api_key')} <= r.max_concurrent)
    ), claimed AS (
      UPDATE ${schema}.job j SET
        state = 'active',
        started_on = now(),
        retry_count = CASE WHEN j.started_on IS NOT NULL THEN j.retry_count + 1 ELSE j.retry_count END
      FROM chosen
      WHERE j.name = $1 AND j.id = chosen.id
      RETURNING j.id, j.data, j.retry_count AS "retryCount", EXTRACT(epoch FROM j.expire_in)::float8 AS "expireInSeconds", j.priority, j.created_on AS "createdOn"
    ), attempts AS (
      -- Each attempt names its worker in the claim itself: if the worker dies, its jobs are found by that name.
      INSERT INTO pixelpipe.job_attempts (job_id, attempt, worker_id, host, pid)
      SELECT c.id, c."retryCount" + 1, $6, $7, $8 FROM claimed c
      ON CONFLICT (job_id, attempt) DO UPDATE SET worker_id = $6, host = $7, pid = $8, started_at = now(), finished_at = NULL, outcome = 'running', error = NULL
    )
    SELECT c.*, (SELECT count(*)::int FROM candidates) AS candidates FROM claimed c`;
}

/** Writes how an attempt ended; the first outcome written stays. */
export async function endAttempt(queryable: Pick<Database, 'query'>, job: FetchedJob, outcome: string, error: JobError | undefined): Promise<void> {
  await queryable.query(
    `UPDATE pixelpipe.job_attempts SET outcome = $3, finished_at = now(), error = $4 WHERE job_id = $1 AND attempt = $2 AND outcome = 'running'`,
    [job.id, job.retryCount + 1, outcome, error === undefined ? null : JSON.stringify(error)],
  );
}

/** Writes the same outcome for several attempts in one statement (the ids also as an array, for the index: see completeJobs). */
export async function endAttempts(queryable: Pick<Database, 'query'>, jobs: FetchedJob[], outcome: string): Promise<void> {
  await queryable.query(
    `UPDATE pixelpipe.job_attempts a SET outcome = $2, finished_at = now() FROM jsonb_to_recordset($1::jsonb) AS x(job_id uuid, attempt int)
     WHERE a.job_id = ANY($3::uuid[]) AND a.job_id = x.job_id AND a.attempt = x.attempt AND a.outcome = 'running'`,
    [JSON.stringify(jobs.map((job) => ({ job_id: job.id, attempt: job.retryCount + 1 }))), outcome, jobs.map((job) => job.id)],
  );
}

/**
 * Claims up to `limit` jobs of `queueName` that fit `room` and records their attempts under
 * `liveness`'s worker, in one transaction; in queue order, none when no job may run now.
 * `exhausted`: fewer than `limit` jobs could run, so each lane got every job of it that could.
 */
export async function claimJobs(database: Database, schema: string, queueName: string, liveness: WorkerLiveness, limit: number, room: LaneRoom, onClaimed?: WorkOptions['onClaimed']): Promise<{ jobs: FetchedJob[]; exhausted: boolean }> {
  return await database.transaction(async (transaction) => {
    // Claims are taken one at a time per queue: a concurrent claim would not see this one's
    // uncommitted rows and could pass a key at its limit. The lock ends with the transaction.
    // One round trip for the lock and the settings (the names are checked letters, digits, '.', '_' and '-', so they go in a literal).
    // - The planner's cost estimate of the per-key count grows with the queue and crosses the JIT
    //   thresholds, and compiling then costs ~100 ms per claim (measured at 6,700 queued jobs: 123 ms
    //   with JIT, 4 ms without). Claims run one at a time, so that would cap every worker together.
    // - Read the queue in fetch order from job_pixelpipe_fetch and stop at the limit, rather than sort
    //   every waiting job: PGlite keeps no statistics (nothing runs ANALYZE there), so its planner
    //   takes the queue for empty and picks the sort, which cost ~20 ms per claim at 2,000 waiting jobs.
    // - Plan the claim for this run's values: PGlite runs it as a prepared statement (pglite-thread.ts),
    //   and the generic plan Postgres kept after a few claims on a short queue took 13.1 ms a claim at
    //   10,000 jobs against 3.8 ms planned each time (`npm run bench:service -- --jobs 10000 --query-stats`).
    // The lock and the first claim go together (see DatabaseTransaction): the claim runs after the lock is held.
    const { host, pid } = liveness.identity;
    const values = [queueName, Object.keys(room.lanes), limit, JSON.stringify(room.lanes), room.otherLanes, liveness.id, host, pid];
    type Claimed = FetchedJob & { priority: number; createdOn: Date; candidates: number };
    let [, claimed] = await together([
      transaction.exec(`SELECT pg_advisory_xact_lock(hashtext('pixelpipe-fetch:${schema}.${queueName}')); ${database.kind === 'postgres' ? 'SET LOCAL jit = off; ' : ''}SET LOCAL enable_sort = off; SET LOCAL plan_cache_mode = force_custom_plan`),
      transaction.query<Claimed>(fairFetchSql(schema, false), values),
    ]);
    if (claimed.length === 0) claimed = await transaction.query<Claimed>(fairFetchSql(schema, true), values);
    // No row comes back when nothing was claimed, and then nothing could be: a candidate is left only when its lane or key was full.
    if (claimed.length === 0) return { jobs: [], exhausted: true };
    // RETURNING gives the rows in no set order; they start in queue order.
    claimed.sort((a, b) => b.priority - a.priority || new Date(a.createdOn).getTime() - new Date(b.createdOn).getTime() || (a.id < b.id ? -1 : 1));
    await onClaimed?.(transaction, claimed.map((job) => ({ id: job.id, attempt: job.retryCount + 1 })));
    return { jobs: claimed.map(({ id, data, retryCount, expireInSeconds }) => ({ id, data, retryCount, expireInSeconds })), exhausted: claimed[0]!.candidates < limit };
  });
}
