// Moderation: the audit log of every screening decision, and a moderation policy of its own per API key.
import type { Migration } from './migration.js';

/** Version 7: `pixelpipe.audit_log`, and `api_keys.moderation_policy`. */
export const moderationAuditMigration: Migration = {
  version: 7,
  name: 'moderation-audit',
  sql: `
    -- One row per decision, allows included; no foreign keys, so the log outlives what it names
    -- (a blocked prompt has no job, and rows stay when keys or records go).
    CREATE TABLE pixelpipe.audit_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      created_at timestamptz NOT NULL DEFAULT now(),
      api_key_id uuid,
      job_id uuid,
      record_id uuid,
      stage text NOT NULL CHECK (stage IN ('prompt', 'image', 'provider')),
      action text NOT NULL CHECK (action IN ('allow', 'flag', 'block', 'off')),
      -- The policy's name; the rule that decided (terms.block, patterns.2, categories.sexual, ...) and the classifier asked.
      policy text,
      rule text,
      classifier text,
      category text,
      scores jsonb,
      details jsonb
    );
    CREATE INDEX audit_log_created_at ON pixelpipe.audit_log (created_at DESC, id DESC);
    CREATE INDEX audit_log_action_created_at ON pixelpipe.audit_log (action, created_at DESC, id DESC);

    -- The key's own policy (the checked policy as JSON, or the JSON string "off"); null: the server's.
    ALTER TABLE pixelpipe.api_keys ADD COLUMN moderation_policy jsonb;
  `,
};
