// The real service behind a real HTTP server, with the openai client pointed at it: what the OpenAI-route suites
// run against, on PGlite or a PostgreSQL database of their own.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { createHttpApp } from '../interfaces/http/http-app.js';
import { startHttpServer, type HttpServer } from '../interfaces/http/http-server.js';
import { createImageService, type ImageServiceConfig, type RunningImageService } from '../service/image-service.js';
import { serviceDatabaseUrl } from './postgres.js';

export interface OpenAiTestServer {
  dataDir: string;
  service: RunningImageService;
  server: HttpServer;
  client: OpenAI;
  close(): Promise<void>;
}

/** Starts it in a new data directory; `config.settings` adds to the directory, database and model cache it sets. */
export async function startOpenAiTestServer(backend: 'pglite' | 'postgres', prefix: string, config: ImageServiceConfig = {}): Promise<OpenAiTestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), `pixelpipe-${prefix}-`));
  const databaseUrl = await serviceDatabaseUrl(backend);
  const service = await createImageService({
    ...config,
    settings: { dataDir, databaseUrl, cacheDir: join(dataDir, 'models'), ...config.settings },
    queue: { retryLimit: 0, queueName: `${prefix}-${Math.random().toString(36).slice(2, 10)}`, ...config.queue },
  });
  const server = await startHttpServer({ app: createHttpApp({ service, urlSigningSecret: service.urlSigningSecret }) });
  const client = new OpenAI({ apiKey: 'unused-without-keys', baseURL: `${server.url}/v1`, maxRetries: 0 });
  return {
    dataDir,
    service,
    server,
    client,
    async close() {
      await server.close();
      await service.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
