// How a best-of-N candidate fared: its ranker, score, rank and whether it was chosen.
import type { Migration } from './migration.js';

/** Version 9: a record's ranking among its job's candidates. */
export const recordRankingMigration: Migration = {
  version: 9,
  name: 'record-ranking',
  sql: `
    -- { ranker, score, rank, chosen, candidates, reason?, detail? }; null for records of jobs that were not ranked.
    ALTER TABLE pixelpipe.records ADD COLUMN ranking jsonb;
  `,
};
