// What each image carries beside its pixels: its content credentials, its watermark and its screening.
import type { Migration } from './migration.js';

/** Version 8: a record's provenance, and its watermark payload to find it by. */
export const recordProvenanceMigration: Migration = {
  version: 8,
  name: 'record-provenance',
  sql: `
    -- { c2pa: 'signed' | 'unsigned', signer?, watermark?, moderation? }; null for records made before.
    ALTER TABLE pixelpipe.records ADD COLUMN provenance jsonb;
    -- The watermark's payload (hex); an image found anywhere leads back to its record.
    ALTER TABLE pixelpipe.records ADD COLUMN watermark text;
    CREATE INDEX records_watermark ON pixelpipe.records (watermark) WHERE watermark IS NOT NULL;
  `,
};
