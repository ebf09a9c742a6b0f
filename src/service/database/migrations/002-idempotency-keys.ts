// Idempotency keys: a submit that repeats a key gets the job the first one made, not a new one.
import type { Migration } from './migration.js';

/** Version 2: idempotency keys. */
export const idempotencyKeysMigration: Migration = {
  version: 2,
  name: 'idempotency-keys',
  sql: `
    CREATE TABLE pixelpipe.idempotency_keys (
      -- The API key's id, or '' for callers without one: two clients may pick the same key.
      scope text NOT NULL,
      key text NOT NULL,
      job_id uuid NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (scope, key)
    );
    CREATE INDEX idempotency_keys_created_at ON pixelpipe.idempotency_keys (created_at);
  `,
};
