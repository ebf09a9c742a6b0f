// `npm run bench:service`: how fast the service accepts and finishes a burst of jobs over real HTTP, what each job costs beyond
// generation, and whether the server's memory stays flat from 1,000 to 10,000 jobs. A benchmark, not a test: it asserts nothing.
//
//   node --import tsx bench/service-bench.ts [--jobs 1000,10000] [--database pglite|postgres] [--concurrency 64]
//                                            [--model openai:gpt-image-1|local] [--workers N] [--warmup 16] [--isolation process|in-process]
//                                            [--size 64 --steps 2]   (local model: the image side and steps of each job)
//                                            [--rate N]   (send N submissions/s, open loop, instead of each client's next when the last is answered)
//                                            [--query-stats]   (time every database statement in the server and print where the time went)
//                                            [--profile DIR]   (write a V8 CPU profile of each server process to DIR, for `node --cpu-prof`'s viewers)
//
// Each run gets a fresh server in a child process (node --expose-gc, so its memory is measured alone and after a full
// collection), a fresh data directory and, on PostgreSQL, a fresh database. This process is the HTTP client and, for the
// hosted model, also the mock OpenAI API, so neither the client's nor the mock's memory is in the server's figures.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { insertTextChunks } from '../src/engine/image/png.js';
import { startMockApiServer, testImage } from '../src/testing/mock-api-server.js';
import { testData } from '../src/testing/paths.js';
import { createTestDatabase } from '../src/testing/postgres.js';
import { openConnections, readJobOutcomes, send, submitJobs, waitForFinished, waitForWorkerProcesses } from './service-bench-client.js';
import { computeFigures, printRunBlock, printSummary, type RunFigures } from './service-bench-report.js';
import type { QueryStats } from './query-stats.js';
import type { BenchServerConfig, BenchServerReply, BenchServerRequest, CpuSnapshot, MemorySnapshot } from './service-bench-server.js';

const hostedModel = 'openai:gpt-image-1';
const localModel = 'local';
const databases = ['pglite', 'postgres'];

const { values } = parseArgs({
  options: {
    jobs: { type: 'string' },
    database: { type: 'string', default: 'pglite' },
    concurrency: { type: 'string', default: '64' },
    model: { type: 'string', default: hostedModel },
    workers: { type: 'string' },
    warmup: { type: 'string', default: '16' },
    isolation: { type: 'string', default: 'process' },
    size: { type: 'string', default: '64' },
    steps: { type: 'string', default: '2' },
    profile: { type: 'string' },
    'query-stats': { type: 'boolean', default: false },
    rate: { type: 'string' },
  },
});

function wholeNumber(option: string, text: string, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`\`--${option}\` must be a whole number of at least ${min}, got ${JSON.stringify(text)}`);
  return value;
}

if (!databases.includes(values.database!)) throw new Error(`\`--database\` must be one of ${databases.join(', ')}, got ${JSON.stringify(values.database)}`);
if (values.model !== hostedModel && values.model !== localModel) throw new Error(`\`--model\` must be ${hostedModel} (answered by a local mock API) or ${localModel} (the tiny engine fixture), got ${JSON.stringify(values.model)}`);
const isLocal = values.model === localModel;
if (values.isolation !== 'process' && values.isolation !== 'in-process') throw new Error(`\`--isolation\` must be process or in-process, got ${JSON.stringify(values.isolation)}`);
const isolation = values.isolation;
// The tiny engine runs on the CPU the server shares with everything else, so it gets fewer jobs and one worker, as `pixelpipe serve` has.
const jobCounts = (values.jobs ?? (isLocal ? '100,1000' : '1000,10000')).split(',').map((text) => wholeNumber('jobs', text.trim(), 1));
const concurrency = wholeNumber('concurrency', values.concurrency!, 1);
const rate = values.rate === undefined ? undefined : wholeNumber('rate', values.rate, 1);
const workers = wholeNumber('workers', values.workers ?? (isLocal ? '1' : '8'), 1);
const warmupJobs = wholeNumber('warmup', values.warmup!, 0);
const serverDatabaseUrl = process.env.PIXELPIPE_DATABASE_URL;
if (values.database === 'postgres' && !serverDatabaseUrl) {
  throw new Error('`--database postgres` needs PIXELPIPE_DATABASE_URL, the URL of a server whose role may CREATE DATABASE (e.g. postgres://pixelpipe:pixelpipe@127.0.0.1:5432/pixelpipe_test); each run makes its own database there and drops it after');
}

/** The server child, spoken to one request at a time. */
interface ServerProcess {
  url: string;
  databaseKind: string;
  memory(): Promise<MemorySnapshot>;
  cpu(): Promise<CpuSnapshot>;
  queryStats(reset: boolean): Promise<QueryStats | undefined>;
  close(): Promise<void>;
}

async function startServer(config: BenchServerConfig): Promise<ServerProcess> {
  // The child must not find a database URL in its environment: on PGlite runs it would silently win.
  const { PIXELPIPE_DATABASE_URL: _ignored, ...environment } = process.env;
  const child: ChildProcess = fork(join(import.meta.dirname, 'service-bench-server.ts'), [], { execArgv: ['--import', 'tsx', '--expose-gc', ...(values.profile ? ['--cpu-prof', `--cpu-prof-dir=${values.profile}`] : [])], env: environment, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: { type: BenchServerReply['type']; resolve: (reply: BenchServerReply) => void; reject: (error: Error) => void }[] = [];
  child.on('message', (reply: BenchServerReply) => {
    if (reply.type === 'service-error') return console.error(`server reported: ${reply.message}`);
    const next = waiting.shift();
    if (reply.type === 'failed') next?.reject(new Error(`the server child failed: ${reply.message}`));
    else if (next?.type === reply.type) next.resolve(reply);
    else next?.reject(new Error(`the server child answered ${reply.type} where ${next.type} was expected`));
  });
  child.on('exit', (code, signal) => {
    for (const next of waiting.splice(0)) next.reject(new Error(`the server child exited (code ${code}, signal ${signal}) before answering ${next.type}`));
  });
  const ask = <T extends BenchServerReply['type']>(request: BenchServerRequest, type: T) =>
    new Promise<Extract<BenchServerReply, { type: T }>>((resolve, reject) => {
      waiting.push({ type, resolve: resolve as (reply: BenchServerReply) => void, reject });
      child.send(request);
    });
  const ready = await ask({ type: 'start', config }, 'ready');
  return {
    url: ready.url,
    databaseKind: ready.databaseKind,
    memory: async () => (await ask({ type: 'memory' }, 'memory')).memory,
    cpu: async () => (await ask({ type: 'cpu' }, 'cpu')).cpu,
    queryStats: async (reset) => (await ask({ type: 'query-stats', reset }, 'query-stats')).stats,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await ask({ type: 'close' }, 'closed');
      await exited;
    },
  };
}

/** A hosted-model mock that answers every generation with a small PNG made distinct by a text chunk, so no two jobs share a blob. */
async function startMockOpenAi(): Promise<{ baseUrl: string; close: () => Promise<void> }> {
  const api = await startMockApiServer();
  const png = Buffer.from(await testImage('png', 16, 16));
  api.route('POST', '/v1/images/generations', (_request, hit) => ({
    json: { created: 1, data: [{ b64_json: insertTextChunks(png, [{ keyword: 'bench-job', text: String(hit) }]).toString('base64') }] },
  }));
  return { baseUrl: `${api.url}/v1`, close: () => api.close() };
}

// The server's version and JIT setting, as the service's own connections see them (PGOPTIONS included): JIT decides how fast jobs are claimed.
async function describePostgres(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string; jit: string }>("SELECT current_setting('server_version') AS version, current_setting('jit') AS jit");
    return `PostgreSQL ${rows[0]!.version.split(' ')[0]} (jit ${rows[0]!.jit})`;
  } finally {
    await client.end();
  }
}

/** Probes GET /healthz every `intervalMs` on a connection of its own (not queued behind the submissions) until stopped; gives the latencies. */
function probeHealth(url: string, intervalMs = 100): { stop: () => Promise<{ sentAt: number; latencyMs: number }[]> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: { sentAt: number; latencyMs: number }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const [sentAt, started] = [Date.now(), performance.now()];
      await send(`${url}/healthz`, { via: agent });
      latencies.push({ sentAt, latencyMs: performance.now() - started });
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      agent.destroy();
      return latencies;
    },
  };
}

const localSize = wholeNumber('size', values.size!, 64);
const localSteps = wholeNumber('steps', values.steps!, 1);
const requestBody = (index: number) => (isLocal ? { prompt: `bench job ${index}`, width: localSize, height: localSize, steps: localSteps } : { prompt: `bench job ${index}` });

// Where the database's time went during the run (warm-up excluded): the statements that took the most, per job and per run.
function printQueryStats({ statements, transactions, transactionTimes, elapsedMs }: QueryStats, jobs: number, databaseKind: string): void {
  const total = statements.reduce((sum, statement) => sum + statement.totalMs, 0);
  console.log(`database statements during the run: ${statements.reduce((sum, statement) => sum + statement.count, 0).toLocaleString('en-US')} in ${transactions.toLocaleString('en-US')} transactions, ${(total / 1000).toFixed(2)} s in all (${(total / jobs).toFixed(2)} ms per job)`);
  console.log('     count   total ms  mean ms  statement');
  for (const statement of statements.slice(0, 15)) {
    console.log(`${statement.count.toLocaleString('en-US').padStart(10)} ${statement.totalMs.toFixed(0).padStart(10)} ${(statement.totalMs / statement.count).toFixed(2).padStart(8)}  ${statement.sql.slice(0, 110)}`);
  }
  // On PGlite's one connection the sum says how busy it was (a little over: the next may take it once a COMMIT is sent).
  const held = transactionTimes.reduce((sum, transaction) => sum + transaction.totalMs, 0);
  const share = databaseKind === 'pglite' ? `; on PGlite's one connection that is ${((100 * held) / elapsedMs).toFixed(0)}% of the ${(elapsedMs / 1000).toFixed(1)} s run` : '';
  console.log(`transactions by their first statement, from taking the connection to the commit's answer: ${(held / 1000).toFixed(2)} s in all${share}`);
  console.log('     count   total ms  mean ms  first statement');
  for (const transaction of transactionTimes.slice(0, 8)) {
    console.log(`${transaction.count.toLocaleString('en-US').padStart(10)} ${transaction.totalMs.toFixed(0).padStart(10)} ${(transaction.totalMs / transaction.count).toFixed(2).padStart(8)}  ${transaction.firstSql.slice(0, 110)}`);
  }
}

async function runOnce(jobs: number): Promise<RunFigures> {
  // Undone in reverse order whatever happens, so a failed run leaves no database, directory or child behind.
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-service-bench-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    let databaseUrl: string | undefined;
    let databaseDetail = 'PGlite (embedded)';
    if (values.database === 'postgres') {
      const database = await createTestDatabase(serverDatabaseUrl!);
      cleanups.push(() => database.drop());
      databaseUrl = database.url;
      databaseDetail = await describePostgres(databaseUrl);
    }
    const mock = isLocal ? undefined : await startMockOpenAi();
    if (mock) cleanups.push(() => mock.close());
    const server = await startServer({ dataDir, databaseUrl, workers, isolation, defaultModel: isLocal ? testData('fixtures', 'tiny-sd15') : hostedModel, openaiBaseUrl: mock?.baseUrl, pollingIntervalSeconds: 1, queryStats: values['query-stats'] });
    cleanups.push(() => server.close());
    await waitForWorkerProcesses(server.url);

    const start = await server.memory();
    // A few jobs first, so lazily loaded code and first-query plans are paid before the figures start.
    const warmup = await submitJobs(server.url, { count: warmupJobs, concurrency, body: requestBody });
    await waitForFinished(server.url, { target: () => warmup.filter((submission) => submission.status === 202).length });
    const warmedUp = await server.memory();
    await server.queryStats(true);

    await openConnections(server.url, concurrency);
    let target: number | undefined;
    const watching = waitForFinished(server.url, { target: () => target });
    // Its failure is reported when it is awaited below; until then it must not count as unhandled.
    watching.catch(() => undefined);
    const health = probeHealth(server.url);
    const cpuAtStart = await server.cpu();
    const submissions = await submitJobs(server.url, { count: jobs, concurrency, body: requestBody, firstIndex: warmupJobs, rate });
    const cpuAtLastAnswer = await server.cpu();
    const ids = submissions.flatMap((submission) => (submission.id ? [submission.id] : []));
    target = warmup.filter((submission) => submission.status === 202).length + ids.length;
    const watch = await watching;
    const cpuAtEnd = await server.cpu();
    const healthz = await health.stop();
    const after = await server.memory();
    const statements = await server.queryStats(false);
    if (statements) printQueryStats(statements, ids.length, server.databaseKind);

    const readStarted = performance.now();
    const outcomes = await readJobOutcomes(server.url, ids, concurrency);
    const readBackSeconds = (performance.now() - readStarted) / 1000;
    const database = server.databaseKind === 'pglite' ? 'PGlite' : server.databaseKind === 'postgres' ? 'Postgres' : server.databaseKind;
    const model = `${isLocal ? `local tiny-sd15 ${localSize}×${localSize}, ${localSteps} steps` : `${hostedModel} (local mock API)`}, ${isolation === 'process' ? 'worker processes' : 'workers in the server process'}`;
    return computeFigures({ database, databaseDetail, model, workers, concurrency, warmupJobs, submissions, outcomes, watch, readBackSeconds, memory: { start, warmedUp, after }, cpu: [cpuAtStart, cpuAtLastAnswer, cpuAtEnd], healthz });
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch((error: Error) => console.error(`cleanup failed: ${error.message}`));
  }
}

// Figures go into release notes, so they say which code they measured.
function describeCheckout(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: import.meta.dirname, encoding: 'utf8' }).trim();
    return `commit ${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? ' with uncommitted changes' : ''}`;
  } catch {
    return 'not a git checkout';
  }
}

const processor = cpus();
console.log(`pixelpipe service benchmark: ${describeCheckout()}; node ${process.version}, ${processor.length} × ${processor[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB`);
console.log(`server: a child process per run (node --expose-gc, HTTP on 127.0.0.1); client (fetch; ${concurrency} keep-alive connections opened before the clock starts, ${rate === undefined ? `${concurrency} requests in flight, each sent when one is answered` : `${rate} submissions/s sent on schedule (open loop), at most ${concurrency} in flight; latency counts from each one's scheduled time`})${isLocal ? '' : ' and mock OpenAI API'} in this process`);
console.log('completion: /metrics finished-jobs counter polled every 250 ms; per-job times from the database timestamps (startedAt, finishedAt: the start of the');
console.log('  claiming and of the settling transaction, so the settling transaction\'s own time is not in them) read back after the run;');
console.log('  generation time = the record\'s timings.total (the provider\'s own clock around its call); queue overhead = finishedAt − client send time − generation');
const results: RunFigures[] = [];
for (const jobs of jobCounts) {
  const figures = await runOnce(jobs);
  printRunBlock(figures);
  results.push(figures);
}
printSummary(results);
