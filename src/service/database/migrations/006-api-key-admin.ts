// Admin API keys: a key that may also change what the server serves (pull models over HTTP), not only generate.
import type { Migration } from './migration.js';

/** Version 6: whether an API key is an admin key. */
export const apiKeyAdminMigration: Migration = {
  version: 6,
  name: 'api-key-admin',
  sql: `
    -- Made with \`pixelpipe keys create --admin\`; existing keys stay ordinary keys.
    ALTER TABLE pixelpipe.api_keys ADD COLUMN admin boolean NOT NULL DEFAULT false;
  `,
};
