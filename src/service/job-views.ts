// Turns the queue's view of a job, its records and its latest step into what clients see.
import type { Queryable } from './database/database.js';
import type { JobRequest } from './generation/job-request.js';
import type { ImageRecord, JobView } from './image-service-types.js';
import type { JobAttempt, JobStatus } from './jobs/job-types.js';
import type { RecordStore } from './records/record-store.js';

/** When a job was submitted, read from its id (UUID v7 starts with the millisecond time). */
export function submittedAtMs(jobId: string): number {
  return Number.parseInt(jobId.replace(/-/g, '').slice(0, 12), 16);
}

async function latestStep(database: Queryable, jobId: string): Promise<JobView['progress']> {
  const [row] = await database.query<{ data: { imageIndex: number; step: number; steps: number } }>(
    `SELECT data FROM pixelpipe.job_events WHERE job_id = $1 AND type = 'step' ORDER BY sequence DESC LIMIT 1`,
    [jobId],
  );
  return row ? { imageIndex: row.data.imageIndex, step: row.data.step, steps: row.data.steps } : undefined;
}

/**
 * What a job answers with: all its records, or of a best-of-N job the chosen ones best first, and the
 * rejected candidates apart, best first (history keeps every record; `ranking.chosen` tells them apart).
 */
export function jobResult(records: ImageRecord[]): { records: ImageRecord[]; rejected?: ImageRecord[] } {
  if (!records.some((record) => record.ranking)) return { records };
  const byRank = [...records].sort((left, right) => (left.ranking?.rank ?? 0) - (right.ranking?.rank ?? 0) || left.imageIndex - right.imageIndex);
  const rejected = byRank.filter((record) => record.ranking?.chosen === false);
  return { records: byRank.filter((record) => record.ranking?.chosen !== false), ...(rejected.length ? { rejected } : {}) };
}

/** The client's view of `status`: times as ISO strings, records once it succeeded, progress while it runs. */
export async function toJobView(status: JobStatus, { database, records, attempts }: { database: Queryable; records: RecordStore; attempts: (id: string) => Promise<JobAttempt[]> }): Promise<JobView> {
  const stored = jobResult(status.state === 'succeeded' ? await records.forJob(status.id) : []);
  // Only a job that was tried more than once has a story worth its query.
  const history = status.attempts > 1 ? await attempts(status.id) : [];
  const progress = status.state === 'running' ? await latestStep(database, status.id) : undefined;
  const view: JobView = {
    id: status.id,
    state: status.state,
    position: status.position,
    priority: status.priority,
    createdAt: status.createdAt.toISOString(),
    startedAt: status.startedAt?.toISOString(),
    finishedAt: status.finishedAt?.toISOString(),
    attempts: status.attempts,
    maxAttempts: status.maxAttempts,
    attemptHistory: history.length > 0 ? history.map((attempt) => ({ ...attempt, startedAt: attempt.startedAt.toISOString(), finishedAt: attempt.finishedAt?.toISOString() })) : undefined,
    request: status.request as JobRequest,
    error: status.error,
    progress,
    records: stored.records,
    rejected: stored.rejected,
  };
  return Object.fromEntries(Object.entries(view).filter(([, value]) => value !== undefined)) as JobView;
}
