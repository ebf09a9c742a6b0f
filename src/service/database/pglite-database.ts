// The embedded backend: Postgres compiled to WebAssembly, in this process, over a data directory or in memory.
import { AsyncLocalStorage } from 'node:async_hooks';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { lockDataDirectory, type DataDirectoryLock } from './data-directory-lock.js';
import { lastResult, type Database, type DatabaseTransaction, type PgBossAdapter } from './database.js';

/** Settings of the embedded database. */
export interface PGliteDatabaseConfig {
  /** Folder that holds the database files, created when missing; omitted, the database lives in memory and is lost on close. */
  dataDir?: string;
}

// Which database's transaction the current async call chain runs inside, to refuse re-entry.
const insideTransaction = new AsyncLocalStorage<PGliteDatabase>();

// pg-boss wraps maintenance in `BEGIN; ...; COMMIT;` sent as one string; if a statement in it fails,
// the single PGlite connection stays in an aborted transaction until someone rolls it back.
const opensTransaction = /\bbegin\b/i;

function transactionOf(transaction: Transaction): DatabaseTransaction {
  const run = async (text: string, values?: unknown[]) =>
    values?.length ? await transaction.query(text, values) : lastResult(await transaction.exec(text));
  return {
    async query<Row>(text: string, values?: unknown[]) {
      return (await transaction.query<Row>(text, values)).rows;
    },
    async exec(sql: string) {
      await transaction.exec(sql);
    },
    pgBossAdapter: () => ({ executeSql: run }),
  };
}

/**
 * PGlite is one connection: every statement and transaction runs alone, in call order. PGlite's own
 * `transaction()` already keeps other queries out while it runs; the extra queue here also keeps a
 * failed multi-statement string and its ROLLBACK together, so no query lands in an aborted transaction.
 */
export class PGliteDatabase implements Database {
  /** Always `pglite`. */
  readonly kind = 'pglite' as const;
  /** The data directory, or undefined for an in-memory database. */
  readonly dataDir: string | undefined;
  readonly #pglite: PGlite;
  readonly #lock: DataDirectoryLock | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #closed: Promise<void> | undefined;

  private constructor(pglite: PGlite, dataDir: string | undefined, lock: DataDirectoryLock | undefined) {
    this.#pglite = pglite;
    this.dataDir = dataDir;
    this.#lock = lock;
  }

  /** Opens (creating if needed) the database; refuses a data directory another live process holds. */
  static async open({ dataDir }: PGliteDatabaseConfig = {}): Promise<PGliteDatabase> {
    const lock = dataDir === undefined ? undefined : await lockDataDirectory(dataDir);
    try {
      const pglite = new PGlite(dataDir);
      await pglite.waitReady;
      return new PGliteDatabase(pglite, dataDir, lock);
    } catch (error) {
      await lock?.release();
      throw error;
    }
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    if (insideTransaction.getStore() === this) {
      return Promise.reject(new Error('a PGlite database was used directly inside its own transaction, which would wait for itself forever; use the transaction passed to the callback'));
    }
    const run = this.#tail.then(work, work);
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #execRecovering(sql: string) {
    try {
      return await this.#pglite.exec(sql);
    } catch (error) {
      if (opensTransaction.test(sql)) await this.#pglite.exec('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]> {
    return this.#exclusive(async () => (await this.#pglite.query<Row>(text, values)).rows);
  }

  exec(sql: string): Promise<void> {
    return this.#exclusive(async () => {
      await this.#execRecovering(sql);
    });
  }

  transaction<T>(body: (transaction: DatabaseTransaction) => Promise<T>): Promise<T> {
    return this.#exclusive(() => this.#pglite.transaction((transaction) => insideTransaction.run(this, () => body(transactionOf(transaction)))));
  }

  pgBossAdapter(): PgBossAdapter {
    return {
      executeSql: (text, values) =>
        this.#exclusive(async () => (values?.length ? await this.#pglite.query(text, values) : lastResult(await this.#execRecovering(text)))),
    };
  }

  close(): Promise<void> {
    // Statements already queued run first; PGlite flushes to the data directory on close.
    this.#closed ??= this.#exclusive(async () => {
      await this.#pglite.close();
    }).finally(() => this.#lock?.release());
    return this.#closed;
  }
}
