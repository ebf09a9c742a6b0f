// Brings a database's `pixelpipe` schema up to date: pending migrations, in order, each once, even with several processes starting together.
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import type { Database, Queryable } from './database.js';
import { recordsMigration } from './migrations/001-records.js';
import { idempotencyKeysMigration } from './migrations/002-idempotency-keys.js';
import { apiKeyLimitsMigration } from './migrations/003-api-key-limits.js';
import { jobEventsMigration } from './migrations/004-job-events.js';
import { workerAttemptsMigration } from './migrations/005-worker-attempts.js';
import { apiKeyAdminMigration } from './migrations/006-api-key-admin.js';
import { moderationAuditMigration } from './migrations/007-moderation-audit.js';
import { recordProvenanceMigration } from './migrations/008-record-provenance.js';
import { recordRankingMigration } from './migrations/009-record-ranking.js';
import type { Migration } from './migrations/migration.js';

export type { Migration } from './migrations/migration.js';

/** Every migration pixelpipe ships, in order. */
export const migrations: readonly Migration[] = [recordsMigration, idempotencyKeysMigration, apiKeyLimitsMigration, jobEventsMigration, workerAttemptsMigration, apiKeyAdminMigration, moderationAuditMigration, recordProvenanceMigration, recordRankingMigration];

/** What `migrate` did. */
export interface MigrationReport {
  /** Versions this call applied, in order; empty when the schema was already current. */
  applied: number[];
  /** Highest version the database holds afterwards. */
  version: number;
}

/** Options of `migrate`. */
export interface MigrateOptions {
  /** The migrations to bring the database to. Default: all that pixelpipe ships. */
  migrations?: readonly Migration[];
}

const bootstrap = `
  CREATE SCHEMA IF NOT EXISTS pixelpipe;
  CREATE TABLE IF NOT EXISTS pixelpipe.schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  );
`;

// One lock for every process migrating this database; a transaction-level lock ends with the
// transaction, so a process that dies mid-migration cannot leave it held.
async function lockMigrations(transaction: Queryable): Promise<void> {
  await transaction.query(`SELECT pg_advisory_xact_lock(('x' || md5('pixelpipe.schema_migrations'))::bit(64)::bigint)`);
}

async function appliedVersions(queryable: Queryable): Promise<Set<number>> {
  const rows = await queryable.query<{ version: number }>('SELECT version FROM pixelpipe.schema_migrations');
  return new Set(rows.map((row) => row.version));
}

function checkOrder(list: readonly Migration[]): void {
  list.forEach((migration, index) => {
    const previous = index === 0 ? 0 : list[index - 1]!.version;
    if (!Number.isInteger(migration.version) || migration.version <= previous) {
      throw new InvalidArgumentError({
        argument: 'migrations',
        value: migration.version,
        message: `\`migrations\` must have whole, rising versions from 1; ${migration.name} has version ${migration.version} after ${previous}`,
      });
    }
  });
}

/**
 * Applies the migrations the database lacks, in order, each in its own transaction that also
 * records it in `pixelpipe.schema_migrations`. Every transaction first takes an advisory lock and
 * checks again, so when two processes start together one applies and the other waits, then finds
 * nothing left to do. A migration that fails rolls back whole and stops the run.
 */
export async function migrate(database: Database, { migrations: list = migrations }: MigrateOptions = {}): Promise<MigrationReport> {
  checkOrder(list);
  // CREATE ... IF NOT EXISTS is not safe against a concurrent create, so even the bootstrap takes the lock.
  await database.transaction(async (transaction) => {
    await lockMigrations(transaction);
    await transaction.exec(bootstrap);
  });
  const applied: number[] = [];
  const seen = await appliedVersions(database);
  for (const migration of list) {
    if (seen.has(migration.version)) continue;
    const didApply = await database.transaction(async (transaction) => {
      await lockMigrations(transaction);
      // Another process may have applied it while this one waited for the lock.
      if ((await appliedVersions(transaction)).has(migration.version)) return false;
      await transaction.exec(migration.sql);
      await transaction.query('INSERT INTO pixelpipe.schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      return true;
    });
    if (didApply) applied.push(migration.version);
  }
  const [row] = await database.query<{ version: number }>('SELECT coalesce(max(version), 0)::int AS version FROM pixelpipe.schema_migrations');
  return { applied, version: row?.version ?? 0 };
}
