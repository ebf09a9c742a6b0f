// For `bench/service-bench.ts --query-stats`: a Database that times every statement it runs, so the report can say which
// statements the database's time goes to (on PGlite, the server's own thread runs them, one at a time).
import type { Database, DatabaseTransaction, PgBossAdapter, Queryable } from '../src/service/database/database.js';

/** Time and count per statement (whitespace folded, first 140 characters), and transactions begun. */
export interface QueryStats {
  statements: { sql: string; count: number; totalMs: number }[];
  transactions: number;
  /** Transactions by their first statement: time from their callback's start (the connection taken, on PGlite) to the commit's answer. */
  transactionTimes: { firstSql: string; count: number; totalMs: number }[];
  /** Milliseconds since the last reset. */
  elapsedMs: number;
}

/**
 * Wraps `database`; `stats()` gives what ran since the last `reset()`. On PGlite a statement's time is
 * its own (from the end of the one before it, BEGIN and COMMIT included in the next one's); on
 * PostgreSQL, from call to answer.
 */
export function timeStatements(database: Database): { database: Database; stats: () => QueryStats; reset: () => void } {
  let byText = new Map<string, { count: number; totalMs: number }>();
  let byFirst = new Map<string, { count: number; totalMs: number }>();
  let transactions = 0;
  let resetAt = performance.now();
  const fold = (text: string) => text.replace(/\s+/g, ' ').trim().slice(0, 140);
  const add = (map: Map<string, { count: number; totalMs: number }>, key: string, ms: number) => {
    const entry = map.get(key) ?? { count: 0, totalMs: 0 };
    entry.count += 1;
    entry.totalMs += ms;
    map.set(key, entry);
  };
  // PGlite runs one statement at a time, so a statement's own time starts when the one before it
  // ended, not when it was called (it waited in line until then); a server runs them side by side.
  const serial = database.kind === 'pglite';
  let lastEnd = 0;
  const timed = async <T>(text: string, run: () => Promise<T>): Promise<T> => {
    const called = performance.now();
    try {
      return await run();
    } finally {
      const ended = performance.now();
      add(byText, fold(text), ended - (serial ? Math.max(called, lastEnd) : called));
      lastEnd = ended;
    }
  };
  // `sent` hears every statement's text before it runs: a transaction is known by its first.
  const queryable = <Q extends Queryable>(inner: Q, sent = (_text: string) => {}): Queryable => ({
    query: (text, values) => (sent(text), timed(text, () => inner.query(text, values))),
    exec: (sql) => (sent(sql), timed(sql, () => inner.exec(sql))),
  });
  const adapter = (inner: PgBossAdapter, sent = (_text: string) => {}): PgBossAdapter => ({ executeSql: (text, values) => (sent(text), timed(text, () => inner.executeSql(text, values))) });
  const wrapped: Database = {
    kind: database.kind,
    ...queryable(database),
    transaction: async (body) => {
      transactions += 1;
      let started = 0;
      let first: string | undefined;
      const sent = (text: string) => {
        first ??= fold(text);
      };
      try {
        return await database.transaction((transaction: DatabaseTransaction) => {
          started = performance.now();
          return body({ ...queryable(transaction, sent), pgBossAdapter: () => adapter(transaction.pgBossAdapter(), sent), afterCommit: (callback) => transaction.afterCommit(callback) });
        });
      } finally {
        if (started) add(byFirst, first ?? '(no statement)', performance.now() - started);
      }
    },
    pgBossAdapter: () => {
      const inner = database.pgBossAdapter();
      return inner && adapter(inner);
    },
    close: () => database.close(),
  };
  return {
    database: wrapped,
    stats: () => ({
      statements: [...byText].map(([sql, entry]) => ({ sql, ...entry })).sort((a, b) => b.totalMs - a.totalMs),
      transactions,
      transactionTimes: [...byFirst].map(([firstSql, entry]) => ({ firstSql, ...entry })).sort((a, b) => b.totalMs - a.totalMs),
      elapsedMs: performance.now() - resetAt,
    }),
    reset: () => {
      byText = new Map();
      byFirst = new Map();
      transactions = 0;
      resetAt = performance.now();
    },
  };
}
