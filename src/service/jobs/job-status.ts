// Reads a job out of pg-boss's tables and says what it means: state, queue position, output or error.
import { PixelpipeError } from '../../spec/errors/pixelpipe-error.js';
import type { Queryable } from '../database/database.js';
import type { JobError, JobState, JobStatus } from './job-types.js';

/** pg-boss's own job states, in the order of its `job_state` enum. */
export type PgBossState = 'created' | 'retry' | 'active' | 'completed' | 'cancelled' | 'failed';

const stateOfPgBoss: Record<PgBossState, JobState> = {
  created: 'queued',
  retry: 'queued',
  active: 'running',
  completed: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
};

/** What pixelpipe keeps in a pg-boss job's `data`. */
export interface JobData {
  /** The request as submitted. */
  request: unknown;
  /** The API key that submitted it, where one did. */
  apiKeyId?: string;
  /** Jobs of that key that may run at once across all workers; no limit when absent. */
  maxConcurrent?: number;
  /** Which of a worker's limits the job counts against: `local` (the default) or a hosted provider's name. */
  lane?: string;
  /** What the submitter keeps with the job besides its request, handed to the handler as it was given. */
  meta?: Record<string, unknown>;
  /** Attempts that ended with their worker dead (killed, out of memory, crashed); such a job is retried last, and once at most. */
  crashes?: number;
}

interface JobRow {
  id: string;
  state: PgBossState;
  priority: number;
  data: JobData | null;
  output: Record<string, unknown> | null;
  retryCount: number;
  retryLimit: number;
  createdOn: Date;
  startAfter: Date;
  startedOn: Date | null;
  completedOn: Date | null;
  position: number | null;
}

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a string pg-boss could have given as a job id; anything else names no job. */
export function isJobId(id: unknown): id is string {
  return typeof id === 'string' && uuidPattern.test(id);
}

/** The error pixelpipe stores in a failed attempt's output: name, message and retryability, never a stack. */
export function describeError(error: unknown): JobError {
  if (error instanceof Error) {
    const isRetryable = (error as { isRetryable?: unknown }).isRetryable;
    // Only pixelpipe's own errors carry a code meant for clients (Node's `code`s name system calls).
    const code = PixelpipeError.isInstance(error) ? (error as { code?: unknown }).code : undefined;
    return { name: error.name, message: error.message, ...(typeof isRetryable === 'boolean' ? { isRetryable } : {}), ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: typeof error === 'string' ? error : (JSON.stringify(error) ?? String(error)) };
}

// Failed attempts leave their error in `output` in one of the shapes pg-boss or pixelpipe write.
function readError(output: Record<string, unknown> | null): JobError {
  const ours = output?.error as Partial<JobError> | undefined;
  if (typeof ours?.message === 'string') {
    return { name: ours.name ?? 'Error', message: ours.message, ...(typeof ours.isRetryable === 'boolean' ? { isRetryable: ours.isRetryable } : {}), ...(typeof ours.code === 'string' ? { code: ours.code } : {}) };
  }
  // pg-boss's own: `{ value: { message } }` when it expired an abandoned job, `{ value: '...' }` for a string.
  const value = output?.value as { message?: unknown } | string | undefined;
  if (typeof value === 'string') return { name: 'Error', message: value };
  if (typeof value?.message === 'string') return { name: 'Error', message: value.message };
  if (typeof output?.message === 'string') return { name: typeof output.name === 'string' ? output.name : 'Error', message: output.message };
  return { name: 'Error', message: 'the job failed without an error message' };
}

// Position mirrors pg-boss's fetch order (priority desc, then created_on, then id) among jobs not yet taken.
function selectJob(schema: string, table: 'job' | 'archive'): string {
  const position =
    table === 'job'
      ? `CASE WHEN j.state < 'active' THEN (
           SELECT count(*)::int + 1 FROM ${schema}.job ahead
           WHERE ahead.name = j.name AND ahead.state < 'active'
             AND (ahead.priority > j.priority OR (ahead.priority = j.priority AND (ahead.created_on, ahead.id) < (j.created_on, j.id)))
         ) END`
      : 'NULL::int';
  return `
    SELECT j.id, j.state::text AS state, j.priority, j.data, j.output,
      j.retry_count AS "retryCount", j.retry_limit AS "retryLimit",
      j.created_on AS "createdOn", j.start_after AS "startAfter", j.started_on AS "startedOn", j.completed_on AS "completedOn",
      ${position} AS position
    FROM ${schema}.${table} j
    WHERE j.name = $1 AND j.id = $2`;
}

/** Only the state of job `id`: one primary-key lookup per table, for callers that poll. */
export async function readJobState(queryable: Queryable, { schema, queueName, id }: { schema: string; queueName: string; id: string }): Promise<JobState | undefined> {
  if (!isJobId(id)) return undefined;
  const [row] = await queryable.query<{ state: PgBossState }>(
    `SELECT state::text AS state FROM ${schema}.job WHERE name = $1 AND id = $2 UNION ALL SELECT state::text FROM ${schema}.archive WHERE name = $1 AND id = $2`,
    [queueName, id],
  );
  return row ? stateOfPgBoss[row.state] : undefined;
}

/** The status of job `id` in queue `queueName`, looking in pg-boss's archive too; undefined when there is no such job. */
export async function readJobStatus(queryable: Queryable, { schema, queueName, id }: { schema: string; queueName: string; id: string }): Promise<JobStatus | undefined> {
  if (!isJobId(id)) return undefined;
  // pg-boss moves a finished job to the archive in one statement, so it is in exactly one table.
  const [row] = await queryable.query<JobRow>(`${selectJob(schema, 'job')} UNION ALL ${selectJob(schema, 'archive')}`, [queueName, id]);
  if (!row) return undefined;
  const state = stateOfPgBoss[row.state];
  return {
    id: row.id,
    state,
    position: state === 'queued' ? (row.position ?? undefined) : undefined,
    priority: row.priority,
    request: row.data?.request,
    apiKeyId: row.data?.apiKeyId,
    ...(row.data?.meta ? { meta: row.data.meta } : {}),
    output: state === 'succeeded' ? row.output?.output : undefined,
    error: row.state === 'failed' || row.state === 'retry' ? readError(row.output) : undefined,
    // pg-boss counts a retry only when it takes a job that has started before.
    attempts: row.startedOn ? row.retryCount + 1 : 0,
    maxAttempts: row.retryLimit + 1,
    createdAt: row.createdOn,
    startAfter: row.startAfter,
    startedAt: row.startedOn ?? undefined,
    finishedAt: row.completedOn ?? undefined,
  };
}
