// The durable generation queue: jobs in pg-boss on the service's database, submitted by servers and run by workers.
import PgBoss from 'pg-boss';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Database, DatabaseTransaction, Queryable } from '../database/database.js';
import { migrate } from '../database/migrations.js';
import { createJobId } from './job-id.js';
import { isJobId, readJobState, readJobStatus, type JobData } from './job-status.js';
import type { JobAttempt, JobHandler, JobState, JobStatus, StopOptions, SubmitOptions, SubmitResult, WorkOptions } from './job-types.js';
import { laneOf, localLane } from './job-claim.js';
import { JobWorker } from './job-worker.js';
import { SubmitBatcher } from './submit-batcher.js';
import { WorkerLiveness } from './worker-liveness.js';

/** Name of the pg-boss queue generation jobs go to. */
export const generationQueueName = 'pixelpipe-generation';

/** Settings of a job queue. Retry and expiry settings apply to jobs submitted through this instance. */
export interface JobQueueConfig {
  /** The database jobs live in; pg-boss keeps its tables in their own schema there. */
  database: Database;
  /** pg-boss queue name. Default `pixelpipe-generation`. */
  queueName?: string;
  /** Schema of pg-boss's tables. Default `pgboss`. */
  schema?: string;
  /** Retries after a failed attempt (a retryable error, an expiry, a stopped worker). Default 2. */
  retryLimit?: number;
  /** Wait before a retry, in whole seconds; with `retryBackoff` the base of an exponential wait. Default 5. */
  retryDelaySeconds?: number;
  /** Double the wait before each further retry, with jitter. Default true. */
  retryBackoff?: boolean;
  /**
   * Longest an attempt may run, in seconds (1 to 86 399). A running attempt is aborted then, and
   * a job whose worker died goes back to the queue once this has passed and a maintenance pass
   * notices. Set it above the slowest generation. Default 900.
   */
  expireInSeconds?: number;
  /** How often this process looks for expired jobs and archives old ones, in seconds; all processes together do it once per interval. Default 30. */
  maintenanceIntervalSeconds?: number;
  /** How often running jobs are checked for cancellation, in milliseconds. Default 250. */
  cancellationCheckMs?: number;
  /** How often a worker writes its heartbeat and looks for attempts of dead workers, in seconds. Default 2. */
  heartbeatSeconds?: number;
  /**
   * A worker on another host that sent no heartbeat for this long is dead and its running jobs go
   * back to the queue, in seconds; on the same host a worker whose process is gone counts as dead at
   * the next heartbeat. Default 30.
   */
  workerTimeoutSeconds?: number;
  /** Attempts of one job that may end with their worker dead before it fails with `worker_crashed`. Default 2 (one retry). */
  maxCrashes?: number;
  /**
   * Runs in the transaction that creates new jobs, before any worker can see them (e.g. to write
   * their first events). Submissions made together share one transaction, so it gets several.
   */
  onCreated?: (transaction: DatabaseTransaction, jobs: JobStatus[]) => Promise<void>;
  /** Told about errors no caller waits for (maintenance, settling a job); default: written to stderr. */
  onError?: (error: Error) => void;
}

function checkWhole(argument: string, value: number, { min, max = Number.MAX_SAFE_INTEGER }: { min: number; max?: number }): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError({ argument, value, message: `\`${argument}\` must be a whole number from ${min} to ${max}, got ${value}` });
  }
  return value;
}

function checkPositive(argument: string, value: number): number {
  if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) {
    throw new InvalidArgumentError({ argument, value, message: `\`${argument}\` must be a number above 0, got ${value}` });
  }
  return value;
}

/** Submits, reads, cancels and runs generation jobs; one instance per process is enough, and any number may share a database. */
export class JobQueue {
  /** The pg-boss queue this instance serves. */
  readonly queueName: string;
  readonly #database: Database;
  readonly #schema: string;
  readonly #boss: PgBoss;
  readonly #sendOptions: PgBoss.SendOptions;
  readonly #cancellationCheckMs: number;
  readonly #heartbeatMs: number;
  readonly #workerTimeoutMs: number;
  readonly #maxCrashes: number;
  readonly #onError: (error: Error) => void;
  readonly #onCreated: JobQueueConfig['onCreated'];
  readonly #batcher: SubmitBatcher;
  #started: Promise<void> | undefined;
  #worker: JobWorker | undefined;

  constructor({
    database,
    queueName = generationQueueName,
    schema = 'pgboss',
    retryLimit = 2,
    retryDelaySeconds = 5,
    retryBackoff = true,
    expireInSeconds = 900,
    maintenanceIntervalSeconds = 30,
    cancellationCheckMs = 250,
    heartbeatSeconds = 2,
    workerTimeoutSeconds = 30,
    maxCrashes = 2,
    onCreated,
    onError = (error) => console.error(`pixelpipe: job queue: ${error.message}`),
  }: JobQueueConfig) {
    if (!/^[a-z_][a-z0-9_]{0,49}$/.test(schema)) {
      throw new InvalidArgumentError({ argument: 'schema', value: schema, message: `\`schema\` must be 1 to 50 lowercase letters, digits or underscores, not starting with a digit, got ${JSON.stringify(schema)}` });
    }
    if (!/^[\w.-]{1,100}$/.test(queueName)) {
      throw new InvalidArgumentError({ argument: 'queueName', value: queueName, message: `\`queueName\` must be 1 to 100 letters, digits, '.', '_' or '-', got ${JSON.stringify(queueName)}` });
    }
    this.queueName = queueName;
    this.#database = database;
    this.#schema = schema;
    this.#onError = onError;
    this.#onCreated = onCreated;
    this.#cancellationCheckMs = checkPositive('cancellationCheckMs', cancellationCheckMs);
    this.#heartbeatMs = checkPositive('heartbeatSeconds', heartbeatSeconds) * 1000;
    this.#workerTimeoutMs = checkPositive('workerTimeoutSeconds', workerTimeoutSeconds) * 1000;
    this.#maxCrashes = checkWhole('maxCrashes', maxCrashes, { min: 1, max: 100 });
    this.#sendOptions = {
      retryLimit: checkWhole('retryLimit', retryLimit, { min: 0, max: 1000 }),
      retryDelay: checkWhole('retryDelaySeconds', retryDelaySeconds, { min: 0 }),
      retryBackoff,
      expireInSeconds: checkWhole('expireInSeconds', expireInSeconds, { min: 1, max: 86_399 }),
    };
    const db = database.pgBossAdapter();
    if (!db) throw new InvalidArgumentError({ argument: 'database', value: database.kind, message: `the ${database.kind} database gives pg-boss no adapter; the job queue needs one` });
    const maintenance = checkWhole('maintenanceIntervalSeconds', maintenanceIntervalSeconds, { min: 1, max: 86_399 });
    this.#boss = new PgBoss({ db, schema, schedule: false, supervise: true, migrate: true, maintenanceIntervalSeconds: maintenance });
    const { retryLimit: jobRetryLimit, retryDelay, expireInSeconds: jobExpiry } = this.#sendOptions;
    this.#batcher = new SubmitBatcher({
      database,
      boss: this.#boss,
      schema,
      queueName,
      sendOptions: { retryLimit: jobRetryLimit, retryDelay, retryBackoff, expireInSeconds: jobExpiry },
      onCreated,
      afterCommit: (lanes) => this.#worker?.notify(lanes),
    });
    // An 'error' event nobody listens to would end the process.
    this.#boss.on('error', (error) => onError(error instanceof Error ? error : new Error(String((error as { message?: unknown }).message ?? error))));
  }

  /** Brings the schema up to date (pixelpipe's migrations and pg-boss's own) and creates the queue; calling it again does nothing. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      await migrate(this.#database);
      await this.#boss.start();
      await this.#boss.createQueue(this.queueName);
      // pg-boss indexes waiting jobs by start_after alone, so each claim sorted every waiting job to
      // find the first in fetch order (priority, created_on, id): a claim cost grew with the queue.
      // In fetch order, a claim reads the index from the front and stops at its limit. (Indexes of
      // the partitioned table reach every queue's partition, present and future.)
      await this.#database.transaction(async (transaction) => {
        await transaction.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pixelpipe-fetch-index:${this.#schema}`]);
        await transaction.exec(`CREATE INDEX IF NOT EXISTS job_pixelpipe_fetch ON ${this.#schema}.job (name, priority DESC, created_on, id) WHERE state < 'active'`);
      });
    })();
    return this.#started;
  }

  async #ready(method: string): Promise<void> {
    if (!this.#started) throw new Error(`call start() before ${method}()`);
    await this.#started;
  }

  /**
   * Adds a job; with an idempotency key already used (by the same API key), gives the earlier job
   * back instead. Resolves once the job is committed. Submissions made at the same time commit
   * together in one transaction (see `SubmitBatcher`); one inside a caller's `transaction` commits with it.
   */
  async submit(request: unknown, { priority = 0, idempotencyKey, apiKeyId, maxConcurrent, lane, transaction, meta }: SubmitOptions = {}): Promise<SubmitResult> {
    await this.#ready('submit');
    checkWhole('priority', priority, { min: -1_000_000, max: 1_000_000 });
    if (idempotencyKey !== undefined && (typeof idempotencyKey !== 'string' || idempotencyKey.length < 1 || idempotencyKey.length > 255)) {
      throw new InvalidArgumentError({ argument: 'idempotencyKey', value: idempotencyKey, message: `\`idempotencyKey\` must be 1 to 255 characters, got ${JSON.stringify(idempotencyKey)}` });
    }
    if (maxConcurrent !== undefined) checkWhole('maxConcurrent', maxConcurrent, { min: 1, max: 1_000_000 });
    if (lane !== undefined && !/^[\w.-]{1,64}$/.test(lane)) {
      throw new InvalidArgumentError({ argument: 'lane', value: lane, message: `\`lane\` must be 1 to 64 letters, digits, '.', '_' or '-', got ${JSON.stringify(lane)}` });
    }
    const data: JobData = { request, ...(apiKeyId === undefined ? {} : { apiKeyId }), ...(maxConcurrent === undefined ? {} : { maxConcurrent }), ...(lane === undefined || lane === localLane ? {} : { lane }), ...(meta === undefined ? {} : { meta }) };
    // Found now, alone, rather than by failing the batch it would join.
    JSON.stringify(data);
    if (transaction !== undefined && idempotencyKey !== undefined) {
      throw new InvalidArgumentError({ argument: 'transaction', value: idempotencyKey, message: 'a submit inside a caller\'s `transaction` cannot take an `idempotencyKey` (the key is claimed in a transaction of its own); leave one of them out' });
    }
    if (transaction) return await this.#submitAlone(data, priority, { transaction });
    const outcome = await this.#batcher.submit({ data, priority, idempotencyKey, scope: apiKeyId ?? '' });
    if (outcome.created) return { id: outcome.status.id, state: 'queued', created: true, status: outcome.status };
    const status = await this.get(outcome.id);
    if (status) return { id: outcome.id, state: status.state, created: false };
    // The key names a job pg-boss has deleted after its retention: submitting alone frees the key and makes a new job.
    return await this.#submitAlone(data, priority, { idempotencyKey });
  }

  // One job in a transaction of its own or the caller's.
  async #submitAlone(data: JobData, priority: number, { idempotencyKey, transaction }: Pick<SubmitOptions, 'idempotencyKey' | 'transaction'>): Promise<SubmitResult> {
    const send = async (id: string, db?: PgBoss.Db) => {
      const sent = await this.#boss.send(this.queueName, data, { ...this.#sendOptions, id, priority, ...(db ? { db } : {}) });
      if (sent !== id) throw new Error(`pg-boss did not create job ${id} in queue ${this.queueName}`);
    };
    // The queue's `onCreated` sees this job too, as it would in a batch.
    const created = async (inside: DatabaseTransaction, id: string) => {
      const status = this.#onCreated && (await this.get(id, inside));
      if (status) await this.#onCreated!(inside, [status]);
    };
    if (idempotencyKey === undefined) {
      const id = createJobId();
      const create = async (inside: DatabaseTransaction) => {
        await send(id, inside.pgBossAdapter());
        await created(inside, id);
        // Not before: a claim running meanwhile on another connection would not see the job, and
        // would leave its lane for drained until the next poll.
        inside.afterCommit(() => this.#worker?.notify([laneOf(data)]));
      };
      if (transaction) await create(transaction);
      else await this.#database.transaction(create);
      return { id, state: 'queued', created: true };
    }
    const scope = (data.apiKeyId as string | undefined) ?? '';
    for (let attempt = 0; ; attempt += 1) {
      const found = await this.#submitOnce(idempotencyKey, scope, send, created);
      const status = found.created ? undefined : await this.get(found.id);
      if (found.created || status) {
        this.#worker?.notify([laneOf(data)]);
        return { id: found.id, state: status?.state ?? 'queued', created: found.created };
      }
      // The key's job is gone (pg-boss deleted it after its retention), so the key is free again.
      if (attempt > 0) throw new Error(`idempotency key ${JSON.stringify(idempotencyKey)} names job ${found.id}, which cannot be found`);
      await this.#database.query('DELETE FROM pixelpipe.idempotency_keys WHERE scope = $1 AND key = $2 AND job_id = $3', [scope, idempotencyKey, found.id]);
    }
  }

  // Claiming the key and creating the job commit together, so a key never names a job that was not made.
  // A second submit with the same key waits on the first one's row lock, then finds its job.
  #submitOnce(key: string, scope: string, send: (id: string, db: PgBoss.Db) => Promise<void>, onCreated: (transaction: DatabaseTransaction, id: string) => Promise<void>): Promise<{ id: string; created: boolean }> {
    return this.#database.transaction(async (transaction) => {
      const id = createJobId();
      const claimed = await transaction.query('INSERT INTO pixelpipe.idempotency_keys (scope, key, job_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING job_id', [scope, key, id]);
      if (claimed.length === 0) {
        const [existing] = await transaction.query<{ job_id: string }>('SELECT job_id FROM pixelpipe.idempotency_keys WHERE scope = $1 AND key = $2', [scope, key]);
        return { id: existing!.job_id, created: false };
      }
      await send(id, transaction.pgBossAdapter());
      await onCreated?.(transaction, id);
      return { id, created: true };
    });
  }

  /** Everything known about a job, from the queue or pg-boss's archive; undefined for an unknown id. Pass `queryable` to read inside a transaction. */
  async get(id: string, queryable: Queryable = this.#database): Promise<JobStatus | undefined> {
    await this.#ready('get');
    return await readJobStatus(queryable, { schema: this.#schema, queueName: this.queueName, id });
  }

  /** Just where the job stands (no position, no output): cheap enough to poll; undefined for an unknown id. */
  async state(id: string): Promise<JobState | undefined> {
    await this.#ready('state');
    return await readJobState(this.#database, { schema: this.#schema, queueName: this.queueName, id });
  }

  /** Cancels a queued or running job (a running job's handler sees its signal abort); false when it had already finished or does not exist. */
  async cancel(id: string): Promise<boolean> {
    await this.#ready('cancel');
    if (!isJobId(id)) return false;
    // pg-boss's types say void; it gives back how many jobs it changed.
    const result = (await this.#boss.cancel(this.queueName, id)) as unknown as { affected?: number } | undefined;
    return (result?.affected ?? 0) > 0;
  }

  /** Jobs waiting for a worker (retries waiting out their delay included). */
  async depth(): Promise<number> {
    await this.#ready('depth');
    return await this.#boss.getQueueSize(this.queueName);
  }

  /** Runs `handler` on jobs from the queue, `concurrency` at a time, until `stop`. One worker per queue instance. */
  async work(handler: JobHandler, { concurrency = 1, laneConcurrency = { '*': 0 }, pollingIntervalSeconds = 2, abortGraceSeconds = 10, onClaimed, onSettled, onSucceeded, afterSettled }: WorkOptions = {}): Promise<void> {
    await this.#ready('work');
    if (this.#worker) throw new Error(`this queue instance already works on ${this.queueName}; make another instance for a second worker`);
    this.#worker = new JobWorker({
      boss: this.#boss,
      database: this.#database,
      schema: this.#schema,
      queueName: this.queueName,
      handler,
      onClaimed,
      onSettled,
      onSucceeded,
      afterSettled,
      concurrency: checkWhole('concurrency', concurrency, { min: 0, max: 1000 }),
      laneConcurrency: Object.fromEntries(Object.entries(laneConcurrency).map(([lane, limit]) => [lane, checkWhole(`laneConcurrency.${lane}`, limit, { min: 0, max: 1000 })])),
      pollingMs: checkPositive('pollingIntervalSeconds', pollingIntervalSeconds) * 1000,
      abortGraceMs: checkPositive('abortGraceSeconds', abortGraceSeconds) * 1000,
      cancellationCheckMs: this.#cancellationCheckMs,
      onError: this.#onError,
      liveness: new WorkerLiveness({ database: this.#database, schema: this.#schema, queueName: this.queueName, staleAfterMs: this.#workerTimeoutMs }),
      heartbeatMs: this.#heartbeatMs,
      maxCrashes: this.#maxCrashes,
    });
    await this.#worker.start();
  }

  /** Every attempt at a job so far, oldest first: which worker ran it and how it ended. */
  async attempts(id: string, queryable: Queryable = this.#database): Promise<JobAttempt[]> {
    if (!isJobId(id)) return [];
    const rows = await queryable.query<{ attempt: number; host: string | null; pid: number | null; started_at: Date; finished_at: Date | null; outcome: JobAttempt['outcome']; error: JobAttempt['error'] | null }>(
      'SELECT attempt, host, pid, started_at, finished_at, outcome, error FROM pixelpipe.job_attempts WHERE job_id = $1 ORDER BY attempt',
      [id],
    );
    return rows.map((row) => ({
      attempt: row.attempt,
      outcome: row.outcome,
      startedAt: new Date(row.started_at),
      ...(row.finished_at ? { finishedAt: new Date(row.finished_at) } : {}),
      ...(row.host ? { worker: `${row.host}:${row.pid}` } : {}),
      ...(row.error ? { error: row.error } : {}),
    }));
  }

  /** Ids of the jobs this instance's worker holds now: running, or done with their outcome still being written. */
  runningJobIds(): string[] {
    return this.#worker?.runningIds() ?? [];
  }

  /**
   * Stops the worker (see `StopOptions`) and pg-boss's maintenance. Jobs still running when it gives
   * up go back to the queue as a failed attempt. Leaves the database open: it belongs to the caller.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    if (!this.#started) return;
    await this.#started.catch(() => undefined);
    await this.#worker?.stop(options);
    await this.#boss.stop({ graceful: false, close: false });
  }
}
