// First schema: generation records, API keys and webhook deliveries (jobs themselves live in pg-boss's schema).
import type { Migration } from './migration.js';

/** Version 1: records, API keys, webhook deliveries. */
export const recordsMigration: Migration = {
  version: 1,
  name: 'records',
  sql: `
    CREATE TABLE pixelpipe.api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL,
      -- SHA-256 of the key; the key itself is shown once and never stored.
      hash text NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz,
      rate_limit_per_minute integer CHECK (rate_limit_per_minute > 0),
      daily_image_quota integer CHECK (daily_image_quota >= 0)
    );

    CREATE TABLE pixelpipe.records (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      -- Null for generations made without the queue (library, CLI).
      job_id uuid,
      image_index integer NOT NULL DEFAULT 0 CHECK (image_index >= 0),
      parent_id uuid REFERENCES pixelpipe.records (id) ON DELETE SET NULL,
      api_key_id uuid REFERENCES pixelpipe.api_keys (id) ON DELETE SET NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      request jsonb NOT NULL,
      settings jsonb NOT NULL DEFAULT '{}',
      provider text NOT NULL,
      model_id text NOT NULL,
      model_hash text,
      -- Text, not bigint: seeds are unsigned 64-bit, past what JSON numbers hold exactly.
      seed text,
      revised_prompt text,
      warnings jsonb NOT NULL DEFAULT '[]',
      timings jsonb NOT NULL DEFAULT '{}',
      cost jsonb,
      blob_key text NOT NULL,
      sha256 text NOT NULL,
      media_type text NOT NULL,
      width integer NOT NULL CHECK (width > 0),
      height integer NOT NULL CHECK (height > 0),
      -- A job retried after a worker crashed must not add a second record for the same image.
      CONSTRAINT records_job_image UNIQUE (job_id, image_index)
    );
    CREATE INDEX records_created_at ON pixelpipe.records (created_at DESC, id);
    CREATE INDEX records_api_key_created_at ON pixelpipe.records (api_key_id, created_at) WHERE api_key_id IS NOT NULL;
    CREATE INDEX records_sha256 ON pixelpipe.records (sha256);
    CREATE INDEX records_parent ON pixelpipe.records (parent_id) WHERE parent_id IS NOT NULL;

    CREATE TABLE pixelpipe.webhook_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      job_id uuid NOT NULL,
      event text NOT NULL,
      url text NOT NULL,
      attempt integer NOT NULL CHECK (attempt >= 1),
      status_code integer,
      error text,
      delivered_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX webhook_deliveries_job ON pixelpipe.webhook_deliveries (job_id, delivered_at);
  `,
};
