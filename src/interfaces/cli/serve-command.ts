// `pixelpipe serve` and `pixelpipe worker`: the HTTP API with supervised worker processes, or workers alone against a shared PostgreSQL.
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { parseModelId } from '../../providers/registry.js';
import { serviceAdmin } from '../../service/admin/service-admin.js';
import { createImageService, type RunningImageService } from '../../service/image-service.js';
import { openDatabaseFromSettings } from '../../service/open-service-stores.js';
import { createPixelpipe } from '../../service/pixelpipe.js';
import type { Settings } from '../../config/settings.js';
import { createAdminRoutes } from '../http/admin-routes.js';
import { createHttpApp } from '../http/http-app.js';
import { startHttpServer, type HttpServer } from '../http/http-server.js';
import { adminSocketPath, commandSettings, fitsSocketPath } from './service-data.js';

export const serveUsage = `usage: pixelpipe serve [--host H] [--port P] [--data-dir DIR] [--model DEFAULT_MODEL] [--workers N] [--public-url URL] [--allow-pull]
       --allow-pull: admin API keys (keys create --admin) may pull hub models into the cache with POST /v1/models/pull
       pixelpipe worker [--concurrency N] [--data-dir DIR] [--model DEFAULT_MODEL]   (needs PIXELPIPE_DATABASE_URL; give the server's --model)
       each worker is a supervised child process; one that dies (out of memory, a crash) is started again`;

const loopback = '127.0.0.1';

function wholeNumber(flag: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > 65_535) {
    throw new InvalidArgumentError({ argument: flag, value, message: `\`--${flag}\` must be a whole number from ${min} to 65535, got ${JSON.stringify(value)}` });
  }
  return number;
}

// Resolves on the first SIGINT or SIGTERM; a second one ends the process at once.
function shutdownSignal(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: string) => {
      process.once(signal, () => process.exit(130));
      resolve(signal);
    };
    process.once('SIGINT', () => onSignal('SIGINT'));
    process.once('SIGTERM', () => onSignal('SIGTERM'));
  });
}

async function closeGracefully(service: RunningImageService, signal: string): Promise<void> {
  process.stderr.write(`${signal}: finishing running jobs (up to 30 s; what is left goes back to the queue)\n`);
  await service.close();
}

/** A PostgreSQL server that cannot be reached is said at once, before a model is pulled for nothing. */
async function checkSharedDatabase(settings: Settings): Promise<void> {
  if (settings.databaseUrl) await (await openDatabaseFromSettings(settings)).close();
}

/**
 * A local default model must be on this machine before the first client waits for it: pulled now
 * (saying so), or a failure now that says what to do, rather than every job failing later.
 */
async function prepareDefaultModel(model: string | undefined, settings: Settings): Promise<void> {
  if (model !== undefined && (model.includes(',') || parseModelId(model).provider !== 'local')) return;
  const pixelpipe = createPixelpipe({ settings, onNotice: (message) => process.stderr.write(`${message}\n`) });
  try {
    const resolved = await pixelpipe.resolveModel(model);
    process.stderr.write(`default model: ${resolved.id}${resolved.folder && resolved.folder !== resolved.id ? ` (${resolved.folder})` : ''}\n`);
  } finally {
    await pixelpipe.close();
  }
}

/** The admin socket in the data directory, through which `keys`, `history` and `reproduce` reach this server; undefined when the path is too long for a socket. */
async function startAdminSocket(service: RunningImageService, dataDir: string, allowModelPull: boolean): Promise<HttpServer | undefined> {
  const socketPath = adminSocketPath(dataDir);
  if (!fitsSocketPath(socketPath)) {
    process.stderr.write(`warning: the admin socket path ${socketPath} is too long for a Unix socket; \`pixelpipe keys\`, \`history\` and \`reproduce\` need this server stopped (or a shorter --data-dir)\n`);
    return undefined;
  }
  const admin = createAdminRoutes(serviceAdmin(service), () => ({ pid: process.pid, dataDir, database: service.databaseKind }));
  const trusted = createHttpApp({ service, urlSigningSecret: service.urlSigningSecret, trusted: true, allowModelPull });
  const app = { fetch: (request: Request, bindings?: unknown) => (new URL(request.url).pathname.startsWith('/admin/') ? admin.fetch(request) : trusted.fetch(request, bindings as never)) };
  return await startHttpServer({ app, socketPath });
}

export async function serveCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      model: { type: 'string' },
      workers: { type: 'string' },
      'public-url': { type: 'string' },
      'allow-pull': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${serveUsage}\n`);
    return;
  }
  const port = wholeNumber('port', values.port, 8000, 0);
  const workers = wholeNumber('workers', values.workers, 1, 0);
  // The settings are read here, once, and passed down to everything this process makes.
  const { settings, source } = commandSettings(values['data-dir'], process.env);
  process.stderr.write(`data directory: ${settings.dataDir} (${source})\n`);
  await checkSharedDatabase(settings);
  if (workers > 0) await prepareDefaultModel(values.model, settings);
  const service = await createImageService({ settings, defaultModel: values.model, workers });
  let adminSocket: HttpServer | undefined;
  try {
    const keyed = await service.hasApiKeys();
    // Without keys anyone who can reach the port could generate; only this machine may, until a key exists.
    const host = keyed ? (values.host ?? '0.0.0.0') : loopback;
    if (!keyed) {
      const asked = values.host && values.host !== loopback ? ` (--host ${values.host} is ignored)` : '';
      process.stderr.write(`no API keys exist: listening on ${loopback} only${asked}; create one with \`pixelpipe keys create --name NAME\` to serve other machines\n`);
    }
    const allowModelPull = values['allow-pull'] === true;
    const app = createHttpApp({ service, urlSigningSecret: service.urlSigningSecret, publicUrl: values['public-url'], allowModelPull });
    const server = await startHttpServer({ app, host, port });
    adminSocket = await startAdminSocket(service, settings.dataDir, allowModelPull);
    const interfaces = host === '0.0.0.0' || host === '::' ? `all interfaces (${host}:${server.port}); this machine reaches it at ${server.url}` : `${host}:${server.port}`;
    process.stderr.write(
      `pixelpipe serving on ${server.url} (OpenAI base URL ${server.url}/v1), listening on ${interfaces}\n` +
        `  database: ${service.databaseKind}; worker processes: ${workers}; default model: ${values.model ?? 'the registry default'}${adminSocket ? `; admin socket: ${adminSocket.host}` : ''}\n` +
        (allowModelPull ? `  --allow-pull: admin API keys may pull models from ${settings.hubUrl} with POST /v1/models/pull\n` : ''),
    );
    const signal = await shutdownSignal();
    await server.close();
    await adminSocket?.close();
    await closeGracefully(service, signal);
  } catch (error) {
    await adminSocket?.close().catch(() => undefined);
    await service.close().catch(() => undefined);
    throw error;
  }
}

export async function workerCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { concurrency: { type: 'string' }, 'data-dir': { type: 'string' }, model: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    process.stdout.write(`${serveUsage}\n`);
    return;
  }
  if (!process.env.PIXELPIPE_DATABASE_URL) {
    throw new InvalidArgumentError({
      argument: 'PIXELPIPE_DATABASE_URL',
      value: undefined,
      message: '`pixelpipe worker` shares a PostgreSQL server with `pixelpipe serve`: set PIXELPIPE_DATABASE_URL (the embedded database runs its workers inside `pixelpipe serve`)',
    });
  }
  const concurrency = wholeNumber('concurrency', values.concurrency, 1, 1);
  const { settings } = commandSettings(values['data-dir'], process.env);
  await checkSharedDatabase(settings);
  // Jobs name their model as the server's catalog does; a worker finds it in its own: the same
  // --model as the server's, and the models in its cache.
  if (values.model !== undefined) await prepareDefaultModel(values.model, settings);
  const service = await createImageService({ settings, defaultModel: values.model, workers: concurrency });
  process.stderr.write(`pixelpipe worker ready (pid ${process.pid}, worker processes ${concurrency})\n`);
  await closeGracefully(service, await shutdownSignal());
}
