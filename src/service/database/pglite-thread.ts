// The worker thread that holds the embedded database: PGlite runs each statement to the end without
// giving its thread back (the WebAssembly call is synchronous), so on the server's own thread every
// statement would hold every HTTP answer and worker for its whole run. Here it runs beside them.
// Statements arrive from `PGliteDatabase`, which keeps their transactions together, and run here one
// after another in the order they came: a transaction may send several before the first is answered.
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, parse, protocol } from '@electric-sql/pglite';
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

if (!parentPort) throw new Error('pglite-thread.ts runs as a worker thread of PGliteDatabase');
const port = parentPort;

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

/**
 * Statements with parameters run as named prepared statements, parsed and described once per text.
 *
 * Why by hand: `PGlite.query` parses, describes and plans every statement anew, in five calls into
 * the WebAssembly. The service sends the same few dozen texts over and over, so each is parsed and
 * described once, and a run is one call: bind, describe, execute and sync. After five runs Postgres may keep a generic plan; the job claim, whose best plan depends on the
 * queue's length, asks for a plan per run itself (job-claim.ts). PGlite offers no statement cache;
 * its protocol serializer and result parser are what `query` itself uses.
 */
class PreparedStatements {
  readonly #pglite: PGlite;
  readonly #byText = new Map<string, { name: string; paramTypes: number[] }>();
  readonly #limit: number;
  #made = 0;

  constructor(pglite: PGlite, limit = 500) {
    this.#pglite = pglite;
    this.#limit = limit;
  }

  async query(text: string, values: unknown[]): Promise<unknown[]> {
    try {
      return await this.#run(await this.#statement(text), values);
    } catch (error) {
      // A prepared `SELECT *` refuses to run once its table's columns changed (a migration in this
      // process); made again, it describes the new columns.
      if ((error as { code?: string }).code !== '0A000' || !/cached plan/.test((error as Error).message)) throw error;
      await this.#forget(text);
      return this.#run(await this.#statement(text), values);
    }
  }

  async #statement(text: string): Promise<{ name: string; paramTypes: number[] }> {
    const known = this.#byText.get(text);
    if (known) {
      // Most recently used last, so the oldest is the one let go at the limit.
      this.#byText.delete(text);
      this.#byText.set(text, known);
      return known;
    }
    if (this.#byText.size >= this.#limit) await this.#forget(this.#byText.keys().next().value!);
    const name = `pixelpipe_${++this.#made}`;
    const { serialize } = protocol;
    const { messages } = await this.#pglite.execProtocol(Buffer.concat([serialize.parse({ name, text }), serialize.describe({ type: 'S', name }), serialize.sync()]));
    const parameters = messages.find((message) => message.name === 'parameterDescription') as { dataTypeIDs: number[] } | undefined;
    const statement = { name, paramTypes: parameters?.dataTypeIDs ?? [] };
    this.#byText.set(text, statement);
    return statement;
  }

  async #run({ name, paramTypes }: { name: string; paramTypes: number[] }, values: unknown[]): Promise<unknown[]> {
    const { serializers, parsers } = this.#pglite;
    // As `PGlite.query` does: a null stays null, a value is written by its parameter type's serializer.
    const texts = values.map((value, index) => {
      if (value === null || value === undefined) return null;
      const serializer = serializers[paramTypes[index]!];
      return serializer ? serializer(value) : String(value);
    });
    const { serialize } = protocol;
    const { messages } = await this.#pglite.execProtocol(Buffer.concat([serialize.bind({ statement: name, values: texts }), serialize.describe({ type: 'P' }), serialize.execute({}), serialize.sync()]));
    return parse.parseResults(messages, parsers)[0]?.rows ?? [];
  }

  async #forget(text: string): Promise<void> {
    const statement = this.#byText.get(text);
    if (!statement) return;
    this.#byText.delete(text);
    const { serialize } = protocol;
    await this.#pglite.execProtocol(Buffer.concat([serialize.close({ type: 'S', name: statement.name }), serialize.sync()]));
  }
}

const prepared = ready.then((pglite) => new PreparedStatements(pglite));

// One message at a time, in arrival order. A run takes several calls into PGlite (a statement not yet
// prepared is parsed first) and PGlite locks each call alone, so the order of a transaction's
// statements must not rest on each run ending before the next message is taken.
let running: Promise<void> = Promise.resolve();
port.on('message', (request: PGliteThreadRequest) => {
  running = running.then(() => answer(request));
});

async function answer(request: PGliteThreadRequest): Promise<void> {
  try {
    const pglite = await ready;
    let rows: unknown[] = [];
    if (request.op === 'query') rows = request.values?.length ? await (await prepared).query(request.text, request.values) : (await pglite.query(request.text)).rows;
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
}
