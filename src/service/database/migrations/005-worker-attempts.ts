// Workers that announce themselves with a heartbeat, and every attempt at a job with the worker that ran it and how it ended.
import type { Migration } from './migration.js';

/** Version 5: workers and job attempts, so a dead worker's job is noticed in seconds and a job that kills workers is not run in a loop. */
export const workerAttemptsMigration: Migration = {
  version: 5,
  name: 'worker-attempts',
  sql: `
    -- One row per running job worker (a serve or worker process's queue worker); removed when it stops.
    CREATE TABLE pixelpipe.workers (
      id text PRIMARY KEY,
      host text NOT NULL,
      pid integer NOT NULL,
      -- The process's start time on its host (Linux clock ticks since boot), so a reused pid is not taken for the worker.
      process_start text,
      queue text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      heartbeat_at timestamptz NOT NULL DEFAULT now()
    );

    -- Written when a worker takes a job and updated with the attempt's outcome in the transaction that settles it.
    CREATE TABLE pixelpipe.job_attempts (
      job_id uuid NOT NULL,
      attempt integer NOT NULL,
      worker_id text,
      host text,
      pid integer,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      -- running, succeeded, failed, crashed, expired, stopped, cancelled or lost
      outcome text NOT NULL DEFAULT 'running',
      error jsonb,
      PRIMARY KEY (job_id, attempt)
    );
    CREATE INDEX job_attempts_running ON pixelpipe.job_attempts (worker_id) WHERE outcome = 'running';
  `,
};
