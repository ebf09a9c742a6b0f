// Submissions in group commit (see database/group-commit.ts): one transaction and one multi-row
// statement per table for all the jobs submitted while the last batch committed, whatever the
// number of clients, instead of a transaction each; an accepted job is still durable before its
// submit resolves. PGlite runs every statement of the process one after another, so 64 clients
// submitting at once otherwise queue 64 transactions in front of each worker's claim.
import type PgBoss from 'pg-boss';
import { together, type Database, type DatabaseTransaction } from '../database/database.js';
import { GroupCommit } from '../database/group-commit.js';
import { laneOf } from './job-claim.js';
import { createJobId } from './job-id.js';
import type { JobData } from './job-status.js';
import type { JobStatus } from './job-types.js';

/** One submission waiting for its batch. */
export interface PendingSubmission {
  data: JobData;
  priority: number;
  idempotencyKey?: string;
  /** Idempotency keys are kept apart per API key; '' for callers without one. */
  scope: string;
}

/** How a submission came out of its batch. */
export type BatchOutcome =
  /** A new job, with its status as created (so the caller need not read it back). */
  | { created: true; status: JobStatus }
  /** The idempotency key already named this job (made earlier, or by an earlier submission of the same batch). */
  | { created: false; id: string };

/** What a batch needs from the queue it serves. */
export interface SubmitBatcherConfig {
  database: Database;
  boss: PgBoss;
  schema: string;
  queueName: string;
  /** pg-boss options every job of this queue is sent with. */
  sendOptions: Pick<PgBoss.JobInsert, 'retryLimit' | 'retryDelay' | 'retryBackoff' | 'expireInSeconds'>;
  /** Runs in each batch's transaction after its jobs are made, before any worker can see them (e.g. to write their first events). */
  onCreated?: (transaction: DatabaseTransaction, jobs: JobStatus[]) => Promise<void>;
  /** Called after each batch commits with new jobs, with their lanes (to wake idle workers). */
  afterCommit?: (lanes: Set<string>) => void;
  /** Most submissions per batch. Default 256. */
  maxBatch?: number;
}

interface CreatedRow {
  id: string;
  createdOn: Date;
  startAfter: Date;
  retryLimit: number;
}

/** Collects submissions and commits them in batches; `submit` resolves once its job is durable. */
export class SubmitBatcher {
  readonly #config: SubmitBatcherConfig;
  // One batch commits at a time, also on PostgreSQL: jobs then take their place in the queue in
  // the order they were submitted (by created_on, the transaction's start, then id), which batches
  // committing side by side would not keep.
  readonly #batches: GroupCommit<PendingSubmission, BatchOutcome>;

  constructor(config: SubmitBatcherConfig) {
    this.#config = config;
    this.#batches = new GroupCommit(async (batch) => {
      const outcomes = await config.database.transaction((transaction) => this.#write(transaction, batch));
      const lanes = new Set(batch.flatMap((submission, index) => (outcomes[index]!.created ? [laneOf(submission.data)] : [])));
      if (lanes.size > 0) config.afterCommit?.(lanes);
      return outcomes;
    }, { maxBatch: config.maxBatch });
  }

  submit(submission: PendingSubmission): Promise<BatchOutcome> {
    return this.#batches.add(submission);
  }

  async #write(transaction: DatabaseTransaction, batch: PendingSubmission[]): Promise<BatchOutcome[]> {
    const { schema, queueName } = this.#config;
    // Idempotency keys first: a key already taken names its job and makes none. Within the batch,
    // the first submission of a key claims it and later ones get its job.
    const ids = batch.map(() => createJobId());
    const keyOf = (submission: PendingSubmission) => JSON.stringify([submission.scope, submission.idempotencyKey]);
    const firstOfKey = new Map<string, number>();
    batch.forEach((submission, index) => {
      if (submission.idempotencyKey !== undefined && !firstOfKey.has(keyOf(submission))) firstOfKey.set(keyOf(submission), index);
    });
    const earlier = await this.#claimKeys(transaction, batch, firstOfKey, ids);
    const madeBy: (number | undefined)[] = batch.map((submission, index) => {
      if (submission.idempotencyKey === undefined) return undefined;
      if (earlier.has(keyOf(submission))) return -1;
      const first = firstOfKey.get(keyOf(submission))!;
      return first === index ? undefined : first;
    });
    const creating = batch.flatMap((_submission, index) => (madeBy[index] === undefined ? [index] : []));
    const statuses = new Map<number, JobStatus>();
    if (creating.length > 0) {
      const jobs: PgBoss.JobInsert[] = creating.map((index) => ({ id: ids[index], name: queueName, data: batch[index]!.data, priority: batch[index]!.priority, ...this.#config.sendOptions }));
      // The insert, the read-back and the positions go to the database together (they run in this
      // order): none needs an earlier one's answer, since every row of the batch is created at the
      // transaction's now(). pg-boss's insert (10.3.3, pinned) sends its statement before its first
      // await; were it to wait first, the read-back would find no rows and the batch would fail loudly.
      const [, rows, positions] = await together([
        this.#config.boss.insert(jobs, { db: transaction.pgBossAdapter() }),
        // pg-boss's insert skips a row it cannot make (ON CONFLICT DO NOTHING) without saying so.
        transaction.query<CreatedRow>(
          `SELECT id, created_on AS "createdOn", start_after AS "startAfter", retry_limit AS "retryLimit" FROM ${schema}.job WHERE name = $1 AND id = ANY($2::uuid[])`,
          [queueName, creating.map((index) => ids[index])],
        ),
        this.#positions(transaction, creating.map((index) => ({ id: ids[index]!, priority: batch[index]!.priority }))),
      ]);
      if (rows.length !== creating.length) throw new Error(`pg-boss made ${rows.length} of ${creating.length} jobs in queue ${queueName}`);
      const rowOf = new Map(rows.map((row) => [row.id, row]));
      for (const index of creating) {
        const row = rowOf.get(ids[index]!)!;
        const { data, priority } = batch[index]!;
        statuses.set(index, {
          id: row.id,
          state: 'queued',
          position: positions.get(row.id),
          priority,
          request: data.request,
          apiKeyId: data.apiKeyId,
          ...(data.meta ? { meta: data.meta } : {}),
          output: undefined,
          error: undefined,
          attempts: 0,
          maxAttempts: row.retryLimit + 1,
          createdAt: new Date(row.createdOn),
          startAfter: new Date(row.startAfter),
          startedAt: undefined,
          finishedAt: undefined,
        });
      }
      await this.#config.onCreated?.(transaction, [...statuses.values()]);
    }
    return batch.map((submission, index): BatchOutcome => {
      const status = statuses.get(index);
      if (status) return { created: true, status };
      const by = madeBy[index]!;
      return { created: false, id: by >= 0 ? ids[by]! : earlier.get(keyOf(submission))! };
    });
  }

  // Claims the batch's keys for the jobs about to be made; gives those already taken, with their
  // jobs, by JSON [scope, key]. A key another open transaction is claiming (PostgreSQL) makes the
  // insert wait for it; once it commits, the select after the insert sees its job.
  async #claimKeys(transaction: DatabaseTransaction, batch: PendingSubmission[], firstOfKey: Map<string, number>, ids: string[]): Promise<Map<string, string>> {
    if (firstOfKey.size === 0) return new Map();
    const claims = [...firstOfKey.values()].map((index) => ({ scope: batch[index]!.scope, key: batch[index]!.idempotencyKey, job_id: ids[index] }));
    const claimed = await transaction.query<{ scope: string; key: string }>(
      'INSERT INTO pixelpipe.idempotency_keys (scope, key, job_id) SELECT x.scope, x.key, x.job_id FROM jsonb_to_recordset($1::jsonb) AS x(scope text, key text, job_id uuid) ON CONFLICT DO NOTHING RETURNING scope, key',
      [JSON.stringify(claims)],
    );
    if (claimed.length === claims.length) return new Map();
    const ours = new Set(claimed.map((row) => JSON.stringify([row.scope, row.key])));
    const taken = claims.filter((claim) => !ours.has(JSON.stringify([claim.scope, claim.key])));
    const rows = await transaction.query<{ scope: string; key: string; job_id: string }>(
      'SELECT k.scope, k.key, k.job_id FROM pixelpipe.idempotency_keys k JOIN jsonb_to_recordset($1::jsonb) AS x(scope text, key text) ON k.scope = x.scope AND k.key = x.key',
      [JSON.stringify(taken.map(({ scope, key }) => ({ scope, key })))],
    );
    return new Map(rows.map((row) => [JSON.stringify([row.scope, row.key]), row.job_id]));
  }

  // Queue positions in pg-boss's fetch order (priority, then created_on, then id). One count per
  // priority in the batch, for its first job; the batch's later jobs of that priority follow it. The
  // batch's jobs are created at the transaction's now(), so the counts need not wait for the insert's answer.
  async #positions(transaction: DatabaseTransaction, jobs: { id: string; priority: number }[]): Promise<Map<string, number>> {
    const { schema, queueName } = this.#config;
    const byPriority = new Map<number, string[]>();
    for (const job of jobs) byPriority.set(job.priority, [...(byPriority.get(job.priority) ?? []), job.id]);
    const counted = await together([...byPriority].map(async ([priority, group]) => {
      // Ids rise in submit order and the batch shares one created_on, so id order is queue order.
      group.sort();
      const [row] = await transaction.query<{ ahead: number }>(
        `SELECT count(*)::int AS ahead FROM ${schema}.job ahead
         WHERE ahead.name = $1 AND ahead.state < 'active'
           AND (ahead.priority > $2 OR (ahead.priority = $2 AND (ahead.created_on, ahead.id) < (now(), $3::uuid)))`,
        [queueName, priority, group[0]],
      );
      return group.map((id, index) => [id, row!.ahead + 1 + index] as const);
    }));
    return new Map(counted.flat());
  }
}
