// The scaled-out backend: a pool of connections to a PostgreSQL server that servers and workers share.
import pg from 'pg';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { DatabaseConnectionError } from '../errors/database-connection-error.js';
import { lastResult, type Database, type DatabaseTransaction, type PgBossAdapter } from './database.js';

/** Settings of the PostgreSQL backend. */
export interface PostgresDatabaseConfig {
  /** Connection URL, `postgres://user:password@host:5432/database` (PIXELPIPE_DATABASE_URL). */
  url: string;
  /** Most connections the pool opens. Default 10. */
  maxConnections?: number;
  /** Told about errors of idle connections (a server restart, a dropped network); without it they are written to stderr. */
  onError?: (error: Error) => void;
  /** Where `url` came from, named when the server cannot be reached. Default `PIXELPIPE_DATABASE_URL`. */
  setting?: string;
}

/** `url` with its password replaced by `***`, for messages. */
export function hidePassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

const unreachableCodes: Record<string, string> = {
  ECONNREFUSED: 'the connection to {server} was refused (is PostgreSQL running there?)',
  ECONNRESET: 'the connection to {server} was closed before the server answered',
  ETIMEDOUT: 'no answer from {server} (the connection timed out)',
  EHOSTUNREACH: '{server} cannot be reached from this machine',
  ENETUNREACH: '{server} cannot be reached from this machine',
  ENOTFOUND: 'the host {host} was not found',
  EAI_AGAIN: 'the host {host} could not be looked up (DNS did not answer)',
};

/** The `DatabaseConnectionError` a failure to open the first connection means, or undefined for any other error. */
export function connectionFailure(error: unknown, { url, setting }: { url: string; setting: string }): DatabaseConnectionError | undefined {
  const details = error as { code?: string; message?: string; errors?: { code?: string }[] } | undefined;
  // With several addresses for a host (localhost: ::1 and 127.0.0.1) Node reports an AggregateError, whose first error says why.
  const code = details?.code ?? details?.errors?.[0]?.code;
  const message = details?.message ?? '';
  const shown = hidePassword(url);
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    parsed = undefined;
  }
  const host = parsed?.hostname || 'localhost';
  const server = `${host}:${parsed?.port || 5432}`;
  const database = decodeURIComponent(parsed?.pathname.slice(1) ?? '') || 'of the user name';
  if (code !== undefined && code in unreachableCodes) {
    const reason = unreachableCodes[code]!.replace('{server}', server).replace('{host}', host);
    return new DatabaseConnectionError({ failure: 'unreachable', setting, url: shown, reason, fix: `start the server, or set ${setting} to the URL of one that runs`, cause: error });
  }
  if (/timeout expired|connection timeout/i.test(message)) {
    return new DatabaseConnectionError({ failure: 'unreachable', setting, url: shown, reason: `no answer from ${server} (the connection timed out)`, fix: `start the server, or set ${setting} to the URL of one that runs`, cause: error });
  }
  // 28P01: wrong password; 28000: unknown role or no pg_hba.conf entry; the SASL error: the URL has no password but the server asks for one.
  if (code === '28P01' || code === '28000' || /^SASL: .*password must be a string/.test(message)) {
    const reason = code === undefined ? 'the server asks for a password and the URL has none' : `the server refused the login (${message})`;
    return new DatabaseConnectionError({ failure: 'authentication', setting, url: shown, reason, fix: `put a user and password the server accepts in ${setting} (postgres://USER:PASSWORD@HOST:PORT/DATABASE)`, cause: error });
  }
  if (code === '3D000') {
    return new DatabaseConnectionError({ failure: 'database-missing', setting, url: shown, reason: `the server has no database ${JSON.stringify(database)} (${message})`, fix: `create it (\`createdb ${database}\`) or name an existing database in ${setting}`, cause: error });
  }
  return undefined;
}

function transactionOf(client: pg.PoolClient, committed: (() => void)[]): DatabaseTransaction {
  return {
    async query<Row>(text: string, values?: unknown[]) {
      return (await client.query(text, values)).rows as Row[];
    },
    async exec(sql: string) {
      await client.query(sql);
    },
    pgBossAdapter: () => ({ executeSql: async (text, values) => lastResult(await client.query(text, values)) }),
    afterCommit: (callback) => void committed.push(callback),
  };
}

/** A pool of connections to one PostgreSQL database; the job queue shares it. */
export class PostgresDatabase implements Database {
  /** Always `postgres`. */
  readonly kind = 'postgres' as const;
  readonly #pool: pg.Pool;
  #closed: Promise<void> | undefined;
  /** Until one connection has opened, a failure to connect says what is wrong with the URL; later ones (a restart) pass through as the driver gives them. */
  #connected = false;
  readonly #translate: (error: unknown) => never;

  constructor({ url, maxConnections = 10, onError = (error) => console.error(`pixelpipe: database connection error: ${error.message}`), setting = 'PIXELPIPE_DATABASE_URL' }: PostgresDatabaseConfig) {
    if (!/^postgres(ql)?:\/\//.test(url ?? '')) {
      throw new InvalidArgumentError({ argument: 'url', value: url, message: `database \`url\` must be a postgres:// or postgresql:// URL, got ${JSON.stringify(url)}` });
    }
    if (!Number.isInteger(maxConnections) || maxConnections < 1) {
      throw new InvalidArgumentError({ argument: 'maxConnections', value: maxConnections, message: `\`maxConnections\` must be a whole number of at least 1, got ${maxConnections}` });
    }
    this.#pool = new pg.Pool({ connectionString: url, max: maxConnections, application_name: 'pixelpipe' });
    // An idle connection that breaks emits 'error' on the pool; unhandled, that would end the process.
    this.#pool.on('error', onError);
    this.#pool.on('connect', () => (this.#connected = true));
    this.#translate = (error) => {
      throw (this.#connected ? undefined : connectionFailure(error, { url, setting })) ?? error;
    };
  }

  async query<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]> {
    return (await this.#pool.query(text, values).catch(this.#translate)).rows as Row[];
  }

  async exec(sql: string): Promise<void> {
    // A pooled query that fails takes its connection out of the pool, so a failed `BEGIN; ...`
    // string cannot leave an aborted transaction behind for the next caller.
    await this.#pool.query(sql).catch(this.#translate);
  }

  async transaction<T>(body: (transaction: DatabaseTransaction) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect().catch(this.#translate);
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const committed: (() => void)[] = [];
      const result = await body(transactionOf(client, committed));
      await client.query('COMMIT');
      for (const callback of committed) callback();
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
    return { executeSql: async (text, values) => lastResult(await this.#pool.query(text, values).catch(this.#translate)) };
  }

  close(): Promise<void> {
    this.#closed ??= this.#pool.end();
    return this.#closed;
  }
}
