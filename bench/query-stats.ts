// For `bench/service-bench.ts --query-stats`: a Database that times every statement it runs, so the report can say which
// statements the database's time goes to (on PGlite, the server's own thread runs them, one at a time).
import type { Database, DatabaseTransaction, PgBossAdapter, Queryable } from '../src/service/database/database.js';

/** Time and count per statement (whitespace folded, first 140 characters), and transactions begun. */
export interface QueryStats {
  statements: { sql: string; count: number; totalMs: number }[];
  transactions: number;
}

/**
 * Wraps `database`; `stats()` gives what ran since the last `reset()`. On PGlite a statement's time is
 * its own (from the end of the one before it, BEGIN and COMMIT included in the next one's); on
 * PostgreSQL, from call to answer.
 */
export function timeStatements(database: Database): { database: Database; stats: () => QueryStats; reset: () => void } {
  let byText = new Map<string, { count: number; totalMs: number }>();
  let transactions = 0;
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
      const key = text.replace(/\s+/g, ' ').trim().slice(0, 140);
      const entry = byText.get(key) ?? { count: 0, totalMs: 0 };
      entry.count += 1;
      entry.totalMs += ended - (serial ? Math.max(called, lastEnd) : called);
      lastEnd = ended;
      byText.set(key, entry);
    }
  };
  const queryable = <Q extends Queryable>(inner: Q): Queryable => ({
    query: (text, values) => timed(text, () => inner.query(text, values)),
    exec: (sql) => timed(sql, () => inner.exec(sql)),
  });
  const adapter = (inner: PgBossAdapter): PgBossAdapter => ({ executeSql: (text, values) => timed(text, () => inner.executeSql(text, values)) });
  const wrapped: Database = {
    kind: database.kind,
    ...queryable(database),
    transaction: (body) => {
      transactions += 1;
      return database.transaction((transaction: DatabaseTransaction) => body({ ...queryable(transaction), pgBossAdapter: () => adapter(transaction.pgBossAdapter()) }));
    },
    pgBossAdapter: () => {
      const inner = database.pgBossAdapter();
      return inner && adapter(inner);
    },
    close: () => database.close(),
  };
  return {
    database: wrapped,
    stats: () => ({ statements: [...byText].map(([sql, entry]) => ({ sql, ...entry })).sort((a, b) => b.totalMs - a.totalMs), transactions }),
    reset: () => {
      byText = new Map();
      transactions = 0;
    },
  };
}
