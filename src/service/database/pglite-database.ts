// The embedded backend: Postgres compiled to WebAssembly, in this process, over a data directory or in memory.
import { AsyncLocalStorage } from 'node:async_hooks';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { lockDataDirectory, type DataDirectoryLock } from './data-directory-lock.js';
import type { Database, DatabaseTransaction, PgBossAdapter } from './database.js';
import type { PGliteThreadReply, PGliteThreadRequest } from './pglite-thread.js';

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
const noop = () => undefined;

const threadEntry = new URL(`./pglite-thread${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

// Run from TypeScript sources (tests, benchmarks under tsx), the thread must register tsx itself:
// worker threads do not take the `--import tsx` of the process that starts them.
function startThread(dataDir: string | undefined): Worker {
  const options = { workerData: { dataDir }, execArgv: [] };
  if (!threadEntry.pathname.endsWith('.ts')) return new Worker(threadEntry, options);
  const register = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(register)}).then(({ register }) => { register(); return import(${JSON.stringify(threadEntry.href)}); })`, { ...options, eval: true });
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** An error the database thread reported, with the fields Postgres gave it (`code`, `detail`, `constraint`, ...). */
class PGliteThreadError extends Error {
  constructor(fields: Extract<PGliteThreadReply, { error: unknown }>['error']) {
    super(fields.message);
    Object.assign(this, fields);
    this.name = fields.name ?? 'error';
  }
}

/** PGlite on its own worker thread; statements sent before earlier ones are answered run in the order sent. */
class PGliteThread {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve: (rows: any[]) => void; reject: (error: Error) => void }>();
  #next = 1;
  #exited: Error | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: PGliteThreadReply) => {
      const waiting = this.#waiting.get(reply.id);
      this.#waiting.delete(reply.id);
      if (this.#waiting.size === 0) worker.unref();
      if ('error' in reply) waiting?.reject(new PGliteThreadError(reply.error));
      else waiting?.resolve(reply.rows);
    });
    const fail = (error: Error) => {
      this.#exited ??= error;
      for (const waiting of this.#waiting.values()) waiting.reject(error);
      this.#waiting.clear();
    };
    worker.on('error', (error) => fail(new Error(`the embedded database's thread failed: ${error.message}`, { cause: error })));
    worker.on('exit', (code) => fail(new Error(`the embedded database's thread exited (code ${code})`)));
  }

  /** Starts the thread and waits until the database is open. */
  static async start(dataDir: string | undefined): Promise<PGliteThread> {
    const worker = startThread(dataDir);
    const thread = new PGliteThread(worker);
    try {
      await new Promise<unknown[]>((resolve, reject) => thread.#waiting.set(0, { resolve, reject }));
    } catch (error) {
      await worker.terminate();
      throw error;
    }
    // Like an idle socket: an open database alone does not keep the process running.
    worker.unref();
    return thread;
  }

  #ask(request: DistributiveOmit<PGliteThreadRequest, 'id'>): Promise<any[]> {
    if (this.#exited) return Promise.reject(this.#exited);
    const id = this.#next++;
    // Referenced while a statement runs, so the process waits for its answer; like an idle socket otherwise.
    if (this.#waiting.size === 0) this.#worker.ref();
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id });
    });
  }

  query(text: string, values?: unknown[]): Promise<any[]> {
    return this.#ask({ op: 'query', text, values });
  }

  /** Milliseconds the thread has spent running (not waiting for a message) since it started. */
  busyMs(): number {
    return this.#worker.performance.eventLoopUtilization().active;
  }

  /** Runs `sql` (one or more statements, no parameters); gives the last statement's rows. */
  exec(sql: string): Promise<any[]> {
    return this.#ask({ op: 'exec', sql });
  }

  async close(): Promise<void> {
    if (!this.#exited) await this.#ask({ op: 'close' });
    this.#exited ??= new Error('the embedded database is closed');
    await this.#worker.terminate();
  }
}

function transactionOf(thread: PGliteThread, committed: (() => void)[]): DatabaseTransaction {
  const run = async (text: string, values?: unknown[]) => ({ rows: values?.length ? await thread.query(text, values) : await thread.exec(text) });
  return {
    async query<Row>(text: string, values?: unknown[]) {
      return (await thread.query(text, values)) as Row[];
    },
    async exec(sql: string) {
      await thread.exec(sql);
    },
    pgBossAdapter: () => ({ executeSql: run }),
    afterCommit: (callback) => void committed.push(callback),
  };
}

/**
 * PGlite is one connection: every statement and transaction runs alone, in call order, on the
 * database's own thread (see pglite-thread.ts). The queue here keeps a transaction's statements
 * together, and a failed multi-statement string with its ROLLBACK, so no query lands in another's
 * transaction or in an aborted one. Under load the connection is what everything waits for, so a
 * unit gives it up once its last statement is sent, not answered.
 */
export class PGliteDatabase implements Database {
  /** Always `pglite`. */
  readonly kind = 'pglite' as const;
  /** The data directory, or undefined for an in-memory database. */
  readonly dataDir: string | undefined;
  readonly #thread: PGliteThread;
  readonly #lock: DataDirectoryLock | undefined;
  #tail: Promise<unknown> = Promise.resolve();
  #closed: Promise<void> | undefined;

  private constructor(thread: PGliteThread, dataDir: string | undefined, lock: DataDirectoryLock | undefined) {
    this.#thread = thread;
    this.dataDir = dataDir;
    this.#lock = lock;
  }

  /** Opens (creating if needed) the database; refuses a data directory another live process holds. */
  static async open({ dataDir }: PGliteDatabaseConfig = {}): Promise<PGliteDatabase> {
    const lock = dataDir === undefined ? undefined : await lockDataDirectory(dataDir);
    try {
      return new PGliteDatabase(await PGliteThread.start(dataDir), dataDir, lock);
    } catch (error) {
      await lock?.release();
      throw error;
    }
  }

  /**
   * Milliseconds the database's thread has spent running statements since it opened: its share of
   * the process's CPU (`npm run bench:service` prices a job in it).
   */
  threadBusyMs(): number {
    return this.#thread.busyMs();
  }

  // Runs `work` once every earlier unit has sent its last statement. The next unit may go as soon as
  // this one calls `sent`: the thread runs statements in the order sent, so a unit need not hold
  // the connection while its last answer (a COMMIT, a lone query) crosses back to this thread.
  #exclusive<T>(work: (sent: () => void) => Promise<T>): Promise<T> {
    if (insideTransaction.getStore() === this) {
      return Promise.reject(new Error('a PGlite database was used directly inside its own transaction, which would wait for itself forever; use the transaction passed to the callback'));
    }
    let sent!: () => void;
    const allSent = new Promise<void>((resolve) => (sent = resolve));
    const run = this.#tail.then(() => work(sent));
    this.#tail = Promise.race([allSent, run.then(noop, noop)]);
    return run;
  }

  query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]> {
    return this.#exclusive((sent) => {
      const answer = this.#thread.query(text, values);
      sent();
      return answer;
    });
  }

  exec(sql: string): Promise<void> {
    return this.#exclusive(async (sent) => {
      await this.#execRecovering(sql, sent);
    });
  }

  // A string that opens a transaction (as pg-boss sends) holds the connection until it is answered:
  // if it failed, its ROLLBACK must come before anyone else's statement.
  async #execRecovering(sql: string, sent: () => void): Promise<any[]> {
    if (!opensTransaction.test(sql)) {
      const answer = this.#thread.exec(sql);
      sent();
      return answer;
    }
    try {
      return await this.#thread.exec(sql);
    } catch (error) {
      await this.#thread.exec('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  transaction<T>(body: (transaction: DatabaseTransaction) => Promise<T>): Promise<T> {
    return this.#exclusive(async (sent) => {
      // Not awaited: the thread runs messages in order, so the body's first statement goes with
      // BEGIN instead of a round trip after it. A failed BEGIN fails the transaction before COMMIT.
      const begun = this.#thread.exec('BEGIN');
      begun.catch(noop);
      let result: T;
      const committed: (() => void)[] = [];
      try {
        result = await insideTransaction.run(this, () => body(transactionOf(this.#thread, committed)));
        await begun;
      } catch (error) {
        const rolledBack = this.#thread.exec('ROLLBACK');
        sent();
        await rolledBack.catch(noop);
        throw error;
      }
      const commit = this.#thread.exec('COMMIT');
      sent();
      await commit;
      for (const callback of committed) callback();
      return result;
    });
  }

  pgBossAdapter(): PgBossAdapter {
    return {
      executeSql: async (text, values) => ({ rows: values?.length ? await this.query(text, values) : await this.#exclusive((sent) => this.#execRecovering(text, sent)) }),
    };
  }

  close(): Promise<void> {
    // Statements already queued run first; PGlite flushes to the data directory on close.
    this.#closed ??= this.#exclusive(() => this.#thread.close()).finally(() => this.#lock?.release());
    return this.#closed;
  }
}
