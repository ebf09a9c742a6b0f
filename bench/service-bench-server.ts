// The server side of `bench/service-bench.ts`: one image service behind real HTTP in a child process, so its memory is measured alone.
import { createHttpApp } from '../src/interfaces/http/http-app.js';
import { startHttpServer } from '../src/interfaces/http/http-server.js';
import { createDatabase, defaultDatabaseConfig } from '../src/service/database/create-database.js';
import type { Database } from '../src/service/database/database.js';
import { PGliteDatabase } from '../src/service/database/pglite-database.js';
import { createImageService } from '../src/service/image-service.js';
import { timeStatements, type QueryStats } from './query-stats.js';

/** What the benchmark asks the child to start. */
export interface BenchServerConfig {
  dataDir: string;
  /** A PostgreSQL database; embedded PGlite in `dataDir` without it. */
  databaseUrl?: string;
  workers: number;
  /** Where generations run: worker processes (the default of `pixelpipe serve`) or the server process. */
  isolation: 'process' | 'in-process';
  defaultModel: string;
  /** Base URL of the mock OpenAI API, for hosted models. */
  openaiBaseUrl?: string;
  pollingIntervalSeconds: number;
  /** Time every database statement (`--query-stats`). */
  queryStats?: boolean;
}

/** The server's memory after a forced full collection, in bytes, and the peaks seen since the previous snapshot. */
export interface MemorySnapshot {
  rss: number;
  heapUsed: number;
  /** Largest RSS and heap sampled (every 50 ms, no forced collection) since the last snapshot. */
  peakRss: number;
  peakHeapUsed: number;
  /** Errors the service reported that no request waited for, since it started. */
  serviceErrors: number;
}

/** The server's CPU time so far: every thread of the process, and how long its main thread's event loop was busy. */
export interface CpuSnapshot {
  /** Wall-clock time of the snapshot, in ms (performance.timeOrigin-based epoch). */
  at: number;
  /** User and system CPU time of the whole process (main thread, PGlite's thread, libuv's and V8's), in ms. */
  processMs: number;
  /** Time the main thread's event loop spent outside its poll for I/O (running JavaScript and native calls), in ms. */
  mainBusyMs: number;
  /** On PGlite, the time its thread spent running statements, in ms. */
  databaseBusyMs: number | undefined;
}

/** Parent → child. */
export type BenchServerRequest = { type: 'start'; config: BenchServerConfig } | { type: 'memory' } | { type: 'cpu' } | { type: 'query-stats'; reset: boolean } | { type: 'close' };

/** Child → parent. */
export type BenchServerReply =
  | { type: 'ready'; url: string; databaseKind: string }
  | { type: 'memory'; memory: MemorySnapshot }
  | { type: 'cpu'; cpu: CpuSnapshot }
  | { type: 'query-stats'; stats: QueryStats | undefined }
  | { type: 'service-error'; message: string }
  | { type: 'closed' }
  | { type: 'failed'; message: string };

const send = (reply: BenchServerReply) => process.send!(reply);

if (!process.send) throw new Error('bench/service-bench-server.ts is started by bench/service-bench.ts (it talks to it over IPC), not by hand');
const collectGarbage = (globalThis as { gc?: () => void }).gc;
if (!collectGarbage) throw new Error('bench/service-bench-server.ts needs node --expose-gc, so its memory figures follow a full collection');

let serviceErrors = 0;
let peakRss = 0;
let peakHeapUsed = 0;
// Peaks between snapshots show what a run holds while the backlog is large, which a collected snapshot after the run hides.
const sampler = setInterval(() => {
  const { rss, heapUsed } = process.memoryUsage();
  peakRss = Math.max(peakRss, rss);
  peakHeapUsed = Math.max(peakHeapUsed, heapUsed);
}, 50);
sampler.unref();

async function memorySnapshot(): Promise<MemorySnapshot> {
  // Two passes with a turn of the event loop between: the first runs finalizers whose objects the second frees.
  collectGarbage!();
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage!();
  const { rss, heapUsed } = process.memoryUsage();
  const snapshot = { rss, heapUsed, peakRss: Math.max(peakRss, rss), peakHeapUsed: Math.max(peakHeapUsed, heapUsed), serviceErrors };
  [peakRss, peakHeapUsed] = [rss, heapUsed];
  return snapshot;
}

function cpuSnapshot(): CpuSnapshot {
  const { user, system } = process.cpuUsage();
  return { at: performance.timeOrigin + performance.now(), processMs: (user + system) / 1000, mainBusyMs: performance.eventLoopUtilization().active, databaseBusyMs: database instanceof PGliteDatabase ? database.threadBusyMs() : undefined };
}

let statements: ReturnType<typeof timeStatements> | undefined;
// Opened here rather than by the service, so its statements can be timed and PGlite's thread watched.
let database: Database | undefined;

async function start(config: BenchServerConfig): Promise<() => Promise<void>> {
  database = await createDatabase(defaultDatabaseConfig({ dataDirectory: config.dataDir, url: config.databaseUrl }));
  statements = config.queryStats ? timeStatements(database) : undefined;
  const service = await createImageService({
    database: statements?.database ?? database,
    // The queue is what is measured: an image's screening, watermark and signature are `npm run bench:provenance`'s.
    settings: { dataDir: config.dataDir, databaseUrl: config.databaseUrl, moderationPolicy: 'off', watermark: false },
    workers: config.workers,
    isolation: config.isolation,
    defaultModel: config.defaultModel,
    pollingIntervalSeconds: config.pollingIntervalSeconds,
    ...(config.openaiBaseUrl ? { pixelpipe: { providers: { openai: { apiKey: 'bench-key', baseURL: config.openaiBaseUrl } } } } : {}),
    queue: { queueName: `bench-${Math.random().toString(36).slice(2, 10)}` },
    onError: (error) => {
      serviceErrors += 1;
      // The first few are enough to say what went wrong; thousands would drown the report.
      if (serviceErrors <= 5) send({ type: 'service-error', message: error.message });
    },
  });
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret }), host: '127.0.0.1', port: 0 });
  send({ type: 'ready', url: server.url, databaseKind: service.databaseKind });
  return async () => {
    await server.close();
    await service.close();
    await database?.close();
  };
}

let close: (() => Promise<void>) | undefined;
process.on('message', async (request: BenchServerRequest) => {
  try {
    if (request.type === 'start') close = await start(request.config);
    else if (request.type === 'memory') send({ type: 'memory', memory: await memorySnapshot() });
    else if (request.type === 'cpu') send({ type: 'cpu', cpu: cpuSnapshot() });
    else if (request.type === 'query-stats') {
      send({ type: 'query-stats', stats: statements?.stats() });
      if (request.reset) statements?.reset();
    }
    else if (request.type === 'close') {
      await close?.();
      send({ type: 'closed' });
      process.disconnect();
    }
  } catch (error) {
    send({ type: 'failed', message: (error as Error).stack ?? String(error) });
  }
});
// The parent going away (Ctrl-C, a crash) must not leave a server holding the database.
process.on('disconnect', () => setTimeout(() => process.exit(0), 100));
