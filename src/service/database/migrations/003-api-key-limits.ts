// API key limits: a display prefix, concurrent jobs per key, and each key's images per UTC day for the daily quota.
import type { Migration } from './migration.js';

/** Version 3: API key prefix and concurrency limit; daily image usage per key. */
export const apiKeyLimitsMigration: Migration = {
  version: 3,
  name: 'api-key-limits',
  sql: `
    ALTER TABLE pixelpipe.api_keys
      -- The secret's first characters, shown in listings to tell keys apart; not enough to use the key.
      ADD COLUMN prefix text NOT NULL DEFAULT '',
      ADD COLUMN max_concurrent_jobs integer CHECK (max_concurrent_jobs > 0);

    CREATE TABLE pixelpipe.api_key_usage (
      api_key_id uuid NOT NULL REFERENCES pixelpipe.api_keys (id) ON DELETE CASCADE,
      -- The UTC day the images were asked for; quotas reset at UTC midnight.
      day date NOT NULL,
      images integer NOT NULL CHECK (images >= 0),
      PRIMARY KEY (api_key_id, day)
    );
  `,
};
