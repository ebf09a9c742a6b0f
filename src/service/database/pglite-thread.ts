// The worker thread that holds the embedded database: PGlite runs each statement to the end without
// giving its thread back (the WebAssembly call is synchronous), so on the server's own thread every
// statement would hold every HTTP answer and worker for its whole run. Here it runs beside them.
// Statements arrive one at a time from `PGliteDatabase`, which keeps their order and transactions.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { lastResult } from './database.js';

/** Main thread → database thread. */
export type PGliteThreadRequest =
  | { id: number; op: 'query'; text: string; values?: unknown[] }
  | { id: number; op: 'exec'; sql: string }
  | { id: number; op: 'close' };

/** Database thread → main thread: the rows, or the error's fields (an Error does not cross threads with its own properties). */
export type PGliteThreadReply =
  | { id: number; rows: unknown[] }
  | { id: number; error: { message: string; name?: string; code?: string; detail?: string; hint?: string; constraint?: string; table?: string; column?: string; severity?: string } };

const port = parentPort;
if (!port) throw new Error('pglite-thread.ts runs as a worker thread of PGliteDatabase');

const { dataDir } = workerData as { dataDir?: string };
const ready = (async () => {
  const pglite = new PGlite(dataDir);
  await pglite.waitReady;
  return pglite;
})();

// Say whether it opened, so the opener learns of a failure (a damaged data directory) at once.
ready.then(
  () => port.postMessage({ id: 0, rows: [] } satisfies PGliteThreadReply),
  (error: Error) => port.postMessage({ id: 0, error: { message: error.message, name: error.name } } satisfies PGliteThreadReply),
);

port.on('message', async (request: PGliteThreadRequest) => {
  try {
    const pglite = await ready;
    let rows: unknown[] = [];
    if (request.op === 'query') rows = (await pglite.query(request.text, request.values)).rows;
    else if (request.op === 'exec') rows = lastResult(await pglite.exec(request.sql)).rows;
    else {
      await pglite.close();
      port.postMessage({ id: request.id, rows } satisfies PGliteThreadReply);
      port.close();
      return;
    }
    port.postMessage({ id: request.id, rows } satisfies PGliteThreadReply);
  } catch (caught) {
    const error = caught as Error & Record<string, string | undefined>;
    const { code, detail, hint, constraint, table, column, severity } = error;
    port.postMessage({ id: request.id, error: { message: error.message, name: error.name, code, detail, hint, constraint, table, column, severity } } satisfies PGliteThreadReply);
  }
});
