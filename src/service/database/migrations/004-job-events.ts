// Job events (the stream clients follow), the blobs each job wrote (so a failed attempt leaves none behind), and service secrets.
import type { Migration } from './migration.js';

/** Version 4: job events, job blobs, secrets. */
export const jobEventsMigration: Migration = {
  version: 4,
  name: 'job-events',
  sql: `
    CREATE TABLE pixelpipe.job_events (
      -- One sequence for all jobs: it increases within each job, so a client resumes after the last it saw.
      sequence bigserial PRIMARY KEY,
      job_id uuid NOT NULL,
      type text NOT NULL,
      data jsonb NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX job_events_job ON pixelpipe.job_events (job_id, sequence);

    -- Written before a blob is stored and removed once the job's records are; what is left belongs to an attempt that never finished.
    CREATE TABLE pixelpipe.job_blobs (
      job_id uuid NOT NULL,
      blob_key text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (job_id, blob_key)
    );
    CREATE INDEX job_blobs_key ON pixelpipe.job_blobs (blob_key);
    CREATE INDEX records_blob_key ON pixelpipe.records (blob_key);
    -- SHA-256 of the decoded RGBA pixels: files carry their own timings and time, so only the pixels can match on a rerun.
    ALTER TABLE pixelpipe.records ADD COLUMN pixel_sha256 text;
    CREATE INDEX records_job ON pixelpipe.records (job_id) WHERE job_id IS NOT NULL;

    -- Secrets every process of one service must share (webhook signing, signed blob URLs), made once.
    CREATE TABLE pixelpipe.service_secrets (
      name text PRIMARY KEY,
      value text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `,
};
