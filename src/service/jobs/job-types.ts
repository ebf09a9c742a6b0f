// What the job queue takes and gives: job states, status, submit and work options, the handler contract.
import type { DatabaseTransaction } from '../database/database.js';

/**
 * Where a job stands. `queued`: waiting for a worker (also between attempts while it waits out a
 * retry delay). `running`: a worker holds it. `succeeded`, `failed`, `cancelled`: final.
 */
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** Why a job failed, kept from the error its handler threw. */
export interface JobError {
  /** The error's class name, e.g. `ContentPolicyError`; `Error` where unknown. */
  name: string;
  /** The error's message. */
  message: string;
  /** The error's `isRetryable`, where it had one. */
  isRetryable?: boolean;
  /** A stable code for programs, where the error has one: `worker_crashed` when the job's worker died twice. */
  code?: string;
}

/** One attempt at a job, as its worker recorded it. */
export interface JobAttempt {
  /** 1 for the first. */
  attempt: number;
  /**
   * `running`; `succeeded`; `failed` (the handler threw); `crashed` (its worker process died: killed,
   * out of memory or crashed); `expired`; `stopped` (its worker shut down); `cancelled`; `lost` (taken back by the queue).
   */
  outcome: 'running' | 'succeeded' | 'failed' | 'crashed' | 'expired' | 'stopped' | 'cancelled' | 'lost';
  startedAt: Date;
  finishedAt?: Date;
  /** `host:pid` of the worker process that took it. */
  worker?: string;
  /** Why it did not succeed. */
  error?: JobError;
}

/** Everything `get` knows about one job. */
export interface JobStatus {
  /** The job's id (a UUID). */
  id: string;
  /** Where the job stands. */
  state: JobState;
  /** For a queued job, 1 for the next one a worker takes (higher priority first, then oldest); undefined otherwise. */
  position: number | undefined;
  /** The job's priority; higher runs first. */
  priority: number;
  /** The request as submitted. */
  request: unknown;
  /** The API key that submitted it, where one did. */
  apiKeyId: string | undefined;
  /** What the submitter kept with it (`SubmitOptions.meta`). */
  meta?: Record<string, unknown>;
  /** What the handler returned, for a succeeded job. */
  output: unknown;
  /** For a failed job, why; for a queued job waiting to retry, why the last attempt failed. */
  error: JobError | undefined;
  /** Attempts started so far, the running one included; 0 until a worker first takes it. */
  attempts: number;
  /** Attempts the job may have in all (1 + retries); equal to `attempts` once it failed for good. */
  maxAttempts: number;
  /** When it was submitted. */
  createdAt: Date;
  /** Earliest time a worker may take it: the submit time, or later while it waits out a retry delay. */
  startAfter: Date;
  /** When its latest attempt started; undefined before the first. */
  startedAt: Date | undefined;
  /** When it succeeded, failed for good or was cancelled; undefined before. */
  finishedAt: Date | undefined;
}

/** Options of `submit`. */
export interface SubmitOptions {
  /** Whole number from -1 000 000 to 1 000 000; higher runs first, equal priorities in submit order. Default 0. */
  priority?: number;
  /** A caller-chosen key (1 to 255 characters): submitting the same key again gives the first job back instead of a new one. */
  idempotencyKey?: string;
  /** The API key submitting; idempotency keys are kept apart per API key. */
  apiKeyId?: string;
  /** Jobs of `apiKeyId` that may run at once, across every worker; workers pass over its jobs while that many run. */
  maxConcurrent?: number;
  /** Which of a worker's limits the job counts against (see `WorkOptions.laneConcurrency`). Default `local`. */
  lane?: string;
  /** Creates the job inside this open transaction, so it exists only if the transaction commits. */
  transaction?: DatabaseTransaction;
  /** JSON kept with the job besides its request (e.g. what was decided about it at submit time), handed to the handler as `meta`. */
  meta?: Record<string, unknown>;
}

/** What `submit` gives back. */
export interface SubmitResult {
  /** The job's id. */
  id: string;
  /** Where the job stands now; an earlier job found by its idempotency key may have moved on. */
  state: JobState;
  /** False when the idempotency key matched an earlier job and no new one was made. */
  created: boolean;
  /** A new job's status as it was created (its queue position included), where the submit knows it without reading it back. */
  status?: JobStatus;
}

/** What a handler gets for one attempt at one job. */
export interface JobContext {
  /** The job's id. */
  id: string;
  /** The request as submitted; validate it, since it comes back from the database. */
  request: unknown;
  /** The API key that submitted it, where one did. */
  apiKeyId: string | undefined;
  /** The lane it was submitted to: `local`, or e.g. a hosted provider's name. */
  lane?: string;
  /** 1 for the first attempt, 2 for the first retry, and so on. */
  attempt: number;
  /** What the submitter kept with the job (`SubmitOptions.meta`). */
  meta?: Record<string, unknown>;
  /**
   * Aborts when the job is cancelled, runs past its expiry, is taken back by the queue, or the
   * worker stops; its `reason` is an `AbortedError` saying which. After it aborts, nothing the
   * handler returns or throws is recorded; stop promptly.
   */
  signal: AbortSignal;
}

/**
 * Runs one attempt at a job. What it returns (JSON) becomes the job's `output`. A thrown error
 * whose `isRetryable` is false fails the job at once; any other error (retryable, or without the
 * flag) sends it back to the queue until its retries are spent.
 */
export type JobHandler = (job: JobContext) => Promise<unknown>;

/** How an attempt ended, as told to `onSettled`. */
export type JobSettlement =
  | { state: 'succeeded'; output: unknown }
  | { state: 'failed'; error: JobError; final: boolean };

/**
 * Runs inside the transaction that writes an attempt's outcome, so what it writes (records,
 * events, webhooks) commits exactly when the outcome does. For a success it may give back the
 * output to store instead of the handler's. Not called for attempts whose job was cancelled or taken back.
 */
export type JobSettleHook = (transaction: DatabaseTransaction, job: Omit<JobContext, 'signal'>, settlement: JobSettlement) => Promise<unknown>;

/** Options of `work`. */
export interface WorkOptions {
  /** Runs inside the transaction that writes each attempt's outcome. */
  onSettled?: JobSettleHook;
  /** Runs in the transaction that claims jobs, once per claim, before their handlers start (e.g. to write their `running` events). */
  onClaimed?: (transaction: DatabaseTransaction, jobs: { id: string; attempt: number }[]) => Promise<void>;
  /**
   * Runs instead of `onSettled` for successes: attempts that succeed together are written in one
   * transaction, and this gets them all. Gives the output to store for each, in order (undefined
   * keeps the handler's).
   */
  onSucceeded?: (transaction: DatabaseTransaction, jobs: { job: Omit<JobContext, 'signal'>; output: unknown }[]) => Promise<unknown[]>;
  /** Runs after that transaction committed (e.g. to wake whoever waits for the job in this process). */
  afterSettled?: (job: Omit<JobContext, 'signal'>, settlement: JobSettlement) => void;
  /** Jobs of the `local` lane this process runs at once. Default 1. */
  concurrency?: number;
  /**
   * Jobs of each other lane this process runs at once, by lane name, with `*` for lanes not named;
   * a lane's jobs neither wait for nor hold back another lane's. Default `{ '*': 0 }`: only local jobs run.
   */
  laneConcurrency?: Record<string, number>;
  /** How long an idle worker waits before asking for work again, in seconds; a submit in this process wakes it at once. Default 2. */
  pollingIntervalSeconds?: number;
  /** How long a handler whose signal aborted may keep its slot before the slot takes new work anyway, in seconds. Default 10. */
  abortGraceSeconds?: number;
}

/** Options of `stop`. */
export interface StopOptions {
  /** True: take no new jobs and let running ones finish (up to `timeoutSeconds`). False: abort running jobs now. Default true. */
  graceful?: boolean;
  /** Longest a graceful stop waits, in seconds; jobs still running then are aborted. Default 30. */
  timeoutSeconds?: number;
}
