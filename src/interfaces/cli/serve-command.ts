// `pixelpipe serve` and `pixelpipe worker`: the HTTP API with in-process workers, or workers alone against a shared PostgreSQL.
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../../spec/errors/invalid-argument-error.js';
import { createImageService, type RunningImageService } from '../../service/image-service.js';
import { createHttpApp } from '../http/http-app.js';
import { startHttpServer } from '../http/http-server.js';

export const serveUsage = `usage: pixelpipe serve [--host H] [--port P] [--data-dir DIR] [--model DEFAULT_MODEL] [--workers N] [--public-url URL]
       pixelpipe worker [--concurrency N] [--data-dir DIR] [--model DEFAULT_MODEL]   (needs PIXELPIPE_DATABASE_URL)`;

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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${serveUsage}\n`);
    return;
  }
  const port = wholeNumber('port', values.port, 8000, 0);
  const workers = wholeNumber('workers', values.workers, 1, 0);
  const service = await createImageService({ settings: { dataDir: values['data-dir'] }, defaultModel: values.model, workers });
  try {
    const keyed = await service.hasApiKeys();
    // Without keys anyone who can reach the port could generate; only this machine may, until a key exists.
    const host = keyed ? (values.host ?? '0.0.0.0') : loopback;
    if (!keyed) {
      const asked = values.host && values.host !== loopback ? ` (--host ${values.host} is ignored)` : '';
      process.stderr.write(`no API keys exist: listening on ${loopback} only${asked}; create one with \`pixelpipe keys create --name NAME\` to serve other machines\n`);
    }
    const app = createHttpApp({ service, urlSigningSecret: service.urlSigningSecret, publicUrl: values['public-url'] });
    const server = await startHttpServer({ app, host, port });
    process.stderr.write(
      `pixelpipe serving on ${server.url} (OpenAI base URL ${server.url}/v1)\n` +
        `  database: ${service.databaseKind}; workers in this process: ${workers}; default model: ${values.model ?? 'the registry default'}\n`,
    );
    const signal = await shutdownSignal();
    await server.close();
    await closeGracefully(service, signal);
  } catch (error) {
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
  const service = await createImageService({ settings: { dataDir: values['data-dir'] }, defaultModel: values.model, workers: concurrency });
  process.stderr.write(`pixelpipe worker ready (pid ${process.pid}, concurrency ${concurrency})\n`);
  await closeGracefully(service, await shutdownSignal());
}
