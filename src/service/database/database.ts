// The contract both database backends keep: embedded PGlite and a PostgreSQL server run the same SQL.

/**
 * What pg-boss's `db` option takes: one method that runs a statement and gives back its rows.
 * pg-boss sends multi-statement SQL (its `BEGIN; ...; COMMIT;` maintenance blocks) without values;
 * the adapters run those as a simple query and give back the last statement's rows.
 */
export interface PgBossAdapter {
  /** Runs `text` with `values` (none for multi-statement SQL) and gives back the rows of the last statement. */
  executeSql(text: string, values?: unknown[]): Promise<{ rows: any[] }>;
}

/** Statements that run on one connection: the database itself, or one transaction of it. */
export interface Queryable {
  /**
   * Runs one statement with `$1`-style parameters and gives back its rows. Pass JSON values for
   * `jsonb` parameters as `JSON.stringify(value)`: `pg` sends a bare JavaScript array as a
   * Postgres array literal, not as JSON. Counts come back as strings from `pg` (int8); cast them
   * (`count(*)::int`) so both backends give numbers.
   */
  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]>;
  /** Runs SQL that may hold several statements separated by `;`, without parameters (migrations, DDL). */
  exec(sql: string): Promise<void>;
}

/**
 * One open transaction, handed to the callback of `Database.transaction`. Its statements run in the
 * order they are called, also when a caller sends several before the first is answered (say with
 * `Promise.all`): on PGlite each answer costs a turn of both threads, so statements that need no
 * earlier one's rows go together. After a failure, the ones behind it fail too and the transaction
 * rolls back.
 */
export interface DatabaseTransaction extends Queryable {
  /** A pg-boss `db` adapter whose statements run inside this transaction (pass it as `{ db }` to `send`, `fail`, ...). */
  pgBossAdapter(): PgBossAdapter;
  /**
   * Runs `callback` once this transaction has committed, and never when it rolls back: to tell
   * others of rows they could not see before (a worker of a job submitted inside it). It must not
   * throw: the transaction has committed by then.
   */
  afterCommit(callback: () => void): void;
}

/** Which backend a `Database` talks to. */
export type DatabaseKind = 'pglite' | 'postgres';

/**
 * The database pixelpipe keeps its records and jobs in. PGlite runs Postgres inside the process
 * (one connection, a data directory or memory); the Postgres backend holds a pool of connections
 * to a server that several processes share.
 */
export interface Database extends Queryable {
  /** Which backend this is. */
  readonly kind: DatabaseKind;
  /**
   * Runs `body` inside BEGIN ... COMMIT on one connection; a throw rolls back and is rethrown.
   * Inside `body`, use only the transaction's methods: on PGlite, a call to the database itself
   * would wait for the transaction to end, so it is refused instead of deadlocking.
   */
  transaction<T>(body: (transaction: DatabaseTransaction) => Promise<T>): Promise<T>;
  /**
   * What pg-boss's `db` option takes, so the queue shares this database's connections. Both
   * backends give one; the return type leaves room for a backend where pg-boss should open its
   * own pool from a connection string instead.
   */
  pgBossAdapter(): PgBossAdapter | undefined;
  /** Closes the connections (and, for PGlite, flushes and releases the data directory); the database is not used afterwards. */
  close(): Promise<void>;
}

/** The rows of the last statement of a result that may hold several (pg and PGlite give an array for multi-statement SQL). */
export function lastResult<Result extends { rows: unknown[] }>(result: Result | Result[] | undefined): { rows: any[] } {
  if (Array.isArray(result)) return result.at(-1) ?? { rows: [] };
  return result ?? { rows: [] };
}

/**
 * Waits for statements sent together in one transaction (see DatabaseTransaction) and gives their
 * answers in order. Unlike `Promise.all` it waits for every one to settle before throwing, so nothing
 * of the group can reach the database after the caller's failure rolled the transaction back. The
 * error thrown is the first in call order: those behind it failed only as "transaction is aborted".
 */
export async function together<T extends readonly unknown[] | []>(statements: T): Promise<{ -readonly [P in keyof T]: Awaited<T[P]> }> {
  const settled = await Promise.allSettled<readonly unknown[]>(statements);
  const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value) as { -readonly [P in keyof T]: Awaited<T[P]> };
}
