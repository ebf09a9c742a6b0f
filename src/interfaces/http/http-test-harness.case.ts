// Test helpers for the HTTP layer: the app on a real socket over the real service (PGlite or PostgreSQL, the test model as its default), SSE parsing, test images.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { deflateSync, crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { Settings } from '../../config/settings.js';
import { createDatabase, defaultDatabaseConfig } from '../../service/database/create-database.js';
import type { Database } from '../../service/database/database.js';
import type { ApiKeyInfo, JobView, ServiceLimits, SubmitJobOptions } from '../../service/image-service-types.js';
import { createImageService, type RunningImageService } from '../../service/image-service.js';
import type { PixelpipeOptions } from '../../service/pixelpipe.js';
import { createTestDatabase, testDatabaseUrl, type TestDatabase } from '../../testing/postgres.js';
import { testModel, testModelProviderModule, testModelProviderName } from '../../testing/test-model-provider.js';
import { createHttpApp } from './http-app.js';
import type { HttpAppOptions } from './http-env.js';
import type { HttpErrorBody } from './http-error.js';
import { startHttpServer, type HttpServer } from './http-server.js';

/** The service's default model: the test model, which finishes at once unless a test holds it (see `testModel`). */
export const testModelId = `${testModelProviderName}:tiny`;

/** Which database a suite's service runs on. */
export interface DatabaseCase {
  name: string;
  /** The service's database URL (none: PGlite in its data directory); undefined when this test is not to run (no PostgreSQL server outside CI). */
  settings(t: TestContext): Promise<{ databaseUrl?: string } | undefined>;
}

/** Embedded PGlite in the service's temporary data directory, as `pixelpipe serve` runs by default. */
export const pgliteCase: DatabaseCase = { name: 'PGlite', settings: async () => ({}) };

/** A fresh database on the PostgreSQL server PIXELPIPE_TEST_DATABASE_URL names, made on first use; `drop` it when the file's tests are done. */
export function postgresCase(): DatabaseCase & { drop(): Promise<void> } {
  let created: Promise<TestDatabase> | undefined;
  return {
    name: 'PostgreSQL',
    async settings(t) {
      const serverUrl = testDatabaseUrl(t);
      if (!serverUrl) return undefined;
      return { databaseUrl: (await (created ??= createTestDatabase(serverUrl))).url };
    },
    drop: async () => void (await (await created)?.drop()),
  };
}

/** Options of `startTestService`. */
export interface TestServiceOptions {
  /** A PostgreSQL database; PGlite in the temporary data directory when absent. */
  databaseUrl?: string;
  limits?: Partial<ServiceLimits>;
  /** Generator options besides the test model's module (hosted providers' settings). */
  pixelpipe?: PixelpipeOptions;
  /** Local model folders for the catalog, besides the test model. */
  models?: string[];
  /** Settings besides the data directory, cache and database (signing keys, moderation policy). */
  settings?: Partial<Settings>;
}

/** The real service of a test file or suite, and its levers. */
export interface TestService {
  service: RunningImageService;
  /** While down, the database's statements fail as they would with its server unreachable. */
  setDatabaseDown(down: boolean): void;
  /** Closes the service (failing any call of the test model still held) and removes its data. */
  close(): Promise<void>;
}

/** A database whose statements fail while `isDown()` says so; pg-boss's own statements go on, so the queue survives the outage. */
function withOutage(database: Database, isDown: () => boolean): Database {
  const refuse = () => Promise.reject(new Error('connect ECONNREFUSED: the test took the database down'));
  return {
    kind: database.kind,
    query: (text, values) => (isDown() ? refuse() : database.query(text, values)),
    exec: (sql) => (isDown() ? refuse() : database.exec(sql)),
    transaction: (body) => (isDown() ? refuse() : database.transaction(body)),
    pgBossAdapter: () => database.pgBossAdapter(),
    close: () => database.close(),
  };
}

/** Starts the real service in a temporary data directory, the test model as its default model (its jobs run in this process, in the test-model provider's lane). */
export async function startTestService({ databaseUrl, limits, pixelpipe, models, settings }: TestServiceOptions = {}): Promise<TestService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pixelpipe-http-'));
  // The database the service would open for these settings, opened here so a test can take it down.
  const opened = await createDatabase(defaultDatabaseConfig({ dataDirectory: dataDir, url: databaseUrl }));
  let down = false;
  let service: RunningImageService;
  try {
    service = await createImageService({
      // Its own model cache, so the catalog lists only what the test gives.
      settings: { ...settings, dataDir, cacheDir: join(dataDir, 'models'), databaseUrl },
      database: withOutage(opened, () => down),
      isolation: 'in-process',
      workers: 1,
      defaultModel: testModelId,
      models,
      limits,
      pixelpipe: { ...pixelpipe, providerModules: [testModelProviderModule] },
      pollingIntervalSeconds: 0.2,
      queue: { retryDelaySeconds: 0, retryBackoff: false, cancellationCheckMs: 50 },
    });
  } catch (error) {
    await opened.close();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  return {
    service,
    setDatabaseDown: (value) => void (down = value),
    async close() {
      down = false;
      // A held call would keep the worker's graceful stop waiting for it.
      testModel.reset();
      await service.close();
      await opened.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One real service for the tests of a suite, made by the first test that runs (none when the database case skips them); `close` it in `after`. */
export function sharedTestService(databaseCase: DatabaseCase, options: TestServiceOptions = {}) {
  let started: Promise<TestService> | undefined;
  /** The service for this test, or undefined when the database case says the test is not to run. */
  async function get(t: TestContext): Promise<TestService | undefined> {
    const settings = await databaseCase.settings(t);
    if (!settings) return undefined;
    return await (started ??= startTestService({ ...options, ...settings }));
  }
  return {
    get,
    /** `startTestServer` over the shared service; undefined when the test is not to run. */
    async startServer(t: TestContext, appOptions: Partial<HttpAppOptions> = {}): Promise<TestServer | undefined> {
      const testService = await get(t);
      return testService && (await startTestServer(t, testService, appOptions));
    },
    async close(): Promise<void> {
      await (await started)?.close();
    },
  };
}

/** One submit the test's app made. */
export interface Submission {
  request: unknown;
  options: SubmitJobOptions;
  /** The job's id, once the submit succeeded. */
  jobId?: string;
}

/** The app of one test on its own socket, over a shared real service. */
export interface TestServer {
  /** The real service as this test's app sees it: an object of its own (prototype: the service), so a test may wrap a method without touching other tests. */
  service: RunningImageService;
  server: HttpServer;
  url: string;
  /** Every submit this test's app made, in order. */
  submissions: Submission[];
  /** fetch against the server; `path` starts with `/`. */
  request(path: string, init?: RequestInit): Promise<Response>;
  /** POSTs JSON and gives back the response with its parsed body. */
  postJson(path: string, body: unknown, headers?: Record<string, string>): Promise<{ response: Response; body: any }>;
  /** Creates an API key (revoked when the test ends, so later tests' apps start without keys) and gives back its secret. */
  addKey(options?: { revoked?: boolean; rateLimitPerMinute?: number; dailyImageQuota?: number; maxConcurrentJobs?: number; admin?: boolean }): Promise<{ key: ApiKeyInfo; secret: string }>;
  /** Lets a held job's call of the test model finish (waiting for it to start) and gives back the finished job; a job not held is just waited for. */
  completeJob(id: string): Promise<JobView>;
}

const finalStates = new Set(['succeeded', 'failed', 'cancelled']);

/**
 * Starts the app over `testService` on a free port. When the test ends, the server closes, jobs the
 * test submitted that have not finished are cancelled, the test model finishes at once again and
 * the test's keys are revoked.
 */
export async function startTestServer(t: TestContext, testService: TestService, appOptions: Partial<HttpAppOptions> = {}): Promise<TestServer> {
  const shared = testService.service;
  const service: RunningImageService = Object.create(shared);
  const submissions: Submission[] = [];
  service.submit = async (request, options = {}) => {
    const submission: Submission = { request, options };
    submissions.push(submission);
    const result = await shared.submit(request, options);
    submission.jobId = result.job.id;
    return result;
  };
  const keys: ApiKeyInfo[] = [];
  const app = createHttpApp({ service, urlSigningSecret: shared.urlSigningSecret, ...appOptions });
  const server = await startHttpServer({ app, host: '127.0.0.1', port: 0, closeTimeoutMs: 2000 });
  t.after(async () => {
    await server.close();
    const jobIds = submissions.flatMap(({ jobId }) => (jobId ? [jobId] : []));
    for (const jobId of jobIds) {
      const job = await shared.getJob(jobId);
      if (job && !finalStates.has(job.state)) await shared.cancelJob(jobId);
    }
    await Promise.all(jobIds.map((jobId) => shared.waitForJob(jobId)));
    testModel.reset();
    for (const key of keys) await shared.keys.revoke(key.id);
  });
  const request = (path: string, init?: RequestInit) => fetch(`${server.url}${path}`, init);
  return {
    service,
    server,
    url: server.url,
    submissions,
    request,
    async postJson(path, body, headers = {}) {
      const response = await request(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
      const text = await response.text();
      return { response, body: text ? JSON.parse(text) : undefined };
    },
    async addKey({ revoked = false, rateLimitPerMinute, dailyImageQuota, maxConcurrentJobs, admin } = {}) {
      const { key, secret } = await shared.keys.create({ name: `test key ${keys.length + 1}`, rateLimitPerMinute, dailyImageQuota, maxConcurrentJobs, admin });
      keys.push(key);
      return { key: revoked ? await shared.keys.revoke(key.id) : key, secret };
    },
    async completeJob(id) {
      const job = await shared.getJob(id);
      if (!job) throw new Error(`no job ${id} to complete`);
      if (testModel.holding && !finalStates.has(job.state)) (await testModel.call(job.request.prompt)).finish();
      return await shared.waitForJob(id);
    },
  };
}

/** One parsed server-sent event. */
export interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

/** Reads a text/event-stream body until it ends (or `stopAfter` events), parsing events and skipping comments. */
export async function readSse(response: Response, { stopAfter = Infinity }: { stopAfter?: number } = {}): Promise<{ events: SseEvent[]; comments: string[] }> {
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  const comments: string[] = [];
  let buffer = '';
  while (events.length < stopAfter) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1 && events.length < stopAfter) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = { data: '' };
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) comments.push(line.slice(1).trim());
        else if (line.startsWith('data: ')) data.push(line.slice(6));
        else if (line.startsWith('id: ')) event.id = line.slice(4);
        else if (line.startsWith('event: ')) event.event = line.slice(7);
      }
      if (data.length > 0 || event.event) events.push({ ...event, data: data.join('\n') });
    }
  }
  await reader.cancel().catch(() => {});
  return { events, comments };
}

/** A solid PNG of the given size, as base64. */
export async function pngBase64(width: number, height: number): Promise<string> {
  const png = await sharp({ create: { width, height, channels: 3, background: { r: 10, g: 200, b: 90 } } }).png().toBuffer();
  return png.toString('base64');
}

/** A solid GIF of the given size: a real image in a format the service does not take. */
export async function gifBytes(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 10, g: 200, b: 90 } } }).gif().toBuffer();
}

/** A decompression bomb: a valid PNG header claiming `side` × `side` pixels, in a few hundred bytes. */
export function decompressionBombPng(side = 20_000): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, checksum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(side, 0);
  header.writeUInt32BE(side, 4);
  header[8] = 8; // bit depth; colour type 0 (grey) and the rest stay 0
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk('IHDR', header), chunk('IDAT', deflateSync(Buffer.alloc((side + 1) * 8))), chunk('IEND', Buffer.alloc(0))]);
}

/** Asserts the one error shape and gives back its `error` object. */
export function errorOf(body: unknown): HttpErrorBody['error'] {
  const error = (body as HttpErrorBody | undefined)?.error;
  if (!error || typeof error.message !== 'string' || typeof error.type !== 'string' || typeof error.code !== 'string' || !('param' in error)) {
    throw new Error(`expected { error: { message, type, param, code } }, got ${JSON.stringify(body)}`);
  }
  return error;
}
