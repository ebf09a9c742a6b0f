// The scaled-out backend: a pool of connections to a PostgreSQL server that servers and workers share.
import pg from 'pg';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { lastResult, type Database, type DatabaseTransaction, type PgBossAdapter } from './database.js';

/** Settings of the PostgreSQL backend. */
export interface PostgresDatabaseConfig {
  /** Connection URL, `postgres://user:password@host:5432/database` (PIXELPIPE_DATABASE_URL). */
  url: string;
  /** Most connections the pool opens. Default 10. */
  maxConnections?: number;
  /** Told about errors of idle connections (a server restart, a dropped network); without it they are written to stderr. */
  onError?: (error: Error) => void;
}

function transactionOf(client: pg.PoolClient): DatabaseTransaction {
  return {
    async query<Row>(text: string, values?: unknown[]) {
      return (await client.query(text, values)).rows as Row[];
    },
    async exec(sql: string) {
      await client.query(sql);
    },
    pgBossAdapter: () => ({ executeSql: async (text, values) => lastResult(await client.query(text, values)) }),
  };
}

/** A pool of connections to one PostgreSQL database; the job queue shares it. */
export class PostgresDatabase implements Database {
  /** Always `postgres`. */
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  #closed: Promise<void> | undefined;

  constructor({ url, maxConnections = 10, onError = (error) => console.error(`pixelpipe: database connection error: ${error.message}`) }: PostgresDatabaseConfig) {
    if (!/^postgres(ql)?:\/\//.test(url ?? '')) {
      throw new InvalidArgumentError({ argument: 'url', value: url, message: `database \`url\` must be a postgres:// or postgresql:// URL, got ${JSON.stringify(url)}` });
    }
    if (!Number.isInteger(maxConnections) || maxConnections < 1) {
      throw new InvalidArgumentError({ argument: 'maxConnections', value: maxConnections, message: `\`maxConnections\` must be a whole number of at least 1, got ${maxConnections}` });
    }
    this.#pool = new pg.Pool({ connectionString: url, max: maxConnections, application_name: 'pixelpipe' });
    // An idle connection that breaks emits 'error' on the pool; unhandled, that would end the process.
    this.#pool.on('error', onError);
  }

  async query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]> {
    return (await this.#pool.query(text, values)).rows as Row[];
  }

  async exec(sql: string): Promise<void> {
    // A pooled query that fails takes its connection out of the pool, so a failed `BEGIN; ...`
    // string cannot leave an aborted transaction behind for the next caller.
    await this.#pool.query(sql);
  }

  async transaction<T>(body: (transaction: DatabaseTransaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await body(transactionOf(client));
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        // A connection that cannot roll back is closed rather than handed to the next caller.
        broken = rollbackError;
      });
      throw error;
    } finally {
      client.release(broken);
    }
  }

  pgBossAdapter(): PgBossAdapter {
    return { executeSql: async (text, values) => lastResult(await this.#pool.query(text, values)) };
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end();
    return this.#closed;
  }
}
